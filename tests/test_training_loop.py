"""The training loop (groprompt/training/loop.py) with the real tiny prompter and SAM on a tiny split.

Covers: bit-identical reruns, resume = uninterrupted run (log included), refusals, only trainable parameters
change, the exported prompter loads for inference, the log's lr schedule, and that no mask is read in training.
"""

from __future__ import annotations

import copy
import dataclasses
import shutil
from pathlib import Path

import pytest
import safetensors.torch
import torch
from training_fixtures import write_toy_split

import groprompt.data.refytvos
from groprompt.data.registry import open_dataset
from groprompt.errors import GroPromptError
from groprompt.prompting import build_prompter
from groprompt.prompting.freezing import parameter_group
from groprompt.segmentation import Segmentor, build_sam
from groprompt.training import TrainingConfig, TrainVideo, load_checkpoint, train
from groprompt.training.trainer import build_head

CONFIG = TrainingConfig(prompter_size="tiny", epochs=2, lr_drop_epochs=[2], clip_length=2, batch_clips=2,
                        steps_per_epoch=1, lr=1e-3)


class CountingSource:
    """An annotation source that counts the masks read through it."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.reads = 0

    def annotated(self, frame_index: int) -> bool:
        return self.inner.annotated(frame_index)

    def read(self, frame_index: int):
        self.reads += 1
        return self.inner.read(frame_index)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = write_toy_split(tmp_path_factory.mktemp("data"))
    videos = [dataclasses.replace(video, annotations=CountingSource(video.annotations))
              for video in open_dataset("refytvos", root, "train")]
    train_videos = [TrainVideo(video.box_only(), video.frame_names) for video in videos]
    torch.manual_seed(0)
    prompter, sam = build_prompter("tiny"), build_sam("tiny")
    return {"videos": train_videos, "sources": [video.annotations for video in videos], "prompter": prompter,
            "sam": sam, "tmp": tmp_path_factory.mktemp("runs")}


def _models(setup, segmentor: bool = True):
    return lambda: (copy.deepcopy(setup["prompter"]), Segmentor(setup["sam"]) if segmentor else None)


def _run(setup, out: Path, config: TrainingConfig = CONFIG, **options):
    return train(config, setup["videos"], _models(setup), out, progress=False, **options)


@pytest.fixture(scope="module")
def run_a(setup):
    """A contrastive run, during which reading any annotation PNG raises."""
    reads_before = sum(source.reads for source in setup["sources"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(groprompt.data.refytvos, "read_label_png",
                      lambda path: pytest.fail(f"training read a mask: {path}"))
        summary = _run(setup, setup["tmp"] / "a")
    return {"out": setup["tmp"] / "a", "summary": summary, "reads": (reads_before,
                                                                      sum(s.reads for s in setup["sources"]))}


def _final_state(out: Path) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(str(out / "prompter" / "model.safetensors"))


def _assert_same_tensors(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


def test_no_mask_is_read_after_the_box_views_exist(run_a):
    before, after = run_a["reads"]
    assert before > 0 and after == before


def test_outputs_and_log(run_a):
    out = run_a["out"]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch_001.pt", "epoch_002.pt"]
    assert (out / "config.yaml").is_file() and (out / "train_summary.json").is_file()
    import pandas as pd

    log = pd.read_csv(out / "train_log.csv")
    assert log["epoch"].tolist() == [1, 2] and log["step"].tolist() == [1, 2] and log["clips"].tolist() == [2, 2]
    assert log["lr"].tolist() == pytest.approx([1e-3, 1e-4])  # x0.1 from epoch 2 (lr_drop_epochs [2])
    assert (log["l_f"] >= 0).all() and (log["l_v"] >= 0).all() and (log["l_box"] > 0).all()
    torch.testing.assert_close(torch.tensor(log["total"].to_numpy()),
                               torch.tensor((log["l_box"] + 0.01 * log["l_f"] + 0.1 * log["l_v"]).to_numpy()),
                               rtol=1e-5, atol=1e-5)


def test_only_trainable_parameters_change_and_the_result_loads_for_inference(setup, run_a):
    out = run_a["out"]
    trained = build_prompter("tiny", checkpoint=out / "prompter")  # the inference loader
    initial = dict(setup["prompter"].detector.named_parameters())
    changed_groups = set()
    for name, param in trained.detector.named_parameters():
        if not torch.equal(param, initial[name]):
            changed_groups.add(parameter_group(name))
    assert changed_groups == {"decoder", "bbox_embed"}
    state = load_checkpoint(out / "checkpoints" / "epoch_002.pt")
    assert {parameter_group(name) for name in state.prompter} == {"decoder", "bbox_embed"}
    for name, tensor in state.prompter.items():
        assert torch.equal(tensor, dict(trained.detector.named_parameters())[name])
    initial_head = build_head(setup["prompter"], Segmentor(setup["sam"]), CONFIG.seed).state_dict()
    assert any(not torch.equal(state.head[key], initial_head[key]) for key in initial_head)  # the head trained
    assert state.epoch == 2 and state.step == 2 and len(state.replicas) == 1


def test_same_seed_same_weights(setup, run_a):
    _run(setup, setup["tmp"] / "b")
    _assert_same_tensors(_final_state(run_a["out"]), _final_state(setup["tmp"] / "b"))
    first = load_checkpoint(run_a["out"] / "checkpoints" / "epoch_002.pt")
    second = load_checkpoint(setup["tmp"] / "b" / "checkpoints" / "epoch_002.pt")
    _assert_same_tensors(first.head, second.head)


def test_resume_after_epoch_1_equals_the_uninterrupted_run(setup, run_a):
    out = setup["tmp"] / "resumed"
    shutil.copytree(run_a["out"], out)
    # Leave the state of a run killed during epoch 2: its rows are in the log, half a row too, no checkpoint.
    (out / "checkpoints" / "epoch_002.pt").unlink()
    shutil.rmtree(out / "prompter")
    (out / "train_summary.json").unlink()
    with open(out / "train_log.csv", "a") as log:
        log.write("2,3,2,0.5")
    _run(setup, out, resume=True)
    _assert_same_tensors(_final_state(run_a["out"]), _final_state(out))
    assert (out / "train_log.csv").read_text() == (run_a["out"] / "train_log.csv").read_text()


def test_resume_refuses_a_changed_config_before_loading_models(setup, run_a):
    def no_models():
        raise AssertionError("models were loaded before the config was checked")

    changed = dataclasses.replace(CONFIG, lambda_v=0.0, clip_length=3)
    with pytest.raises(GroPromptError) as caught:
        train(changed, setup["videos"], no_models, run_a["out"], resume=True, progress=False)
    assert "lambda_v" in str(caught.value) and "clip_length" in str(caught.value)
    with pytest.raises(GroPromptError, match="run.data"):
        train(CONFIG, setup["videos"], no_models, run_a["out"], resume=True, run={"data": "/elsewhere"},
              progress=False)
    with pytest.raises(GroPromptError, match="already holds a training run"):
        train(CONFIG, setup["videos"], no_models, run_a["out"], progress=False)


def test_box_only_training_needs_no_segmentor(setup):
    config = dataclasses.replace(CONFIG, lambda_f=0.0, lambda_v=0.0, keep_checkpoints=1)
    out = setup["tmp"] / "box_only"
    summary = train(config, setup["videos"], _models(setup, segmentor=False), out, progress=False)
    assert summary.skipped_contrastive == 0 and summary.last["l_f"] == 0 and summary.last["l_v"] == 0
    assert [path.name for path in (out / "checkpoints").iterdir()] == ["epoch_002.pt"]  # keep_checkpoints 1
    assert load_checkpoint(out / "checkpoints" / "epoch_002.pt").head is None
    with pytest.raises(GroPromptError, match="need the SAM segmentor"):
        train(CONFIG, setup["videos"], _models(setup, segmentor=False), setup["tmp"] / "no_sam", progress=False)
