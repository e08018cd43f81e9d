"""Every input defect is found when the split is loaded, before any model loads (groprompt.data.validation).

Each case breaks one file of a tiny dataset written in the official layout (:mod:`datasets_fixtures`) and checks
that the error names the file (or the video and expression) and, through the CLI, that the step exits 2 before
it would load a model: the model loaders are replaced by functions that fail the test if called.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from datasets_fixtures import A2DVideo, JHMDBVideo, ToyVideo, moving_squares, write_a2d, write_jhmdb, write_refytvos
from PIL import Image

import groprompt.evaluation.referring
import groprompt.pretraining.grounder
import groprompt.prompting
import groprompt.segmentation
from groprompt.cli import main
from groprompt.data import load_a2d, load_jhmdb, load_refytvos
from groprompt.errors import GroPromptError
from groprompt.masks import write_label_png

SIZE = (24, 32)


def _videos(expressions: tuple[str, str] = ("the red square", "the green square")) -> list[ToyVideo]:
    first, second = expressions
    return [ToyVideo("v", moving_squares(num_frames=3, size=SIZE, num_objects=2),
                     [{"exp": first, "obj_id": "1"}, {"exp": second, "obj_id": "2"}])]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clean")
    write_refytvos(root, "train", _videos())
    write_refytvos(root, "pretrain", _videos())
    return root


@pytest.fixture()
def root(clean: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(clean, tmp_path / "data"))


def _truncate(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def _truncated_jpeg(root: Path) -> Path:
    path = root / "train" / "JPEGImages" / "v" / "00005.jpg"
    _truncate(path, path.stat().st_size - 40)  # the header stays readable, the end of the scan is gone
    return path


def _unreadable_jpeg(root: Path) -> Path:
    path = root / "train" / "JPEGImages" / "v" / "00010.jpg"
    path.write_bytes(b"not a JPEG at all")
    return path


def _frame_of_another_size(root: Path) -> Path:
    path = root / "train" / "JPEGImages" / "v" / "00005.jpg"
    Image.new("RGB", (SIZE[1], SIZE[0] - 4)).save(path, quality=95)  # mid-video, 20 x 32
    return path


def _mask(root: Path) -> Path:
    return root / "train" / "Annotations" / "v" / "00005.png"


def _rgb_mask(root: Path) -> Path:
    Image.new("RGB", (SIZE[1], SIZE[0]), (1, 0, 0)).save(_mask(root))
    return _mask(root)


def _sixteen_bit_mask(root: Path) -> Path:
    Image.fromarray(moving_squares(num_frames=1, size=SIZE)[0].astype(np.uint16)).save(_mask(root))
    return _mask(root)


def _mask_of_another_size(root: Path) -> Path:
    write_label_png(_mask(root), moving_squares(num_frames=1, size=(SIZE[0], SIZE[1] + 8))[0])
    return _mask(root)


def _truncated_mask(root: Path) -> Path:
    _truncate(_mask(root), _mask(root).stat().st_size - 20)  # the end of the pixel data and IEND are gone
    return _mask(root)


def _undeclared_label(root: Path) -> Path:
    labels = moving_squares(num_frames=2, size=SIZE)[1]
    labels[20:22, 20:22] = 7  # meta.json declares objects 1 and 2 only
    write_label_png(_mask(root), labels)
    return _mask(root)


# defect -> (what the error says, regular expression)
FILE_DEFECTS: dict[Callable[[Path], Path], str] = {
    _truncated_jpeg: r"frame file is truncated \(a complete JPEG file ends with",
    _unreadable_jpeg: r"frame file cannot be read \(cannot identify image file",
    _frame_of_another_size: r"frame is 20x32 \(height x width\) but the video's first frame 00000\.jpg is 24x32",
    _rgb_mask: r"annotation PNG has mode RGB; expected an 8-bit palette \(P\) or grey-level \(L\)",
    _sixteen_bit_mask: r"annotation PNG has mode I;16; expected an 8-bit palette",
    _mask_of_another_size: r"annotation is 24x40 but the video's frames are 24x32",
    _truncated_mask: r"annotation PNG is truncated \(a complete PNG file ends with b'IEND'\)",
    _undeclared_label: r"label values \[7\] are not objects declared in meta\.json \(declared: \[1, 2\]\)",
}


@pytest.mark.parametrize(("text", "word"), [("", "empty"), (" \t ", "blank"), ("  . ", "without a letter or digit"),
                                           ("?!", "without a letter or digit")])
def test_expression_without_words_names_video_and_expression(tmp_path: Path, text: str, word: str):
    write_refytvos(tmp_path, "train", _videos(("the red square", text)))
    with pytest.raises(GroPromptError, match=f"expression is {word}") as error:
        load_refytvos(tmp_path, "train", dataset_name="synrvos")
    message = str(error.value)
    assert "dataset synrvos" in message and "video v" in message and "expression 1" in message
    assert "meta_expressions/train/meta_expressions.json" in message


@pytest.mark.parametrize("text", ["7", "Ä", "狗", "a ."])
def test_an_expression_with_a_letter_or_digit_passes(tmp_path: Path, text: str):
    write_refytvos(tmp_path, "train", _videos(("the red square", text)))
    assert load_refytvos(tmp_path, "train").video("v").expressions[1].text == text


def test_void_and_declared_labels_pass(root: Path):
    labels = moving_squares(num_frames=2, size=SIZE)[1]
    labels[0, :5] = 255  # DAVIS void
    write_label_png(_mask(root), labels)
    video = load_refytvos(root, "train").video("v")
    assert video.annotation(1).void.sum() == 5 and sorted(video.annotation(1).masks) == [1, 2]


class HeavyStepReached(AssertionError):
    """Raised by the stand-ins of the model loaders: the step got past the dataset."""


def _refuse(*_: object, **__: object) -> None:
    raise HeavyStepReached("a model was loaded (or scoring started) although the dataset is broken")


@pytest.fixture()
def no_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Model loaders (and the scoring of evaluate) fail the test if reached."""
    for module, name in ((groprompt.segmentation, "load_sam"), (groprompt.segmentation, "build_sam"),
                         (groprompt.prompting, "build_prompter"),
                         (groprompt.pretraining.grounder, "pretrain_grounder"),
                         (groprompt.evaluation.referring, "plan_referring")):
        monkeypatch.setattr(module, name, _refuse)


def _command(step: str, root: Path, out: Path) -> list[str]:
    dummy = out.parent / "model.pt"
    dummy.write_bytes(b"never read")
    data = ["--dataset-kind", "refytvos", "--data", str(root)]
    return {
        "infer": ["infer", "--method", "gt-box-sam", *data, "--split", "train", "--segmentor", str(dummy),
                  "--out", str(out), "--baselines-dir", str(Path(__file__).resolve().parents[1] / "baselines")],
        "train": ["train", *data, "--prompter", str(out.parent), "--set", "lambda_f=0", "--set", "lambda_v=0",
                  "--device", "cpu", "--out", str(out)],
        "pretrain-grounder": ["pretrain-grounder", *data, "--steps", "1", "--out", str(out)],
        "evaluate": ["evaluate", "--layout", "referring", *data, "--split", "train", "--pred", str(out.parent),
                     "--out", str(out)],
    }[step]


@pytest.mark.parametrize("step", ["infer", "train", "pretrain-grounder", "evaluate"])
def test_cli_step_stops_before_any_model(root: Path, tmp_path: Path, capsys, no_models, step: str):
    split = "pretrain" if step == "pretrain-grounder" else "train"
    path = _frame_of_another_size(root)
    if split != "train":
        shutil.copy(path, root / split / "JPEGImages" / "v" / path.name)
        path = root / split / "JPEGImages" / "v" / path.name
    out = tmp_path / "run" / "out"
    out.parent.mkdir()
    assert main(_command(step, root, out)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"groprompt {step}: error: frame is 20x32") and f"file {path}" in err and "fix:" in err
    assert not out.exists()


@pytest.mark.parametrize("defect", FILE_DEFECTS, ids=lambda defect: defect.__name__.lstrip("_"))
def test_infer_names_the_broken_file_before_the_model(root: Path, tmp_path: Path, capsys, no_models,
                                                      defect: Callable[[Path], Path]):
    path = defect(root)
    out = tmp_path / "run" / "out"
    out.parent.mkdir()
    assert main(_command("infer", root, out)) == 2
    err = capsys.readouterr().err
    assert re.match(f"groprompt infer: error: {FILE_DEFECTS[defect]}", err), err
    assert f"[dataset refytvos, video v, file {path}]\n  fix: " in err
    assert not out.exists()


# JHMDB-Sentences (PNG frames, .mat masks) and A2D-Sentences (h5 masks, CSV queries)


@pytest.fixture()
def jhmdb(tmp_path: Path) -> Path:
    masks = moving_squares(num_frames=4, size=SIZE, num_objects=1) == 1
    return write_jhmdb(tmp_path / "jhmdb", [JHMDBVideo("run_1", "run", masks, "a man running", samples=[1, 2, 4])])


def test_jhmdb_frame_of_another_size_and_truncated_frame(jhmdb: Path):
    frames = jhmdb / "Rename_Images" / "run" / "run_1"
    original = (frames / "00003.png").read_bytes()
    Image.new("RGB", (SIZE[1] + 2, SIZE[0])).save(frames / "00003.png")
    with pytest.raises(GroPromptError, match=r"frame is 24x34 \(height x width\) but the video's first frame "
                                             r"00001\.png is 24x32") as error:
        load_jhmdb(jhmdb)
    assert f"file {frames / '00003.png'}" in str(error.value)
    (frames / "00003.png").write_bytes(original[:-12])
    with pytest.raises(GroPromptError, match="frame file is truncated") as error:
        load_jhmdb(jhmdb)
    assert f"file {frames / '00003.png'}" in str(error.value)


def test_jhmdb_truncated_mask_file_and_blank_query(jhmdb: Path):
    mat = jhmdb / "puppet_mask" / "run" / "run_1" / "puppet_mask.mat"
    content = mat.read_bytes()
    _truncate(mat, len(content) - 100)
    with pytest.raises(GroPromptError, match="mask file is truncated") as error:
        load_jhmdb(jhmdb)
    assert f"file {mat}" in str(error.value)
    mat.write_bytes(content)
    (jhmdb / "jhmdb_annotation.txt").write_text('video_id,query\nrun_1,"  "\n')
    with pytest.raises(GroPromptError, match=r"expression is blank") as error:
        load_jhmdb(jhmdb)
    assert "video run_1" in str(error.value) and "expression 0" in str(error.value)
    assert "jhmdb_annotation.txt" in str(error.value)


@pytest.fixture()
def a2d(tmp_path: Path) -> Path:
    labels = moving_squares(num_frames=4, size=SIZE, num_objects=2)
    return write_a2d(tmp_path / "a2d", [A2DVideo("clip", labels, 0, annotated=[1, 3],
                                                 queries=[("1", "the red square"), ("2", "the green square")])])


def test_a2d_truncated_h5_and_empty_query(a2d: Path):
    h5 = a2d / "text_annotations" / "a2d_annotation_with_instances" / "clip" / "00004.h5"
    content = h5.read_bytes()
    _truncate(h5, len(content) // 2)
    with pytest.raises(GroPromptError, match="h5 file cannot be read") as error:
        load_a2d(a2d, "train")  # when loading, not when frame 3 is read
    assert f"file {h5}" in str(error.value)
    h5.write_bytes(content)
    annotation = a2d / "text_annotations" / "a2d_annotation.txt"
    annotation.write_text(annotation.read_text().replace('"the green square"', '""'))
    with pytest.raises(GroPromptError, match="expression is empty") as error:
        load_a2d(a2d, "train")
    assert "video clip" in str(error.value) and "expression 1" in str(error.value)
    assert f"file {annotation}" in str(error.value)
