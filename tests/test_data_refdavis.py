"""Ref-DAVIS17: `groprompt convert-davis` on a tiny raw DAVIS-2017 folder, and the reader's expression sets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from datasets_fixtures import moving_squares, write_davis

from groprompt.cli import main
from groprompt.data.davis_convert import convert_davis
from groprompt.data.refdavis import load_refdavis
from groprompt.errors import GroPromptError


def _expression_files() -> dict[str, bytes]:
    return {
        "Davis17_annot1.txt": b'bike 1 "a red bike"\nbike 2 "a green bike"\nclasic-car 1 "an old car"\n'
                              b'clasic-car 2 "a second car"\n',
        "Davis17_annot1_full_video.txt": b'bike 1 "a red bike moving right"\nbike 2 "green bike moving right"\n'
                                         b'clasic-car 1 "an old car driving"\nclasic-car 2 "second car"\n',
        # annotator 2 is latin-1: 0xE9 is "é" there and not valid UTF-8
        "Davis17_annot2.txt": b'bike 1 "caf\xe9 bike"\n\nbike 2 "the other bike"\nclasic-car 1 "the car"\n'
                              b'clasic-car 2 "the car behind"\n',
        "Davis17_annot2_full_video.txt": b'bike 1 "bike one"\nbike 2 "bike two"\nclasic-car 1 "car one"\n',
    }


@pytest.fixture()
def davis_root(tmp_path: Path) -> Path:
    # the community layout: <data>/DAVIS/... with <data>/davis_text_annotations beside it
    return write_davis(tmp_path / "DAVIS", {"bike": moving_squares(num_frames=3), "classic-car": moving_squares(2)},
                       {"train": ["bike"], "val": ["classic-car"]}, _expression_files(), text_dir=tmp_path)


def _convert(davis_root: Path, out: Path, *extra: str) -> int:
    with pytest.warns(UserWarning, match="classic-car object 2 has no expression in Davis17_annot2_full_video"):
        return main(["convert-davis", "--davis-root", str(davis_root), "--out", str(out), *extra])


def test_convert_then_read_train(davis_root: Path, tmp_path: Path):
    out = tmp_path / "refdavis"
    assert _convert(davis_root, out) == 0
    assert (out / "train" / "JPEGImages" / "bike").is_symlink()
    assert (out / "train" / "Annotations" / "bike").is_symlink()
    meta = json.loads((out / "train" / "meta.json").read_text())
    assert meta["videos"]["bike"]["objects"]["2"]["frames"] == ["00000", "00001", "00002"]

    video = load_refdavis(out, "train").video("bike")
    assert video.dataset == "refdavis" and video.object_ids == (1, 2) and video.num_frames == 3
    got = [(e.exp_id, e.obj_id, e.expression_set, e.text) for e in video.expressions]
    assert got == [
        ("0", 1, 0, "a red bike"), ("1", 1, 1, "a red bike moving right"), ("2", 1, 2, "café bike"),
        ("3", 1, 3, "bike one"),
        ("4", 2, 0, "a green bike"), ("5", 2, 1, "green bike moving right"), ("6", 2, 2, "the other bike"),
        ("7", 2, 3, "bike two"),
    ]
    np.testing.assert_array_equal(video.annotation(1).masks[2], moving_squares(num_frames=3)[1] == 2)
    np.testing.assert_array_equal(video.boxes()[1][2], [6, 4, 12, 10])


def test_valid_split_fixes_names_and_drops_incomplete_objects(davis_root: Path, tmp_path: Path):
    out = tmp_path / "refdavis"
    _convert(davis_root, out)
    video = load_refdavis(out, "valid").video("classic-car")  # "clasic-car" in the expression files
    assert video.object_ids == (1, 2)  # object 2 is in the ground truth ...
    assert [e.obj_id for e in video.expressions] == [1, 1, 1, 1]  # ... but lacks one of its four expressions
    assert [e.expression_set for e in video.expressions] == [0, 1, 2, 3]


def test_non_empty_output_is_refused_unless_forced(davis_root: Path, tmp_path: Path, capsys):
    out = tmp_path / "refdavis"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["convert-davis", "--davis-root", str(davis_root), "--out", str(out)]) == 2
    assert "output folder is not empty" in capsys.readouterr().err
    assert _convert(davis_root, out, "--force") == 0
    assert (out / "train" / "JPEGImages" / "bike").is_symlink()
    assert _convert(davis_root, out, "--force", "--copy") == 0  # replaces its own folders, keeps the user's file
    assert (out / "notes.txt").read_text() == "mine"
    assert not (out / "train" / "JPEGImages" / "bike").is_symlink()
    assert (out / "train" / "JPEGImages" / "bike" / "00002.jpg").is_file()
    assert (davis_root / "JPEGImages" / "480p" / "bike" / "00002.jpg").is_file()  # the source is untouched


def test_raw_layout_given_to_the_reader_points_at_the_converter(davis_root: Path):
    with pytest.raises(GroPromptError, match="raw DAVIS-2017 layout") as error:
        load_refdavis(davis_root, "valid")
    assert "groprompt convert-davis --davis-root" in str(error.value)


def test_malformed_expression_line_names_file_and_line(davis_root: Path, tmp_path: Path):
    path = tmp_path / "davis_text_annotations" / "Davis17_annot1.txt"
    path.write_bytes(path.read_bytes() + b"bike two-words-no-id\n")
    with pytest.raises(GroPromptError, match="line 5 is not") as error:
        convert_davis(davis_root, tmp_path / "out")
    assert "Davis17_annot1.txt" in str(error.value)
    assert not (tmp_path / "out").exists()  # validated before anything is written


def test_missing_expression_folder(tmp_path: Path):
    root = write_davis(tmp_path / "DAVIS", {"bike": moving_squares(2)}, {"train": ["bike"], "val": []}, {},
                       text_dir=tmp_path / "elsewhere")
    with pytest.raises(GroPromptError, match="no davis_text_annotations folder"):
        convert_davis(root, tmp_path / "out")


def test_object_without_four_expressions_is_an_error(davis_root: Path, tmp_path: Path):
    out = tmp_path / "refdavis"
    _convert(davis_root, out)
    path = out / "meta_expressions" / "train" / "meta_expressions.json"
    data = json.loads(path.read_text())
    del data["videos"]["bike"]["expressions"]["7"]
    path.write_text(json.dumps(data))
    with pytest.raises(GroPromptError, match=r"exactly 4 expressions \(object 2: 3\)") as error:
        load_refdavis(out, "train")
    assert "video bike" in str(error.value) and str(path) in str(error.value)
