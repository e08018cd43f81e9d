"""A2D-Sentences reader on a tiny release written in the official layout (real mp4 and h5 files)."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from datasets_fixtures import COLOURS, A2DVideo, moving_squares, write_a2d

from groprompt.data import a2d
from groprompt.data.a2d import load_a2d
from groprompt.errors import GroPromptError


def _videos() -> list[A2DVideo]:
    return [
        A2DVideo("trainVid", moving_squares(num_frames=4), subset=0, annotated=[1, 3],
                 queries=[("1", "a man in red"), ("2", "the dog, running")]),
        A2DVideo("testVid", moving_squares(num_frames=3, num_objects=1), subset=1, annotated=[0],
                 queries=[("1", "the square"), ("1 (copy)", "a duplicate")]),
        A2DVideo("missedVid", moving_squares(num_frames=2), subset=1, annotated=[], queries=[("1", "gone")]),
        A2DVideo("silentVid", moving_squares(num_frames=2), subset=1, annotated=[0], queries=[]),
    ]


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_a2d(tmp_path_factory.mktemp("a2d"), _videos(), missed=["missedVid"])


@pytest.fixture()
def copy(release: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(release, tmp_path / "a2d"))


def test_train_split(release: Path):
    dataset = load_a2d(release, "train")
    assert [v.name for v in dataset] == ["trainVid"]
    video = dataset.video("trainVid")
    assert video.num_frames == 4 and video.frame_names == ("00001", "00002", "00003", "00004")
    assert video.size == (24, 32) and video.object_ids == (1, 2)
    assert video.frame_paths[0].name == "trainVid.mp4" and video.frame_paths[0].parent.name == "clips320H"
    assert [(e.exp_id, e.obj_id, e.text) for e in video.expressions] == [
        ("0", 1, "a man in red"), ("1", 2, "the dog, running")]
    assert video.annotated_frames().tolist() == [False, True, False, True]  # h5 files 00002.h5 and 00004.h5
    truth = moving_squares(num_frames=4)
    annotation = video.annotation(3)
    assert sorted(annotation.masks) == [1, 2]
    np.testing.assert_array_equal(annotation.masks[2], truth[3] == 2)  # stored transposed, read back upright
    boxes = video.boxes()
    assert np.isnan(boxes[1][0]).all()
    np.testing.assert_array_equal(boxes[1][1], [4, 4, 10, 10])  # moving_squares: x0 = 2 + 2t
    np.testing.assert_array_equal(boxes[2][3], [8, 12, 14, 18])
    view = video.box_only()
    np.testing.assert_array_equal(view.present(2), [False, True, False, True])


def test_frames_decode_from_the_clip(release: Path):
    train = load_a2d(release, "train").video("trainVid")
    with pytest.warns(UserWarning, match="is not an integer"):
        test = load_a2d(release, "test").video("testVid")
    frame = train.read_frame(2)
    assert frame.shape == (24, 32, 3) and frame.dtype == np.uint8
    # object 1 covers rows 4..9, columns 6..11 in frame 2; background elsewhere
    assert np.abs(frame[6, 8].astype(int) - COLOURS[1]).max() < 12
    assert np.abs(frame[20, 30].astype(int) - COLOURS[0]).max() < 12
    other = test.read_frame(0)  # replaces the cached clip
    assert np.abs(other[6, 3].astype(int) - COLOURS[1]).max() < 12
    assert a2d._decode_clip.cache_info().currsize == 1
    frame[:] = 0  # a copy: the cached clip is not changed through it
    assert train.read_frame(2)[6, 8].max() > 100
    with pytest.raises(IndexError):
        train.read_frame(4)


def test_test_split_drops_missed_silent_and_malformed_rows(release: Path):
    with pytest.warns(UserWarning, match=r"instance id '1 \(copy\)' of video testVid is not an integer") as record:
        dataset = load_a2d(release, "test")
    assert "a2d_annotation.txt" in str(record[0].message)
    assert [v.name for v in dataset] == ["testVid"]
    video = dataset.video("testVid")
    assert [(e.exp_id, e.obj_id) for e in video.expressions] == [("2", 1)]  # data rows 0, 1 are trainVid's
    annotation = video.annotation(0)  # one instance: a 2-D reMask in the file
    np.testing.assert_array_equal(annotation.masks[1], moving_squares(num_frames=3, num_objects=1)[0] == 1)


def test_videoset_header_and_alternative_clip_folder(copy: Path):
    path = copy / "Release" / "videoset.csv"
    path.write_text("vid,label,start,end,height,width,frames,annotated,subset\n" + path.read_text())
    (copy / "Release" / "clips320H").rename(copy / "Release" / "CLIPS320")
    assert [v.name for v in load_a2d(copy, "train")] == ["trainVid"]


def test_missing_h5_key_names_the_file(copy: Path):
    path = copy / "text_annotations" / "a2d_annotation_with_instances" / "trainVid" / "00004.h5"
    with h5py.File(path, "a") as handle:
        del handle["reMask"]
    with pytest.raises(GroPromptError, match=r"lacks the key\(s\) \['reMask'\]") as error:
        load_a2d(copy, "train")  # every h5 file's keys are checked when loading
    assert "trainVid/00004.h5" in str(error.value)


def test_untransposed_mask_is_an_error(copy: Path):
    path = copy / "text_annotations" / "a2d_annotation_with_instances" / "trainVid" / "00002.h5"
    with h5py.File(path, "a") as handle:
        upright = np.transpose(handle["reMask"][()], (0, 2, 1))
        del handle["reMask"]
        handle["reMask"] = upright
    with pytest.raises(GroPromptError, match=r"reMask has shape \(2, 24, 32\); expected \(2, 32, 24\)") as error:
        load_a2d(copy, "train").video("trainVid").annotation(1)
    assert "00002.h5" in str(error.value)


def test_missing_clip_and_bad_rows_name_the_file(copy: Path):
    (copy / "Release" / "clips320H" / "trainVid.mp4").unlink()
    with pytest.raises(GroPromptError, match="video clip is missing") as error:
        load_a2d(copy, "train")
    assert "trainVid.mp4" in str(error.value)
    (copy / "Release" / "videoset.csv").write_text("trainVid,11,0,10\n")
    with pytest.raises(GroPromptError, match="row 1 does not have 9 columns") as error:
        load_a2d(copy, "train")
    assert "videoset.csv" in str(error.value)


def test_unknown_split(release: Path):
    with pytest.raises(GroPromptError, match="splits: train, test"):
        load_a2d(release, "valid")


def test_box_only_view_reads_frames_from_the_clip(release: Path):
    view = load_a2d(release, "train").video("trainVid").box_only()
    assert view.read_frame(1).shape == (24, 32, 3)
