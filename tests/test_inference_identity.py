"""The run identity of ``groprompt infer`` and ``groprompt train`` holds content digests of what they read
(groprompt/fingerprints.py): a rerun with the same inputs continues (touched files included), a rerun with other
checkpoint or data contents is refused naming what differs, or started over with --restart-if-changed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from datasets_fixtures import ToyVideo, moving_squares, write_refytvos
from training_fixtures import save_standins, write_toy_split

from groprompt.cli import main
from groprompt.data.registry import open_dataset
from groprompt.fingerprints import dataset_digest, path_digest
from groprompt.segmentation import SAM_VARIANTS, build_sam, load_sam, save_sam

BASELINES = Path(__file__).resolve().parents[1] / "baselines"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _write_data(root: Path) -> Path:
    videos = [ToyVideo(f"v{i}", moving_squares(num_frames=2, size=(24, 32), num_objects=1),
                       [{"exp": "the square", "obj_id": "1"}]) for i in range(2)]
    return write_refytvos(root, "train", videos)


def _touch_later(*paths: Path) -> None:
    for path in paths:
        for file in [path, *path.rglob("*")] if path.is_dir() else [path]:
            stat = file.stat()
            os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**10))


def _rewrite_keeping_time(path: Path, write) -> None:
    """Call ``write()`` to give ``path`` new contents, then restore its modification time."""
    stat = path.stat()
    write()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def _stamps(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def infer_inputs(tmp_path: Path) -> dict[str, Path]:
    torch.manual_seed(0)
    sam = tmp_path / "sam_tiny.pt"
    save_sam(build_sam("tiny"), SAM_VARIANTS["tiny"], sam)
    return {"data": _write_data(tmp_path / "data"), "sam": sam, "out": tmp_path / "out"}


def _infer(inputs: dict[str, Path], *extra: str) -> int:
    return main(["infer", "--method", "gt-box-sam", "--dataset-kind", "refytvos", "--data", str(inputs["data"]),
                 "--split", "train", "--segmentor", str(inputs["sam"]), "--out", str(inputs["out"]),
                 "--baselines-dir", str(BASELINES), *extra])


def _stats(out: Path) -> tuple[int, int]:
    stats = json.loads((out / "run_stats.json").read_text())
    return stats["videos_run"], stats["videos_skipped"]


def test_digests_follow_contents_not_times(infer_inputs: dict[str, Path]) -> None:
    sam, data = infer_inputs["sam"], infer_inputs["data"]
    before = path_digest(sam), path_digest(data), dataset_digest(open_dataset("refytvos", data, "train"))
    _touch_later(sam, data)
    assert (path_digest(sam), path_digest(data), dataset_digest(open_dataset("refytvos", data, "train"))) == before
    meta = data / "meta_expressions" / "train" / "meta_expressions.json"
    _rewrite_keeping_time(meta, lambda: meta.write_text(meta.read_text().replace("the square", "the squarE")))
    assert dataset_digest(open_dataset("refytvos", data, "train")) != before[2]
    assert path_digest(data / "missing") == "missing"


def test_infer_keeps_finished_videos_of_touched_inputs(infer_inputs: dict[str, Path]) -> None:
    out = infer_inputs["out"]
    assert _infer(infer_inputs) == 0
    (out / "done" / "v1.json").unlink()  # as a kill during v1 leaves it
    kept = {name: stamp for name, stamp in _stamps(out).items() if "v0" in name}
    _touch_later(infer_inputs["sam"], infer_inputs["data"])
    assert _infer(infer_inputs, "--restart-if-changed") == 0
    assert _stats(out) == (1, 1)
    assert {name: stamp for name, stamp in _stamps(out).items() if "v0" in name} == kept


def test_infer_refuses_or_restarts_on_a_changed_sam_of_the_same_time(infer_inputs: dict[str, Path],
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Only SAM's mask decoder changes, in place: the file's digest changes, and with it the cache fingerprint
    that names it."""
    out, sam = infer_inputs["out"], infer_inputs["sam"]
    assert _infer(infer_inputs) == 0
    model, _ = load_sam(sam)
    with torch.no_grad():
        next(model.mask_decoder.parameters()).add_(0.5)
    _rewrite_keeping_time(sam, lambda: save_sam(model, SAM_VARIANTS["tiny"], sam))
    capsys.readouterr()
    assert _infer(infer_inputs) == 2
    err = capsys.readouterr().err
    assert "differ in segmentor, file_digests.segmentor" in err and "--restart-if-changed" in err
    assert str(out) in err
    assert _stats(out) == (2, 0)  # refused before anything was written

    assert _infer(infer_inputs, "--restart-if-changed") == 0
    assert "starting over" in capsys.readouterr().err
    assert _stats(out) == (2, 0)
    assert _infer(infer_inputs, "--restart-if-changed") == 0
    assert _stats(out) == (0, 2)
    assert "starting over" not in capsys.readouterr().err


def test_infer_restarts_on_an_edited_expression(infer_inputs: dict[str, Path],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out, data = infer_inputs["out"], infer_inputs["data"]
    assert _infer(infer_inputs) == 0
    (out / "unrelated.txt").write_text("kept")
    meta = data / "meta_expressions" / "train" / "meta_expressions.json"
    _rewrite_keeping_time(meta, lambda: meta.write_text(meta.read_text().replace("the square", "one square")))
    assert _infer(infer_inputs) == 2
    assert "differ in data_digest" in capsys.readouterr().err
    assert _infer(infer_inputs, "--restart-if-changed") == 0
    assert _stats(out) == (2, 0)
    assert (out / "unrelated.txt").read_text() == "kept"  # only infer's own outputs are deleted


# ---------------------------------------------------------------------------------------------- train
@pytest.fixture
def train_inputs(tmp_path: Path) -> dict[str, Path]:
    prompter, sam = save_standins(tmp_path)
    config = tmp_path / "train.yaml"
    config.write_text("prompter_size: tiny\nepochs: 2\nlr_drop_epochs: []\nclip_length: 2\nsteps_per_epoch: 1\n"
                      "lambda_f: 0\nlambda_v: 0\n")
    return {"data": write_toy_split(tmp_path / "data"), "prompter": prompter, "config": config,
            "out": tmp_path / "run"}


def _train(inputs: dict[str, Path], *extra: str) -> int:
    return main(["train", "--dataset-kind", "refytvos", "--data", str(inputs["data"]), "--prompter",
                 str(inputs["prompter"]), "--config", str(inputs["config"]), "--out", str(inputs["out"]),
                 "--device", "cpu", *extra])


def test_train_keeps_epochs_of_touched_inputs_and_restarts_on_a_changed_prompter(
        train_inputs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out, prompter = train_inputs["out"], train_inputs["prompter"]
    assert _train(train_inputs) == 0
    checkpoints = out / "checkpoints"
    (checkpoints / "epoch_002.pt").unlink()  # as a kill during epoch 2 leaves it
    (out / "train_summary.json").unlink()
    first = _stamps(checkpoints)
    _touch_later(prompter, train_inputs["data"])
    capsys.readouterr()
    assert _train(train_inputs, "--resume", "--restart-if-changed") == 0
    assert "starting over" not in capsys.readouterr().err
    assert _stamps(checkpoints)["epoch_001.pt"] == first["epoch_001.pt"]
    assert (checkpoints / "epoch_002.pt").is_file()

    weights = prompter / "model.safetensors"
    original = weights.read_bytes()
    _rewrite_keeping_time(weights, lambda: weights.write_bytes(original[:-1] + bytes([original[-1] ^ 1])))
    assert _train(train_inputs, "--resume") == 2
    assert "differs from its checkpoint in run.prompter_digest" in capsys.readouterr().err
    assert _train(train_inputs, "--resume", "--restart-if-changed") == 0
    assert "starting over" in capsys.readouterr().err
    state = torch.load(checkpoints / "epoch_001.pt", weights_only=True)
    assert state["run"]["prompter_digest"] == path_digest(prompter)
    assert state["run"]["data_digest"] == dataset_digest(open_dataset("refytvos", train_inputs["data"], "train"))


def test_restart_if_changed_needs_resume(train_inputs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert _train(train_inputs, "--restart-if-changed") == 2
    assert "add --resume" in capsys.readouterr().err
    assert not train_inputs["out"].exists()
