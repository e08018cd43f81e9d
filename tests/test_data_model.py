"""The data model: tight boxes, the box-only view (weak supervision), lazy annotations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from groprompt.data import BoxOnlyVideo, Dataset, Expression, FrameAnnotation, Video, tight_box
from groprompt.errors import GroPromptError


def test_tight_box_exclusive_ends():
    mask = np.zeros((6, 8), dtype=bool)
    mask[2, 3] = True  # one pixel at row 2, column 3
    np.testing.assert_array_equal(tight_box(mask), [3, 2, 4, 3])
    mask[5, 7] = True  # touching the bottom-right border
    np.testing.assert_array_equal(tight_box(mask), [3, 2, 8, 6])
    assert np.isnan(tight_box(np.zeros((2, 2), dtype=bool))).all()


class _Source:
    """Two frames, object 1 in both, object 2 only in frame 1; counts reads."""

    def __init__(self) -> None:
        self.reads = 0

    def annotated(self, frame_index: int) -> bool:
        return True

    def read(self, frame_index: int) -> FrameAnnotation:
        self.reads += 1
        one = np.zeros((4, 4), dtype=bool)
        one[frame_index, :2] = True
        masks = {1: one}
        if frame_index == 1:
            two = np.zeros((4, 4), dtype=bool)
            two[3, 3] = True
            masks[2] = two
        return FrameAnnotation(masks=masks)


def _video(source=None) -> Video:
    return Video(
        dataset="toy", split="train", name="v", frame_names=("0", "1"), frame_paths=(Path("0.jpg"), Path("1.jpg")),
        size=(4, 4), object_ids=(1, 2), expressions=(Expression("0", "the bar", 1), Expression("1", "the dot", 2)),
        annotations=source,
    )


def test_box_only_view_has_boxes_and_no_masks():
    source = _Source()
    view = _video(source).box_only()
    assert isinstance(view, BoxOnlyVideo)
    np.testing.assert_array_equal(view.boxes[1], [[0, 0, 2, 1], [0, 1, 2, 2]])
    assert np.isnan(view.boxes[2][0]).all() and list(view.boxes[2][1]) == [3, 3, 4, 4]
    np.testing.assert_array_equal(view.present(2), [False, True])
    assert source.reads == 2
    assert not any("annotation" in name for name in vars(view))


def test_split_without_ground_truth_is_a_clear_error():
    video = _video(None)
    assert not video.annotated_frames().any()
    with pytest.raises(GroPromptError, match="no ground truth"):
        video.annotation(0)


def test_dataset_lookup_names_known_videos():
    dataset = Dataset(name="toy", split="train", root=Path("."), videos=(_video(),))
    assert dataset.video("v").name == "v"
    assert [e.exp_id for _, e in dataset.expressions()] == ["0", "1"]
    with pytest.raises(GroPromptError, match="no video called 'w'.*v"):
        dataset.video("w")


def test_expression_referents_one_several_or_withheld():
    assert Expression("0", "the bar", 1).referents == (1,)
    assert Expression("0", "the bar", 1, obj_ids=(1,)).referents == (1,)
    assert Expression("0", "the two", None, obj_ids=(2, 1)).referents == (2, 1)
    assert Expression("0", "withheld", None).referents == ()


@pytest.mark.parametrize(("obj_id", "obj_ids", "problem"), [
    (None, (), "empty"), (None, (1, 1), "repeats"), (1, (1, 2), "beside several"), (None, (3,), "names one"),
    (2, (3,), "names one"),
])
def test_expression_rejects_inconsistent_referents(obj_id, obj_ids, problem):
    with pytest.raises(GroPromptError, match=f"{problem}.*expression 7"):
        Expression("7", "x", obj_id, obj_ids=obj_ids)


def test_union_mask_and_box_of_several_objects():
    annotation = _Source().read(1)  # object 1: row 1, columns 0-1; object 2: pixel (3, 3)
    union = annotation.union_mask((1, 2), (4, 4))
    assert union.sum() == 3 and union[3, 3] and union[1, :2].all()
    np.testing.assert_array_equal(annotation.union_box((1, 2), (4, 4)), [0, 1, 4, 4])
    np.testing.assert_array_equal(annotation.union_box((2, 9), (4, 4)), [3, 3, 4, 4])  # absent objects add nothing
    assert not annotation.union_mask((9,), (4, 4)).any() and annotation.union_box((9,), (4, 4)) is None


def test_box_only_union_boxes_equal_the_union_masks_boxes():
    source = _Source()
    video = _video(source)
    view = video.box_only()
    union = view.union_boxes((1, 2))
    for index in range(2):
        np.testing.assert_array_equal(union[index], tight_box(source.read(index).union_mask((1, 2), (4, 4))))
    assert np.isnan(view.union_boxes((2,))[0]).all()
