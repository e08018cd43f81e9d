"""The SAM 3 baseline (baselines/sam3.py, groprompt/tracking/sam3.py) against transformers' documented video API.

A random tiny ``Sam3VideoModel`` (about 4M parameters, 112-pixel input) is saved with its processor and a tiny
character-level CLIP tokenizer as a Hugging Face folder, as ``facebook/sam3`` is laid out. Its detection thresholds
are lowered in the saved config (0.2) so that random weights detect something. A second folder holds the same
weights with the tracker's hotstart off, so that the several masklets detected on the first frame all survive.
Their masks mean nothing; the tests check that the baseline returns the library's masklets, its referent rule,
the empty case, the folder checks and the run's files. Nothing downloads (HF_HUB_OFFLINE, local folders only).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets_fixtures import ToyVideo, moving_squares, write_refytvos

from groprompt.cli import main
from groprompt.data.model import Video
from groprompt.data.registry import open_dataset
from groprompt.errors import GroPromptError
from groprompt.inference import read_boxes, read_masks, run_inference
from groprompt.methods import FrameOutput, Method, discover_methods
from groprompt.tracking.sam3 import Masklet, Sam3Video

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from video_models import write_sam3  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

BASELINES = Path(__file__).resolve().parents[1] / "baselines"
LONG = "the small square that keeps moving right"
"""Longer than the tiny tokenizer's 32 tokens (one per character): SAM 3 gets a word prefix of it."""


def tiny_sam3(folder: Path) -> Path:
    """A random tiny SAM 3 video model (seed 0), its processor and tokenizer saved into ``folder``: the benchmark's
    ``tiny`` size (benchmarks/video_models.py), detection thresholds 0.2 so that random weights detect something."""
    torch.manual_seed(0)
    return write_sam3(folder, "tiny")


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """``{"hotstart": the folder as saved, "several": the same weights with hotstart off}``."""
    root = tmp_path_factory.mktemp("sam3")
    saved = tiny_sam3(root / "sam3")
    several = Path(shutil.copytree(saved, root / "sam3_no_hotstart"))
    config = json.loads((several / "config.json").read_text())
    (several / "config.json").write_text(json.dumps({**config, "hotstart_delay": 0}))
    return {"hotstart": saved, "several": several}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """v1: five frames, four expressions (one sentence twice, one too long); v2: two frames, one expression."""
    videos = [ToyVideo("v1", moving_squares(num_frames=5, size=(24, 32), num_objects=2),
                       [{"exp": "the upper square", "obj_id": "1"}, {"exp": "a lower one", "obj_id": "2"},
                        {"exp": "the upper square", "obj_id": "1"}, {"exp": LONG, "obj_id": "2"}]),
              ToyVideo("v2", moving_squares(num_frames=2, size=(24, 32), num_objects=1),
                       [{"exp": "the square", "obj_id": "1"}])]
    return write_refytvos(tmp_path_factory.mktemp("data"), "train", videos)


@pytest.fixture(scope="module")
def video(root) -> Video:
    return open_dataset("refytvos", root, "train").video("v1")


@pytest.fixture(scope="module")
def frames(video) -> list[np.ndarray]:
    return [video.read_frame(index) for index in range(video.num_frames)]


@functools.cache
def library(folder: Path, **thresholds: float) -> tuple:
    """``(Sam3VideoModel, Sam3VideoProcessor)`` loaded from ``folder`` as the library's documentation does."""
    from transformers import Sam3VideoModel, Sam3VideoProcessor

    return (Sam3VideoModel.from_pretrained(folder, local_files_only=True, **thresholds).eval(),
            Sam3VideoProcessor.from_pretrained(folder, local_files_only=True))


def documented_api(folder: Path, frames: list[np.ndarray], text: str, **thresholds: float) -> dict[int, dict]:
    """Per frame, ``processor.postprocess_outputs`` of the library's documented pre-loaded video example
    (transformers docs, model_doc/sam3_video.md), run as written there."""
    from transformers.models.sam3_video import modeling_sam3_video

    modeling_sam3_video.cv_utils_kernel = False  # as the wrapper does: neither side fetches the Hub kernel
    model, processor = library(folder, **thresholds)
    inference_session = processor.init_video_session(video=frames, inference_device="cpu",
                                                     processing_device="cpu", video_storage_device="cpu")
    inference_session = processor.add_text_prompt(inference_session=inference_session, text=text)
    outputs_per_frame = {}
    for model_outputs in model.propagate_in_video_iterator(inference_session=inference_session):
        outputs_per_frame[model_outputs.frame_idx] = processor.postprocess_outputs(inference_session, model_outputs)
    return outputs_per_frame


def reference_referent(outputs_per_frame: dict[int, dict]) -> int | None:
    """The object id of highest mean score over its frames (ties: lowest id), computed from the documented output."""
    scores: dict[int, list[float]] = {}
    for result in outputs_per_frame.values():
        for obj_id, score in zip(result["object_ids"].tolist(), result["scores"].tolist(), strict=True):
            scores.setdefault(obj_id, []).append(score)
    return min(scores, key=lambda obj_id: (-np.mean(scores[obj_id]), obj_id), default=None)


@pytest.mark.parametrize("kind", ["hotstart", "several"])
def test_masklets_and_masks_equal_the_documented_video_api(folders, video, frames, kind):
    method = discover_methods(BASELINES).create("sam3", {"sam3": folders[kind]})
    found: dict[str, list[Masklet]] = {}
    masklets_of = method.segmenter.masklets
    method.segmenter.masklets = lambda frames, text: found.setdefault(text, masklets_of(frames, text))
    method.start(video)
    prompts = {"the upper square": "the upper square", "a lower one": "a lower one",
               LONG: method.segmenter.fit_prompt(LONG)}
    assert list(found) == list(prompts)  # one SAM 3 run per distinct sentence
    assert prompts[LONG] == "the small square that keeps moving" and LONG.startswith(prompts[LONG])
    chosen = []
    for text, prompt in prompts.items():
        expected = documented_api(folders[kind], frames, prompt)
        assert sorted(expected) == list(range(len(frames)))
        masklets = found[text]
        for masklet in masklets:  # every masklet, frame by frame: the library's ids, scores and masks
            for t, result in expected.items():
                ids = result["object_ids"].tolist()
                if masklet.obj_id in ids:
                    k = ids.index(masklet.obj_id)
                    assert masklet.scores[t] == pytest.approx(float(result["scores"][k]), abs=0)
                    np.testing.assert_array_equal(masklet.mask(t), result["masks"][k].numpy())
                else:
                    assert np.isnan(masklet.scores[t]) and not masklet.mask(t).any()
        assert {m.obj_id for m in masklets} == {i for r in expected.values() for i in r["object_ids"].tolist()}

        referent = reference_referent(expected)
        chosen.append(referent)
        columns = [k for k, e in enumerate(video.expressions) if e.text == text]
        for k in columns:  # the method's answer: the referent's mask, tight box and score on each frame
            record = method.expression_records()[video.expressions[k].exp_id]
            assert record["rule"] == "highest-mean-score" and record["obj_id"] == referent
            assert record["prompt"] == prompt and record["masklets"] == len(masklets)
            for t, result in expected.items():
                output = method.predict(frames[t], t, video.expressions)[k]
                ids = result["object_ids"].tolist()
                if referent in ids:
                    mask = result["masks"][ids.index(referent)].numpy()
                    assert output.score == pytest.approx(float(result["scores"][ids.index(referent)]), abs=0)
                else:
                    mask = np.zeros(frames[t].shape[:2], dtype=bool)
                    assert np.isnan(output.score)
                np.testing.assert_array_equal(output.mask, mask)
                if mask.any():
                    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
                    np.testing.assert_array_equal(output.box, [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])
                else:
                    assert output.box is None
    assert None not in chosen  # the lowered thresholds do detect: the comparison is not of empty outputs
    if kind == "several":
        assert min(len(masklets) for masklets in found.values()) > 1  # the rule chose among several


def test_no_masklet_gives_empty_masks_on_every_frame(folders, video, frames):
    assert all(len(r["object_ids"]) == 0 for r in documented_api(folders["several"], frames, "a lower one",
                                                                  score_threshold_detection=0.9).values())
    method = discover_methods(BASELINES).create("sam3", {"sam3": folders["several"],
                                                         "score_threshold_detection": 0.9})
    method.start(video)
    for t in range(video.num_frames):
        for output in method.predict(frames[t], t, video.expressions):
            assert output.box is None and np.isnan(output.score) and output.mask.shape == (24, 32)
            assert not output.mask.any()
    assert all(record == {"rule": "highest-mean-score", "masklets": 0, "prompt": record["prompt"], "obj_id": None,
                          "mean_score": None} for record in method.expression_records().values())


def masklet(obj_id: int, scores: list[float]) -> Masklet:
    """A hand-made masklet over ``len(scores)`` frames (nan: absent); its masks are not looked at by the rule."""
    scores = np.array(scores, dtype=float)
    return Masklet(obj_id, scores, {t: np.ones((2, 2), bool) for t in np.flatnonzero(~np.isnan(scores))}, (2, 2))


def test_referent_rule_is_the_highest_mean_over_present_frames_then_the_lowest_id(folders):
    choose = discover_methods(BASELINES).get("sam3").__module__
    choose_referent = __import__("sys").modules[choose].choose_referent
    late = masklet(7, [np.nan, np.nan, 0.75])       # mean 0.75 where present (0.25 over all frames)
    steady = masklet(2, [0.625, 0.625, 0.625])      # mean 0.625
    tied = masklet(5, [0.5, 1.0, np.nan])           # mean 0.75, as `late`, with a lower id
    never = masklet(1, [np.nan, np.nan, np.nan])    # never present: never chosen
    assert choose_referent([steady, late]).obj_id == 7
    assert choose_referent([late, steady, tied]).obj_id == 5
    assert choose_referent([never, steady]).obj_id == 2
    assert choose_referent([never]) is None and choose_referent([]) is None
    assert late.mean_score == 0.75 and np.isnan(never.mean_score)
    np.testing.assert_array_equal(late.mask(0), np.zeros((2, 2), bool))


def test_long_prompt_is_cut_to_a_word_prefix_the_text_encoder_takes(folders, frames):
    segmenter = Sam3Video(folders["hotstart"])
    with pytest.raises(ValueError, match="max_position_embeddings"):  # the documented API, given the whole sentence
        documented_api(folders["hotstart"], frames[:1], LONG)
    assert segmenter.fit_prompt("the upper square") == "the upper square"
    prompt = segmenter.fit_prompt(LONG)
    longer = " ".join(LONG.split()[:len(prompt.split()) + 1])
    assert len(segmenter.processor.tokenizer(prompt).input_ids) <= 32 < len(
        segmenter.processor.tokenizer(longer).input_ids)


def broken(folder: Path, tmp_path: Path, case: str) -> Path:
    """A copy of ``folder`` with one thing wrong."""
    if case == "a file":
        (tmp_path / "sam3.safetensors").write_bytes(b"")
        return tmp_path / "sam3.safetensors"
    copy = Path(shutil.copytree(folder, tmp_path / "sam3"))
    if case == "another model":
        config = json.loads((copy / "config.json").read_text())
        (copy / "config.json").write_text(json.dumps({**config, "model_type": "sam2_video"}))
    else:
        (copy / case).unlink()
    return copy


@pytest.mark.parametrize(("case", "message"), [
    ("config.json", "SAM 3 checkpoint \\(option sam3\\) folder lacks config.json"),
    ("model.safetensors", "folder lacks model.safetensors or model.safetensors.index.json"),
    ("processor_config.json", "folder lacks processor_config.json or preprocessor_config.json"),
    ("tokenizer_config.json", "folder lacks tokenizer_config.json"),
    ("tokenizer.json", "lacks the tokenizer's vocabulary"),
    ("another model", "holds a 'sam2_video' model, expected 'sam3_video'"),
    ("a file", "the SAM 3 checkpoint \\(option sam3\\) is a file, not a folder"),
])
def test_a_wrong_folder_is_named_before_any_frame_is_read(folders, root, tmp_path, monkeypatch, capsys, case,
                                                          message):
    path = broken(folders["hotstart"], tmp_path, case)

    def no_frames(self, index):
        raise AssertionError("a frame was read")

    monkeypatch.setattr(Video, "read_frame", no_frames)
    with pytest.raises(GroPromptError, match=message):
        discover_methods(BASELINES).create("sam3", {"sam3": path})
    assert main(["infer", "--method", "sam3", "--option", f"sam3={path}", "--dataset-kind", "refytvos", "--data",
                 str(root), "--split", "train", "--out", str(tmp_path / "out"),
                 "--baselines-dir", str(BASELINES)]) == 2
    assert str(path) in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_a_threshold_that_is_not_a_probability_is_refused_before_loading(tmp_path, value):
    with pytest.raises(GroPromptError, match=f"new_det_thresh={value} is not a probability"):
        discover_methods(BASELINES).create("sam3", {"sam3": tmp_path / "absent", "new_det_thresh": value})


def test_end_to_end_through_infer_writes_masks_scores_and_records(folders, root, tmp_path, capsys):
    """The workflow's command line: the grounder offered as `checkpoint` is not SAM 3's option and is ignored."""
    out = tmp_path / "out"
    command = ["infer", "--method", "sam3", "--option", f"sam3={folders['hotstart']}", "--offer",
               "checkpoint=/no/grounder", "--offer", "size=tiny", "--dataset-kind", "refytvos", "--data", str(root),
               "--split", "train", "--out", str(out), "--baselines-dir", str(BASELINES)]
    assert main(command) == 0
    stats = json.loads((out / "run_stats.json").read_text())
    assert stats["method"] == "sam3" and stats["options"] == {"sam3": str(folders["hotstart"])}
    assert stats["videos_run"] == 2 and stats["segmentor"] is None
    dataset = open_dataset("refytvos", root, "train")
    for video in dataset:
        content = json.loads((out / "masks" / f"{video.name}.json").read_text())
        masks, boxes = read_masks(out / "masks" / f"{video.name}.json"), read_boxes(out / "boxes" / f"{video.name}.csv")
        assert sorted(content["records"]) == sorted(e.exp_id for e in video.expressions)
        for expression in video.expressions:
            record = content["records"][expression.exp_id]
            _, _, scores = boxes[expression.exp_id]
            assert record["rule"] == "highest-mean-score" and record["obj_id"] is not None
            assert record["mean_score"] == pytest.approx(np.nanmean(scores), abs=1e-6)  # CSV keeps 6 digits
            assert masks[expression.exp_id].shape == (video.num_frames, 24, 32)
            assert len(list((out / "Annotations" / video.name / expression.exp_id).glob("*.png"))) == video.num_frames
    assert main(command) == 0  # resumed: both videos are kept
    assert json.loads((out / "run_stats.json").read_text())["videos_skipped"] == 2
    capsys.readouterr()


class _Records(Method):
    """A method whose records are wrong in a given way (the runner's check of expression_records)."""

    name = "records"
    description = "test"
    outputs_masks = True

    def __init__(self, records: object) -> None:
        self.records = records

    def predict(self, frame, index, expressions, ground_truth=None):
        return [FrameOutput(box=None, mask=np.zeros(frame.shape[:2], bool)) for _ in expressions]

    def expression_records(self):
        return self.records


@pytest.mark.parametrize(("records", "message"), [
    ({"nope": {}}, "records of expressions the video does not have: 'nope'"),
    ({"0": {"score": float("nan")}}, "expression records that are not JSON"),
    ([1], "expression records of type list, not a mapping"),
])
def test_expression_records_are_checked_before_they_are_written(root, tmp_path, records, message):
    dataset = open_dataset("refytvos", root, "train")
    with pytest.raises(GroPromptError, match=message):
        run_inference(_Records(records), dataset, tmp_path / "out", segmentor=None, progress=False)
    assert not (tmp_path / "out" / "done").exists()
