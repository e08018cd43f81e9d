"""Ref-YouTube-VOS reader on tiny datasets written in the official layout (and broken variants of them)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from datasets_fixtures import COLOURS, ToyVideo, moving_squares, write_refytvos

from groprompt.data.refytvos import load_refytvos
from groprompt.errors import GroPromptError


def _two_videos() -> list[ToyVideo]:
    return [
        ToyVideo("vid_b", moving_squares(num_frames=3, num_objects=2),
                 [{"exp": "the red square", "obj_id": "1"},
                  {"exp": "the green square", "obj_id": "2", "kind": "appearance"}]),
        ToyVideo("vid_a", moving_squares(num_frames=2, num_objects=1), [{"exp": "a square", "obj_id": "1"}]),
    ]


@pytest.fixture()
def train_root(tmp_path: Path) -> Path:
    return write_refytvos(tmp_path, "train", _two_videos())


def test_train_split_videos_expressions_and_masks(train_root: Path):
    dataset = load_refytvos(train_root, "train")
    assert dataset.name == "refytvos" and dataset.split == "train" and len(dataset) == 2
    assert [v.name for v in dataset] == ["vid_a", "vid_b"]  # sorted by name
    video = dataset.video("vid_b")
    assert video.frame_names == ("00000", "00005", "00010")
    assert video.size == (24, 32) and video.object_ids == (1, 2)
    assert [(e.exp_id, e.text, e.obj_id, e.kind) for e in video.expressions] == [
        ("0", "the red square", 1, None), ("1", "the green square", 2, "appearance")]
    assert video.annotated_frames().tolist() == [True, True, True]
    truth = moving_squares(num_frames=3, num_objects=2)
    annotation = video.annotation(2)
    assert sorted(annotation.masks) == [1, 2] and annotation.void is None
    np.testing.assert_array_equal(annotation.masks[1], truth[2] == 1)
    # object 2 occupies rows 12..17 and, in frame 2, columns 6..11
    assert annotation.masks[2].sum() == 36 and annotation.masks[2][12, 6] and not annotation.masks[2][11, 6]
    frame = video.read_frame(0)
    assert frame.shape == (24, 32, 3) and frame.dtype == np.uint8
    assert np.abs(frame[6, 4].astype(int) - COLOURS[1]).max() < 25  # inside object 1 (JPEG is lossy)
    assert len(dataset.expressions()) == 3


def test_boxes_and_box_only_view(train_root: Path):
    video = load_refytvos(train_root, "train").video("vid_b")
    boxes = video.boxes()
    # moving_squares: object k's box in frame t is (2 + 2t, 4 + 8(k-1), 8 + 2t, 10 + 8(k-1)), x1/y1 exclusive
    np.testing.assert_array_equal(boxes[1], [[2, 4, 8, 10], [4, 4, 10, 10], [6, 4, 12, 10]])
    np.testing.assert_array_equal(boxes[2], [[2, 12, 8, 18], [4, 12, 10, 18], [6, 12, 12, 18]])
    view = video.box_only()
    np.testing.assert_array_equal(view.boxes[2], boxes[2])
    assert view.present(1).all() and view.annotated.all()


def test_sparse_annotations_void_and_absent_object(tmp_path: Path):
    labels = moving_squares(num_frames=3, num_objects=2)
    labels[2][labels[2] == 2] = 0  # object 2 leaves in frame 2
    labels[0, 0, :4] = 255  # void pixels
    write_refytvos(tmp_path, "train", [ToyVideo("v", labels, [{"exp": "x", "obj_id": "2"}], annotated=[0, 2])])
    video = load_refytvos(tmp_path, "train").video("v")
    assert video.annotated_frames().tolist() == [True, False, True]
    first = video.annotation(0)
    assert first.void is not None and first.void.sum() == 4 and 255 not in first.masks
    assert sorted(video.annotation(2).masks) == [1]
    boxes = video.boxes()
    assert np.isnan(boxes[1][1]).all() and not np.isnan(boxes[1][2]).any()
    np.testing.assert_array_equal(video.box_only().present(2), [True, False, False])


def test_valid_split_has_no_ground_truth_and_drops_test_videos(tmp_path: Path):
    videos = [ToyVideo(name, moving_squares(num_frames=2), [{"exp": "the square"}]) for name in ("v1", "v2", "v3")]
    write_refytvos(tmp_path, "valid", videos, with_annotations=False)
    test_entries = {"videos": {"v3": {"expressions": {"0": {"exp": "the square"}}, "frames": ["00000", "00005"]}}}
    (tmp_path / "meta_expressions" / "test").mkdir(parents=True)
    (tmp_path / "meta_expressions" / "test" / "meta_expressions.json").write_text(json.dumps(test_entries))
    valid = load_refytvos(tmp_path, "valid")
    assert [v.name for v in valid] == ["v1", "v2"]  # the server's valid split excludes the test videos
    video = valid.video("v1")
    assert not video.has_annotations and video.expressions[0].obj_id is None and video.object_ids == ()
    assert not video.annotated_frames().any()
    with pytest.raises(GroPromptError, match="no ground truth"):
        video.annotation(0)
    test = load_refytvos(tmp_path, "test")  # frames shipped inside valid/JPEGImages
    assert [v.name for v in test] == ["v3"] and test.video("v3").frame_paths[0].parent.parent.parent.name == "valid"


def test_unknown_split_lists_the_splits_found(train_root: Path):
    with pytest.raises(GroPromptError, match=r"splits found: train") as error:
        load_refytvos(train_root, "valid")
    assert "meta_expressions.json" in str(error.value)


def test_missing_frame_names_the_jpeg(train_root: Path):
    (train_root / "train" / "JPEGImages" / "vid_b" / "00005.jpg").unlink()
    with pytest.raises(GroPromptError, match="listed frame is missing") as error:
        load_refytvos(train_root, "train")
    assert "vid_b/00005.jpg" in str(error.value)


def test_expression_pointing_at_unknown_object(tmp_path: Path):
    write_refytvos(tmp_path, "train", [ToyVideo("v", moving_squares(num_objects=1), [{"exp": "x", "obj_id": "3"}])])
    with pytest.raises(GroPromptError, match=r"object 3, which meta\.json does not declare") as error:
        load_refytvos(tmp_path, "train")
    message = str(error.value)
    assert "video v" in message and "expression 0" in message and "meta_expressions.json" in message


def test_malformed_json_names_file_and_position(train_root: Path):
    path = train_root / "meta_expressions" / "train" / "meta_expressions.json"
    path.write_text('{"videos": {\n  "v": {"frames": [}\n}')
    with pytest.raises(GroPromptError, match=r"malformed JSON at line 2, column 20") as error:  # the "}" after "["
        load_refytvos(train_root, "train")
    assert str(path) in str(error.value)


def test_label_value_not_in_meta_names_the_png(tmp_path: Path):
    labels = moving_squares(num_objects=1)
    labels[1, 20:22, 20:22] = 7  # an object meta.json will not declare
    root = write_refytvos(tmp_path, "train", [ToyVideo("v", labels, [{"exp": "x", "obj_id": "1"}])])
    meta = json.loads((root / "train" / "meta.json").read_text())
    del meta["videos"]["v"]["objects"]["7"]
    (root / "train" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(GroPromptError, match=r"label values \[7\] are not objects declared") as error:
        load_refytvos(root, "train")  # checked up front, when the split is loaded
    assert "Annotations/v/00005.png" in str(error.value) and "train/meta.json" in str(error.value)


def test_empty_video_is_an_error(train_root: Path):
    path = train_root / "meta_expressions" / "train" / "meta_expressions.json"
    data = json.loads(path.read_text())
    data["videos"]["vid_a"]["frames"] = []
    path.write_text(json.dumps(data))
    with pytest.raises(GroPromptError, match="video lists no frames") as error:
        load_refytvos(train_root, "train")
    assert "video vid_a" in str(error.value) and str(path) in str(error.value)


def test_video_without_expressions_is_kept_with_a_warning(tmp_path: Path):
    write_refytvos(tmp_path, "train", [ToyVideo("quiet", moving_squares()), *_two_videos()])
    with pytest.warns(UserWarning, match="video quiet has no expressions"):
        dataset = load_refytvos(tmp_path, "train")
    assert dataset.video("quiet").expressions == () and dataset.video("quiet").object_ids == (1, 2)
    assert all(video.name != "quiet" for video, _ in dataset.expressions())


def test_annotated_split_needs_meta_json_and_obj_ids(train_root: Path):
    (train_root / "train" / "meta.json").unlink()
    with pytest.raises(GroPromptError, match=r"meta\.json \(object ids of an annotated split\) is missing") as error:
        load_refytvos(train_root, "train")
    assert "train/meta.json" in str(error.value)


def test_expression_without_obj_id_on_annotated_split(tmp_path: Path):
    write_refytvos(tmp_path, "train", [ToyVideo("v", moving_squares(), [{"exp": "x"}])])
    with pytest.raises(GroPromptError, match='no "obj_id"'):
        load_refytvos(tmp_path, "train")


def test_png_promised_by_meta_json_is_missing(train_root: Path):
    (train_root / "train" / "Annotations" / "vid_b" / "00010.png").unlink()
    with pytest.raises(GroPromptError, match="annotation PNG") as error:
        load_refytvos(train_root, "train")
    assert "vid_b/00010.png" in str(error.value)


def test_no_warning_on_a_clean_dataset(train_root: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_refytvos(train_root, "train", dataset_name="synrvos").video("vid_a")
