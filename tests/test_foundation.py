"""The shared foundation: the error type, atomic writes, mask I/O and the CLI's step discovery."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from groprompt.cli import build_parser, main
from groprompt.errors import GroPromptError
from groprompt.files import atomic_open, atomic_path, atomic_write_text
from groprompt.masks import decode_rle, encode_rle, read_label_png, write_label_png


def test_error_names_context_and_fix():
    error = GroPromptError("mask file is missing", video="bear", frame="00005", path="a/b.png", fix="re-extract it")
    text = str(error)
    assert text.startswith("mask file is missing [video bear, frame 00005, file a/b.png]")
    assert text.endswith("fix: re-extract it")


def test_atomic_write_replaces_only_on_success(tmp_path: Path):
    target = tmp_path / "out" / "table.csv"
    atomic_write_text(target, "first")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("half-written")
        raise RuntimeError("killed")
    assert target.read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.csv"]


def test_atomic_path_keeps_suffix(tmp_path: Path):
    with atomic_path(tmp_path / "x.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path
        tmp.write_bytes(b"data")
    assert (tmp_path / "x.png").read_bytes() == b"data"


def test_label_png_round_trip(tmp_path: Path):
    labels = np.zeros((5, 7), dtype=np.uint8)
    labels[1:3, 2:4] = 1
    labels[4, 6] = 3
    labels[0, 0] = 255
    write_label_png(tmp_path / "m.png", labels)
    np.testing.assert_array_equal(read_label_png(tmp_path / "m.png"), labels)


def test_label_png_errors_name_the_file(tmp_path: Path):
    with pytest.raises(GroPromptError, match="missing.*nope.png"):
        read_label_png(tmp_path / "nope.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(GroPromptError, match="cannot be read.*broken.png"):
        read_label_png(broken)
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp_path / "rgb.png")
    with pytest.raises(GroPromptError, match="mode RGB.*rgb.png"):
        read_label_png(tmp_path / "rgb.png")


def test_rle_round_trip_and_hand_counts():
    mask = np.zeros((3, 4), dtype=bool)
    mask[1, 1] = mask[2, 1] = True
    rle = encode_rle(mask)
    assert rle["size"] == [3, 4] and isinstance(rle["counts"], str)
    np.testing.assert_array_equal(decode_rle(rle), mask)
    # Column-major runs: 4 zeros (column 0 and row 0 of column 1), 2 ones, then 6 zeros -> counts [4, 2, 6].
    from pycocotools import mask as coco_mask

    uncompressed = coco_mask.frPyObjects({"size": [3, 4], "counts": [4, 2, 6]}, 3, 4)
    assert uncompressed["counts"].decode() == rle["counts"]


def test_every_step_has_help(capsys):
    parser = build_parser()
    steps = parser._subparsers._group_actions[0].choices
    for name in steps:
        with pytest.raises(SystemExit) as done:
            main([name, "--help"])
        assert done.value.code == 0
        assert "usage: groprompt " + name in capsys.readouterr().out


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "groprompt.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "<step>" in result.stdout


def test_atomic_torch_save_bytes_depend_on_the_object_only(tmp_path: Path):
    import torch

    from groprompt.files import atomic_torch_save

    state = {"weight": torch.arange(6.0).reshape(2, 3)}
    atomic_torch_save(state, tmp_path / "a.pt")
    atomic_torch_save(state, tmp_path / "b.pt")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    assert torch.equal(torch.load(tmp_path / "a.pt", weights_only=True)["weight"], state["weight"])


def test_atomic_files_get_ordinary_permissions(tmp_path: Path):
    import os

    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "t.txt", "x")
    finally:
        os.umask(umask)
    assert (tmp_path / "t.txt").stat().st_mode & 0o777 == 0o644
