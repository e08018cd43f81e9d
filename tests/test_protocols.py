"""Evaluation protocols (docs/method_spec.md §8) against hand-computed values.

Frames are 20x20, so the F tolerance is ceil(0.008 * 28.3) = 1 pixel: blocks A (columns 0-5) and B (columns 12-17)
are far enough apart that a mask on one scores J = F = 0 against the other.
"""

from __future__ import annotations

import numpy as np
import pytest

from groprompt.evaluation.protocols import VideoTruth, match_predictions, score_expression, score_label_maps

T, H, W = 2, 20, 20


def block(columns: slice, rows: slice = slice(4, 16)) -> np.ndarray:
    mask = np.zeros((H, W), dtype=bool)
    mask[rows, columns] = True
    return mask


A, B = block(slice(0, 6)), block(slice(12, 18))


def labels(*frames: dict[int, np.ndarray]) -> np.ndarray:
    """A (T, H, W) label stack from one {id: mask} dict per frame."""
    stack = np.zeros((len(frames), H, W), dtype=np.uint8)
    for index, objects in enumerate(frames):
        for obj_id, mask in objects.items():
            stack[index][mask] = obj_id
    return stack


GT = VideoTruth.from_labels(labels({1: A, 2: B}, {1: A, 2: B}))


def summary(scores) -> dict[int, tuple[int | None, list[float], list[float]]]:
    return {s.object_id: (s.pred_id, s.j.round(6).tolist(), s.f.round(6).tolist()) for s in scores}


def test_swapped_ids_full_score_under_assignment_zero_under_strict():
    result = score_label_maps(labels({1: B, 2: A}, {1: B, 2: A}), GT)
    assert summary(result["assignment"]) == {1: (2, [1, 1], [1, 1]), 2: (1, [1, 1], [1, 1])}
    assert summary(result["strict"]) == {1: (1, [0, 0], [0, 0]), 2: (2, [0, 0], [0, 0])}


def test_extra_prediction_is_ignored_but_can_win_the_assignment():
    gt = VideoTruth.from_labels(labels({1: A}, {1: A}))
    # id 1 lands on the wrong place, id 2 on the object: the assignment takes id 2, strict keeps id 1.
    result = score_label_maps(labels({1: B, 2: A}, {1: B, 2: A}), gt)
    assert summary(result["assignment"]) == {1: (2, [1, 1], [1, 1])}
    assert summary(result["strict"]) == {1: (1, [0, 0], [0, 0])}
    # An extra id beside a correct one changes nothing.
    result = score_label_maps(labels({1: A, 3: B}, {1: A, 3: B}), gt)
    assert summary(result["assignment"]) == summary(result["strict"]) == {1: (1, [1, 1], [1, 1])}


def test_missing_prediction_scores_zero_where_object_present_one_where_absent():
    # Object 2 is present in frame 0 only; the prediction has no id 2 at all (official rule: pad with an empty
    # mask, which scores J = F = 1 on a frame where the object is absent too).
    gt = VideoTruth.from_labels(labels({1: A, 2: B}, {1: A}))
    for protocol in ("assignment", "strict"):
        result = score_label_maps(labels({1: A}, {1: A}), gt)[protocol]
        assert summary(result) == {1: (1, [1, 1], [1, 1]), 2: (None, [0, 1], [0, 1])}


def test_partial_overlap_and_void():
    half = block(slice(0, 3))                       # 36 of block A's 72 pixels
    gt = VideoTruth.from_labels(labels({1: A}, {1: A, 255: B}))  # frame 1: block B is void
    pred = labels({1: half}, {1: A | B})             # frame 1: the extra pixels lie in void only
    (score,) = score_label_maps(pred, gt, ("strict",))["strict"]
    assert score.j.tolist() == pytest.approx([36 / 72, 1.0])
    assert score.f[1] == pytest.approx(1.0)


def test_empty_ground_truth_video_has_no_objects():
    empty = VideoTruth.from_labels(np.zeros((T, H, W), dtype=np.uint8))
    assert score_label_maps(labels({1: A}, {}), empty) == {"assignment": [], "strict": []}


def test_prediction_value_255_is_an_id_not_void():
    result = score_label_maps(labels({255: A}, {255: A}), GT)
    assert summary(result["assignment"])[1] == (255, [1, 1], [1, 1])


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown protocol"):
        score_label_maps(GT.labels, GT, ("greedy",))
    with pytest.raises(ValueError, match="must be equal"):
        score_label_maps(GT.labels[:1], GT)
    with pytest.raises(ValueError, match="object 3"):
        score_expression(np.stack([A, B]), GT, obj_id=3)


def test_matching_maximises_the_total_not_greedily():
    # Greedy would take (0, 0) = 0.9, then (1, 1) = 0.0: total 0.9. The optimum is 0.8 + 0.8 = 1.6.
    gain = np.array([[0.9, 0.8], [0.8, 0.0]])
    assert match_predictions(gain, np.zeros(2)) == [1, 0]


def test_matching_pads_with_empty_predictions():
    # One prediction, two objects: the object it serves better gets it; the other is matched to an empty one.
    assert match_predictions(np.array([[0.2, 0.7]]), np.array([0.0, 0.0])) == [None, 0]
    # An empty prediction can beat a bad real one (object absent most of the time): 0.9 + 0.6 > 0.1 + 0.5.
    assert match_predictions(np.array([[0.1, 0.6]]), np.array([0.9, 0.5])) == [None, 0]
    assert match_predictions(np.zeros((3, 0)), np.zeros(0)) == []


def test_expression_scored_against_its_object_only():
    score = score_expression(np.stack([A, B]), GT, obj_id=1)
    assert (score.object_id, score.pred_id) == (1, None)
    assert score.j.tolist() == [1.0, 0.0]
    assert score.f.tolist() == [1.0, 0.0]


def test_assignment_matches_brute_force_over_official_measures():
    """Random blobs: the assignment reaches the best total J&F over every injective matching (with empty padding),
    computed with the frame-by-frame re-implementation of the official measures."""
    from itertools import permutations

    from davis_reference import reference_f, reference_iou

    rng = np.random.default_rng(7)
    for _ in range(5):
        gt_labels = rng.integers(0, 4, size=(3, 12, 12)).astype(np.uint8)      # objects 1..3, some void below
        gt_labels[:, 0, :3] = 255
        pred_labels = rng.integers(0, 3, size=(3, 12, 12)).astype(np.uint8)    # 2 prediction ids: one object unmatched
        truth = VideoTruth.from_labels(gt_labels)
        void = gt_labels == 255

        def gain(pred_id: int | None, obj: int) -> float:
            pred = pred_labels == pred_id if pred_id is not None else np.zeros_like(void)
            gt = gt_labels == obj
            j = [reference_iou(p, g, v) for p, g, v in zip(pred, gt, void)]
            f = [reference_f(p, g, v) for p, g, v in zip(pred, gt, void)]
            return (np.mean(j) + np.mean(f)) / 2

        candidates = [1, 2, None]
        best = max(sum(gain(p, o) for p, o in zip(order, truth.ids)) for order in permutations(candidates, 3))
        scores = score_label_maps(pred_labels, truth, ("assignment",))["assignment"]
        assert sum((s.j.mean() + s.f.mean()) / 2 for s in scores) == pytest.approx(best)
        for s in scores:
            assert (s.j.mean() + s.f.mean()) / 2 == pytest.approx(gain(s.pred_id, s.object_id))
