"""The inference output folder is never left by a name or a link (groprompt.safe_names, defence in depth).

The readers refuse bad names where a split opens (tests/test_data_names.py); here a video that bypassed them (a
reader of the user's, called directly) and a symbolic link planted inside ``--out`` are refused by the writer
before it deletes or writes anything, and names in a boxes or masks file that groprompt infer did not write are
refused when the file is read.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from datasets_fixtures import ToyVideo, moving_squares, write_refytvos

from groprompt.data import Expression, load_refytvos
from groprompt.errors import GroPromptError
from groprompt.inference.outputs import OutputLayout, VideoWriter, read_boxes, read_masks


@pytest.fixture()
def video(tmp_path: Path):
    root = write_refytvos(tmp_path / "data", "train", [ToyVideo("v", moving_squares(num_frames=2),
                                                                [{"exp": "the red square", "obj_id": "1"}])])
    return load_refytvos(root, "train").video("v")


def _files(folder: Path) -> set[str]:
    return {os.path.relpath(os.path.join(top, name), folder) for top, dirs, files in os.walk(folder)
            for name in dirs + files}


@pytest.mark.parametrize(("change", "says"), [
    ({"name": "../../victim"}, r"video name '\.\./\.\./victim'"),
    ({"frame_names": ("00000", "/tmp/x")}, r"frame name '/tmp/x' .*, video v, "),
    ({"expressions": (Expression("..", "the red square", 1),)}, r"expression id '\.\.' .*, video v, "),
])
def test_writer_refuses_a_bad_name_before_deleting_or_writing(tmp_path: Path, video, change: dict, says: str):
    victim = tmp_path / "victim"  # where Annotations/../../victim leads: the writer used to delete it first
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    out = tmp_path / "out"
    before = _files(tmp_path)
    with pytest.raises(GroPromptError, match=f"{says}.*file {out}\\]\n  fix: each name a dataset's reader gives"):
        VideoWriter(OutputLayout(out), replace(video, **change))
    assert _files(tmp_path) == before


def test_layout_paths_refuse_bad_names(tmp_path: Path):
    layout = OutputLayout(tmp_path / "out")
    assert layout.png("v", "0", "00005") == tmp_path / "out" / "Annotations" / "v" / "0" / "00005.png"
    for call in (lambda: layout.boxes("../v"), lambda: layout.masks("/v"), lambda: layout.marker(".."),
                 lambda: layout.staging("a\x00"), lambda: layout.png("v", "0/1", "00005"),
                 lambda: layout.png("v", "0", "../00005")):
        with pytest.raises(GroPromptError, match="is not a plain name"):
            call()


@pytest.mark.parametrize("folder", ["boxes", "done", "Annotations", ".partial"])
def test_writer_refuses_a_link_leading_out_of_the_output_folder(tmp_path: Path, video, folder: str):
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (outside / "v").mkdir()  # what the writer would delete through Annotations/ or .partial/
    (outside / "v" / "keep.txt").write_text("mine")
    (out / folder).symlink_to(outside, target_is_directory=True)
    before = _files(outside)
    with pytest.raises(GroPromptError, match=f"resolves to {outside}.*, outside the output folder \\(--out\\)"):
        VideoWriter(OutputLayout(out), video)
    assert _files(outside) == before


def test_a_clean_video_is_written_inside(tmp_path: Path, video):
    writer = VideoWriter(OutputLayout(tmp_path / "out"), video)
    for t in range(video.num_frames):
        writer.add_frame(t, np.array([[1.0, 2.0, 3.0, 4.0]]), np.array([0.5]), np.ones((1, *video.size), bool))
    writer.finish({"method": "m"})
    assert _files(tmp_path / "out") >= {"boxes/v.csv", "masks/v.json", "done/v.json", "Annotations/v/0/00005.png"}


def test_reading_boxes_and_masks_refuses_names_infer_never_writes(tmp_path: Path):
    boxes = tmp_path / "v.csv"
    boxes.write_text("exp_id,frame,x0,y0,x1,y1,score\n0,00000,1,2,3,4,0.5\n../0,00000,1,2,3,4,0.5\n")
    with pytest.raises(GroPromptError, match=rf"expression id '\.\./0' is not a plain name.*file {boxes}\]") \
            as error:
        read_boxes(boxes)
    assert "delete it and its done/ marker" in str(error.value)
    boxes.write_text("exp_id,frame,x0,y0,x1,y1,score\n0,/00000,1,2,3,4,0.5\n")
    with pytest.raises(GroPromptError, match=r"frame name '/00000' is not a plain name.*expression 0, file"):
        read_boxes(boxes)
    masks = tmp_path / "v.json"
    masks.write_text(json.dumps({"format": "groprompt-masks/1", "expressions": {"a\nb": []}}))
    with pytest.raises(GroPromptError, match=rf"expression id 'a\\nb' is not a plain name.*file {masks}\]"):
        read_masks(masks)
