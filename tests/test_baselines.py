"""The methods of Table 6 and the README's worked example, through the registry and ``groprompt infer``.

A random tiny Grounding DINO (the ``tiny`` size, MiniLM text backbone) saved as a Hugging Face folder stands in for
both the pre-trained and the fine-tuned prompter; a random tiny SAM is the segmentor. Their outputs mean nothing;
the tests check batching, state, caching, files and errors. Dataset: as in test_inference_runner (two videos,
five 24 x 32 frames, three expressions).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from datasets_fixtures import ToyVideo, moving_squares, write_refytvos

from groprompt.cli import main
from groprompt.data.model import Expression
from groprompt.data.registry import open_dataset
from groprompt.errors import GroPromptError
from groprompt.inference import read_boxes
from groprompt.methods import discover_methods
from groprompt.methods.prompter import GroPrompt, PrompterMethod
from groprompt.prompting import build_prompter
from groprompt.prompting.config import minilm_dir
from groprompt.segmentation import SAM_VARIANTS, build_sam, save_sam

BASELINES = Path(__file__).resolve().parents[1] / "baselines"
TABLE6 = {"groprompt", "grounded-sam", "gt-box-sam"}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    v1 = moving_squares(num_frames=3, size=(24, 32), num_objects=2)
    videos = [ToyVideo("v1", v1, [{"exp": "the upper square", "obj_id": "1"},
                                  {"exp": "the lower square", "obj_id": "2"}]),
              ToyVideo("v2", moving_squares(num_frames=2, size=(24, 32), num_objects=1),
                       [{"exp": "the square", "obj_id": "1"}])]
    return write_refytvos(root, "train", videos)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, Path]:
    """(prompter folder, SAM file): random tiny models in the formats the loaders read."""
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    build_prompter("tiny").detector.save_pretrained(folder / "prompter")
    save_sam(build_sam("tiny"), SAM_VARIANTS["tiny"], folder / "sam.pt")
    return folder / "prompter", folder / "sam.pt"


@pytest.fixture(scope="module")
def grounded_sam(models) -> PrompterMethod:
    return discover_methods(BASELINES).create("grounded-sam", {"checkpoint": models[0], "size": "tiny",
                                                               "batch_size": 2})


def test_registry_finds_table6_methods_and_the_example():
    registry = discover_methods(BASELINES)
    assert registry.failures == []
    assert TABLE6 | {"first-frame-box"} <= set(registry.entries)
    for name in ("groprompt", "grounded-sam", "first-frame-box"):
        assert issubclass(registry.get(name), PrompterMethod)  # one prompter code path, no twins
    assert registry.get("groprompt") is GroPrompt
    assert registry.get("gt-box-sam").uses_ground_truth
    assert all(registry.get(name).online for name in TABLE6)


def test_expressions_of_a_frame_share_batched_forward_passes(grounded_sam):
    frame = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    expressions = [Expression(str(k), text, 1) for k, text in enumerate(["the red one", "a green square", "it"])]
    batches: list[int] = []
    hook = grounded_sam.prompter.detector.register_forward_hook(
        lambda module, args, kwargs, output: batches.append(kwargs["pixel_values"].shape[0]), with_kwargs=True)
    try:
        outputs = grounded_sam.predict(frame, 0, expressions)
    finally:
        hook.remove()
    assert batches == [2, 1]  # batch_size 2: three sentences in two forward passes
    for expression, output in zip(expressions, outputs, strict=True):
        boxes, scores = grounded_sam.prompter.predict_boxes(frame[None], expression.text)
        np.testing.assert_allclose(output.box, boxes[0], atol=1e-4)
        assert output.score == pytest.approx(float(scores[0]), abs=1e-5) and 0 <= output.score <= 1


def test_checkpoint_of_another_size_is_refused(models):
    with pytest.raises(GroPromptError, match="not of size 'swin-t'.*d_model: file 64, size 'swin-t' 256"):
        GroPrompt(checkpoint=models[0], size="swin-t", tokenizer=minilm_dir())


def test_missing_checkpoint_and_missing_option_are_named(models, root, tmp_path, capsys):
    with pytest.raises(GroPromptError, match="prompter checkpoint not found"):
        GroPrompt(checkpoint=tmp_path / "nope", size="tiny")
    command = ["infer", "--method", "groprompt", "--dataset-kind", "refytvos", "--data", str(root), "--split",
               "train", "--segmentor", str(models[1]), "--out", str(tmp_path / "out")]
    assert main(command) == 2
    assert "needs option(s) checkpoint" in capsys.readouterr().err
    assert main([*command, "--option", f"checkpoint={models[0]}", "--option", "batch_size=two"]) == 2
    assert "batch_size='two' is not an integer" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_worked_example_end_to_end_sharing_the_embedding_cache(models, root, grounded_sam, tmp_path, capsys):
    """README: drop first_frame_box.py in baselines/, run it with `groprompt infer`, score it with evaluate."""
    prompter, sam = models
    common = ["--dataset-kind", "refytvos", "--data", str(root), "--split", "train", "--segmentor", str(sam),
              "--cache", str(tmp_path / "cache"), "--baselines-dir", str(BASELINES)]
    assert main(["infer", "--method", "gt-box-sam", "--out", str(tmp_path / "gt"), *common]) == 0
    assert main(["infer", "--method", "first-frame-box", "--option", f"checkpoint={prompter}", "--option",
                 "size=tiny", "--out", str(tmp_path / "ffb"), *common]) == 0

    gt_stats = json.loads((tmp_path / "gt" / "run_stats.json").read_text())["segmentor_cache"]
    stats = json.loads((tmp_path / "ffb" / "run_stats.json").read_text())
    assert stats["options"] == {"checkpoint": str(prompter), "size": "tiny"}  # device came from --device
    # Five frames in the split: the first method embeds each once, the second finds all five on disk.
    assert gt_stats["encoder_passes"] == gt_stats["distinct_frames"] == 5
    assert stats["segmentor_cache"]["encoder_passes"] == 0
    assert stats["segmentor_cache"]["disk_hits"] == stats["segmentor_cache"]["distinct_frames"] == 5

    # Every frame repeats the grounder's box of frame 0.
    video = open_dataset("refytvos", root, "train").video("v1")
    first, _ = grounded_sam.top1_boxes(video.read_frame(0), [e.text for e in video.expressions])
    boxes = read_boxes(tmp_path / "ffb" / "boxes" / "v1.csv")
    for k, exp_id in enumerate(("0", "1")):
        np.testing.assert_allclose(boxes[exp_id][1], np.repeat(first[k][None], 3, axis=0), atol=1e-3)

    capsys.readouterr()
    assert main(["evaluate", "--pred", str(tmp_path / "ffb" / "Annotations"), "--gt",
                 str(root / "train" / "Annotations"), "--expressions",
                 str(root / "meta_expressions" / "train" / "meta_expressions.json"), "--out",
                 str(tmp_path / "scores"), "--workers", "1"]) == 0
    summary = pd.read_csv(tmp_path / "scores" / "summary.csv")
    assert summary["objects"].iloc[0] == 3 and summary["missing_frames"].iloc[0] == 0
    assert 0 <= summary["J&F-Mean"].iloc[0] <= 100
