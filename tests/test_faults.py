"""Faults mid-run and at the edges of the inputs: no half-written video, one named error (or warning) per fault.

The dataset is two Ref-YouTube-VOS-layout videos of 24 x 32 frames (``v1``: 3 frames, 2 expressions; ``v2``: 2 frames,
1 expression) and the segmentor a random tiny SAM, as in ``test_inference_runner``; faults are injected by patching
the function that writes a PNG, and read-only folders by patching ``os.access`` (the tests run as root, for whom
permission bits do not stop a write).
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import safetensors.torch
import torch
from datasets_fixtures import ToyVideo, moving_squares, write_refytvos

import groprompt.inference.outputs as outputs
from groprompt.cli import main
from groprompt.data.registry import open_dataset
from groprompt.errors import GroPromptError
from groprompt.evaluation import plan_evaluation
from groprompt.evaluation.referring import plan_referring
from groprompt.files import check_writable
from groprompt.prompting.build import build_prompter, load_hf_detector, load_text_backbone
from groprompt.segmentation import load_sam

BASELINES = Path(__file__).resolve().parents[1] / "baselines"


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    videos = [ToyVideo("v1", moving_squares(3, (24, 32), 2), [{"exp": "the upper square", "obj_id": "1"},
                                                              {"exp": "the lower square", "obj_id": "2"}]),
              ToyVideo("v2", moving_squares(2, (24, 32), 1), [{"exp": "the square", "obj_id": "1"}])]
    return write_refytvos(root, "train", videos)


def infer(root: Path, segmentor: Path, out: Path, *extra: str) -> int:
    return main(["infer", "--method", "gt-box-sam", "--dataset-kind", "refytvos", "--data", str(root), "--split",
                 "train", "--segmentor", str(segmentor), "--out", str(out), "--baselines-dir", str(BASELINES),
                 *extra])


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _fail_on_call(monkeypatch, number: int, error: BaseException) -> list[Path]:
    """Make the ``number``-th PNG write of the inference outputs raise ``error``; returns the paths written."""
    written: list[Path] = []
    original = outputs.write_label_png

    def write(path, labels):
        if len(written) + 1 == number:
            raise error
        written.append(Path(path))
        original(path, labels)

    monkeypatch.setattr(outputs, "write_label_png", write)
    return written


def _stderr_lines(text: str) -> list[str]:
    """stderr without the progress bars (tqdm redraws with carriage returns)."""
    return [line for line in text.replace("\r", "\n").splitlines() if line.startswith("groprompt")]


# ---------------------------------------------------------------------------------------------- half-written videos


@pytest.mark.parametrize("fault", ["exception", "full disk", "ctrl-c"])
def test_fault_mid_video_leaves_no_video_folder_and_a_rerun_completes(root, sam_file, tmp_path, monkeypatch, capsys,
                                                                       fault):
    reference = tmp_path / "reference"
    assert infer(root, sam_file, reference) == 0
    out = tmp_path / "out"
    error = {"exception": RuntimeError("boom"),
             "full disk": OSError(errno.ENOSPC, "No space left on device", str(out / "somewhere.png")),
             "ctrl-c": KeyboardInterrupt()}[fault]
    # v1 has 2 expressions: calls 1-2 are its frame 0, call 3 the first PNG of frame 1.
    written = _fail_on_call(monkeypatch, 3, error)
    capsys.readouterr()
    if fault == "exception":
        with pytest.raises(RuntimeError, match="boom"):
            infer(root, sam_file, out)
    else:
        assert infer(root, sam_file, out) == (2 if fault == "full disk" else 130)
    assert len(written) == 2  # the first frame of v1 was written ...
    assert not (out / "Annotations" / "v1").exists()  # ... but not where evaluate would read it
    assert not (out / "done" / "v1.json").exists() and not (out / "boxes" / "v1.csv").exists()
    lines = _stderr_lines(capsys.readouterr().err)
    if fault == "full disk":
        assert len(lines) == 1 and "cannot write the inference output (No space left on device)" in lines[0]
        assert "video v1" in lines[0] and "somewhere.png" in lines[0]
    elif fault == "ctrl-c":
        assert lines == ["groprompt infer: interrupted (Ctrl-C)"]

    monkeypatch.undo()  # the disk works again
    assert infer(root, sam_file, out) == 0
    finished = {k: v for k, v in _files(out).items() if k.split("/")[0] in ("Annotations", "boxes", "masks")}
    expected = {k: v for k, v in _files(reference).items() if k.split("/")[0] in ("Annotations", "boxes", "masks")}
    assert finished == expected
    assert not (out / ".partial" / "v1").exists()


# ---------------------------------------------------------------------------------------------- write access


def _read_only(monkeypatch, folder: Path) -> None:
    """``os.access`` reports ``folder`` as not writable (as a read-only mount or a non-root user would see it)."""
    real = os.access

    def access(path, mode, *args, **kwargs):
        if Path(path).absolute() == folder.absolute() and mode & os.W_OK:
            return False
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)


def _no_model(monkeypatch) -> None:
    import groprompt.segmentation as segmentation

    def load(*args, **kwargs):
        raise AssertionError("a model was loaded before the output folders were checked")

    monkeypatch.setattr(segmentation, "load_sam", load)
    monkeypatch.setattr(segmentation, "build_sam", load)


@pytest.mark.parametrize("flag", ["--out", "--cache"])
def test_infer_refuses_a_read_only_folder_before_loading_the_model(root, sam_file, tmp_path, monkeypatch, capsys,
                                                                  flag):
    folder = tmp_path / "locked"
    folder.mkdir()
    _read_only(monkeypatch, folder)
    _no_model(monkeypatch)
    out = folder / "out" if flag == "--out" else tmp_path / "out"
    extra = ("--cache", str(folder / "cache")) if flag == "--cache" else ()
    assert infer(root, sam_file, out, *extra) == 2
    lines = _stderr_lines(capsys.readouterr().err)
    assert len(lines) == 1 and f"({flag})" in lines[0] and "not writable" in lines[0]
    assert str(folder) in lines[0]
    assert not out.exists()


def test_evaluate_refuses_a_read_only_score_folder_before_scoring(tmp_path, monkeypatch, capsys):
    import groprompt.evaluation.layouts as layouts

    monkeypatch.setattr(layouts, "plan_evaluation", lambda *a, **k: pytest.fail("scored before the check"))
    out = tmp_path / "scores"
    out.mkdir()
    _read_only(monkeypatch, out)
    code = main(["evaluate", "--pred", str(tmp_path), "--gt", str(tmp_path), "--out", str(out)])
    assert code == 2
    assert "score folder (--out) is not writable" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--out", "--embedding-cache"])
def test_train_refuses_a_read_only_folder_before_loading(sam_file, tmp_path, monkeypatch, capsys, flag):
    import groprompt.training as training

    monkeypatch.setattr(training, "setup_distributed", lambda *a: pytest.fail("started before the check"))
    (tmp_path / "data").mkdir()
    (tmp_path / "grounder").mkdir()
    locked = tmp_path / "locked"
    locked.mkdir()
    _read_only(monkeypatch, locked)
    out = locked / "run" if flag == "--out" else tmp_path / "run"
    cache = locked / "cache" if flag == "--embedding-cache" else tmp_path / "cache"
    code = main(["train", "--dataset-kind", "refytvos", "--data", str(tmp_path / "data"), "--prompter",
                 str(tmp_path / "grounder"), "--segmentor", str(sam_file), "--out", str(out),
                 "--embedding-cache", str(cache)])
    assert code == 2
    assert f"({flag}) is not writable" in capsys.readouterr().err


def test_check_writable_names_the_folder_in_the_way(tmp_path):
    (tmp_path / "a file").write_text("x")
    with pytest.raises(GroPromptError, match="is a file, not a folder") as error:
        check_writable(tmp_path / "a file" / "out", "output folder (--out)")
    assert error.value.path == tmp_path / "a file" / "out"
    check_writable(tmp_path / "new" / "deeper", "output folder (--out)")  # creatable: accepted ...
    assert not (tmp_path / "new").exists()  # ... and nothing created


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; covered by the os.access tests")
def test_a_chmod_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(GroPromptError, match="not writable"):
            check_writable(folder / "out", "output folder (--out)")
    finally:
        folder.chmod(0o755)


# ---------------------------------------------------------------------------------------------- corrupt checkpoints


def _truncated_safetensors(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file({"weight": torch.zeros(64, 64)}, str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_truncated_grounder_weights_are_one_error_naming_the_file(tmp_path):
    folder = tmp_path / "grounder"
    _truncated_safetensors(folder / "model.safetensors")
    (folder / "config.json").write_text("{}")
    for load in (lambda: load_hf_detector(folder), lambda: build_prompter("tiny", folder)):
        with pytest.raises(GroPromptError, match="cannot read the weights file") as error:
            load()
        assert error.value.path == folder / "model.safetensors" and "truncated" in str(error.value)


def test_truncated_text_backbone_is_one_error_naming_the_file(tmp_path):
    _truncated_safetensors(tmp_path / "text" / "model.safetensors")
    with pytest.raises(GroPromptError, match="cannot read the weights file") as error:
        load_text_backbone(None, tmp_path / "text")
    assert error.value.path == tmp_path / "text" / "model.safetensors"


def test_truncated_sam_checkpoint_is_one_error_naming_the_file(root, sam_file, tmp_path, capsys):
    broken = tmp_path / "sam.pt"
    broken.write_bytes(sam_file.read_bytes()[:1000])
    with pytest.raises(GroPromptError, match="cannot read the SAM checkpoint") as error:
        load_sam(broken)
    assert error.value.path == broken
    capsys.readouterr()
    assert infer(root, broken, tmp_path / "out") == 2
    lines = _stderr_lines(capsys.readouterr().err)
    assert len(lines) == 1 and str(broken) in lines[0]


def test_a_folder_as_segmentor_is_named_as_a_folder(root, sam_file, tmp_path, capsys):
    assert infer(root, sam_file.parent, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "is a folder, not a file; it holds sam_tiny.pt" in err and "not found" not in err
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GroPromptError, match="holds no .pth or .pt file"):
        load_sam(empty)


# ---------------------------------------------------------------------------------------------- misleading diagnoses


@pytest.fixture(scope="module")
def infer_out(root, sam_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("infer") / "out"
    assert infer(root, sam_file, out) == 0
    return out


def test_evaluate_an_infer_output_folder_says_to_pass_its_annotations(root, infer_out, tmp_path, capsys):
    expressions = root / "meta_expressions" / "train" / "meta_expressions.json"
    code = main(["evaluate", "--pred", str(infer_out), "--gt", str(root / "train" / "Annotations"),
                 "--expressions", str(expressions), "--out", str(tmp_path / "scores"), "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "output folder of groprompt infer" in err
    assert f"--pred {infer_out / 'Annotations'}" in err and "--allow-missing" not in err
    with pytest.raises(GroPromptError, match="output folder of groprompt infer"):
        plan_referring(open_dataset("refytvos", root, "train"), infer_out, allow_missing=True)
    plan = plan_evaluation(infer_out / "Annotations", root / "train" / "Annotations", "auto", expressions)
    assert plan.layout == "per-expression" and len(plan.jobs) == 2  # the folder it names is the right one


# ---------------------------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_in_any_step_is_one_line_and_exit_130(tmp_path, monkeypatch, capsys):
    import groprompt.commands.methods as methods

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(methods, "run", interrupted)
    stats = tmp_path / "stats.json"
    assert main(["--stats", str(stats), "methods"]) == 130
    captured = capsys.readouterr()
    assert captured.err == "groprompt methods: interrupted (Ctrl-C)\n" and captured.out == ""
    assert json.loads(stats.read_text())["exit_code"] == 130
