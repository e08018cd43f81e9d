"""Evaluation protocols (docs/method_spec.md §8) against hand-computed values.

Frames are 20x20, so the F tolerance is ceil(0.008 * 28.3) = 1 pixel: blocks A (columns 0-5) and B (columns 12-17)
are far enough apart that a mask on one scores J = F = 0 against the other.
"""

from __future__ import annotations

import numpy as np
import pytest

from groprompt.evaluation.protocols import (
    MAX_PROPOSALS,
    ProposalError,
    VideoTruth,
    match_predictions,
    score_expression,
    score_label_maps,
)

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


GT = VideoTruth(labels({1: A, 2: B}, {1: A, 2: B}))


def summary(scores) -> dict[int, tuple[int | None, list[float], list[float]]]:
    return {s.object_id: (s.pred_id, s.j.round(6).tolist(), s.f.round(6).tolist()) for s in scores}


def test_swapped_ids_full_score_under_assignment_zero_under_strict():
    result = score_label_maps(labels({1: B, 2: A}, {1: B, 2: A}), GT)
    assert summary(result["assignment"]) == {1: (2, [1, 1], [1, 1]), 2: (1, [1, 1], [1, 1])}
    assert summary(result["strict"]) == {1: (1, [0, 0], [0, 0]), 2: (2, [0, 0], [0, 0])}


def test_extra_prediction_is_ignored_but_can_win_the_assignment():
    gt = VideoTruth(labels({1: A}, {1: A}))
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
    gt = VideoTruth(labels({1: A, 2: B}, {1: A}))
    for protocol in ("assignment", "strict"):
        result = score_label_maps(labels({1: A}, {1: A}), gt)[protocol]
        assert summary(result) == {1: (1, [1, 1], [1, 1]), 2: (None, [0, 1], [0, 1])}


def test_partial_overlap_and_void():
    half = block(slice(0, 3))                       # 36 of block A's 72 pixels
    gt = VideoTruth(labels({1: A}, {1: A, 255: B}))  # frame 1: block B is void
    pred = labels({1: half}, {1: A | B})             # frame 1: the extra pixels lie in void only
    (score,) = score_label_maps(pred, gt, ("strict",))["strict"]
    assert score.j.tolist() == pytest.approx([36 / 72, 1.0])
    assert score.f[1] == pytest.approx(1.0)


def test_never_predicted_object_meets_its_empty_proposal_not_the_false_positive():
    # Object 1 (block A) is present in frame 0 only, object 2 (block B) in all four frames. The prediction has no id
    # 1 at all; id 2 is object 2 and id 3 a small false positive far from both (rows 0-1, columns 8-9) on every
    # frame. The proposals are ids 1..3, id 1 empty (official rule). Object 1 against the empty proposal scores
    # J = F = [0, 1, 1, 1] (absent frames count as right): gain 0.75; against id 3, 0 everywhere (no overlap, the
    # boundaries more than the 1-pixel tolerance apart, and a non-empty prediction where the object is absent).
    # So the matching gives object 1 the empty proposal (1.75 in all), not the false positive (1.0).
    gt = VideoTruth(labels({1: A, 2: B}, {2: B}, {2: B}, {2: B}))
    false_positive = block(slice(8, 10), slice(0, 2))
    pred = labels(*[{2: B, 3: false_positive}] * 4)
    result = score_label_maps(pred, gt)
    assert summary(result["assignment"]) == {1: (None, [0, 1, 1, 1], [0, 1, 1, 1]), 2: (2, [1] * 4, [1] * 4)}
    assert summary(result["strict"]) == summary(result["assignment"])


def test_object_predicted_under_another_id_is_matched_to_it():
    # Object 1 is segmented exactly but carries id 3, and id 1 is absent: proposals 1 (empty), 2 (object 2), 3.
    # The matching takes id 3 for object 1 (gain 1 against the empty proposal's 0); strict scores it as missed.
    pred = labels({2: B, 3: A}, {2: B, 3: A})
    result = score_label_maps(pred, GT)
    assert summary(result["assignment"]) == {1: (3, [1, 1], [1, 1]), 2: (2, [1, 1], [1, 1])}
    assert summary(result["strict"]) == {1: (None, [0, 0], [0, 0]), 2: (2, [1, 1], [1, 1])}


def test_more_proposals_than_objects_and_the_official_limit():
    gt = VideoTruth(labels({1: A}, {1: A}))
    half = block(slice(0, 3))                       # 36 of A's 72 pixels: J = 0.5
    # Three proposals for one object: id 1 on the wrong block (0), id 2 half of it (J 0.5), id 3 exactly it (1).
    result = score_label_maps(labels({1: B, 2: half, 3: A}, {1: B, 2: half, 3: A}), gt, ("assignment",))
    assert summary(result["assignment"]) == {1: (3, [1, 1], [1, 1])}
    # Ids up to MAX_PROPOSALS (the official max_n_proposals, 20) are proposals; one more is an error naming the
    # first frame that holds it.
    ok = labels({1: A}, {1: A, MAX_PROPOSALS: B})
    assert summary(score_label_maps(ok, gt)["assignment"]) == {1: (1, [1, 1], [1, 1])}
    with pytest.raises(ProposalError, match=f"id {MAX_PROPOSALS + 1} is above the {MAX_PROPOSALS} proposals") as error:
        score_label_maps(labels({1: A}, {1: A, MAX_PROPOSALS + 1: B}), gt)
    assert error.value.frame_index == 1 and "--protocol strict" in error.value.fix
    # strict alone has no limit: the extra id names no object and is ignored.
    bad = labels({1: A}, {1: A, MAX_PROPOSALS + 1: B})
    assert summary(score_label_maps(bad, gt, ("strict",))["strict"]) == {1: (1, [1, 1], [1, 1])}


def test_objects_are_ids_up_to_the_largest_of_the_first_frame():
    # Frame 0 holds only id 2, so the objects are 1 and 2 (id 1 is an object that is never present); id 3 appears
    # in frame 1 only and is no object. An empty prediction scores object 1 perfectly (never present) and object 2
    # 0 where present.
    gt = VideoTruth(labels({2: B}, {2: B, 3: A}))
    assert (gt.davis_ids, gt.ids) == ([1, 2], [2, 3])
    result = score_label_maps(labels({}, {}), gt)
    assert summary(result["assignment"]) == {1: (None, [1, 1], [1, 1]), 2: (None, [0, 0], [0, 0])}
    assert summary(result["strict"]) == summary(result["assignment"])


def test_semi_supervised_scores_the_inner_frames_id_by_id():
    # Four ground-truth frames: the first and last are not scored, so the prediction holds frames 1 and 2 only.
    # Object 1 (A) in every frame; id 2 (B) appears in frame 1 only: not an object (the first frame's largest id
    # is 1). Frame 1: the prediction is exact; frame 2: empty.
    gt = VideoTruth(labels({1: A}, {1: A, 2: B}, {1: A}, {1: A}))
    result = score_label_maps(labels({1: A}, {}), gt, ("semi-supervised",))
    assert summary(result["semi-supervised"]) == {1: (1, [1, 0], [1, 0])}
    # Id k goes with object k, however well another id fits: id 1 on the wrong block scores 0.
    result = score_label_maps(labels({1: B}, {1: B}), gt, ("semi-supervised",))
    assert summary(result["semi-supervised"]) == {1: (1, [0, 0], [0, 0])}
    # An id above the number of objects is an error (the official "index higher than the number of objects").
    with pytest.raises(ProposalError, match="above the number of ground-truth objects"):
        score_label_maps(labels({1: A}, {1: A, 2: B}), gt, ("semi-supervised",))
    with pytest.raises(ValueError, match="must be equal"):  # all four frames given: two too many
        score_label_maps(gt.labels, gt, ("semi-supervised",))
    with pytest.raises(ValueError, match="score it alone"):
        score_label_maps(labels({1: A}, {}), gt, ("semi-supervised", "strict"))


def test_void_rule_of_each_task():
    # Ground truth: object 1 = A (72 pixels) on three frames, block B (72 pixels) void on the middle one, the only
    # one semi-supervised scores. The prediction covers A and B there.
    gt = VideoTruth(labels({1: A}, {1: A, 255: B}, {1: A}))
    pred = labels({1: A | B})
    # Semi-supervised (void is background): J = 72 / 144. F: the prediction's boundary is A's (23 pixels: row 3
    # and row 15 at columns 0-5, and column 5 at rows 4-14; A touches the left edge) plus B's (36: the 13 x 7
    # pixels at rows 3-15, columns 11-17, less the 11 x 5 inner ones), B's far from A's: P = 23/59, R = 1,
    # F = 2PR / (P + R) = 46/82.
    (semi,) = score_label_maps(pred, gt, ("semi-supervised",))["semi-supervised"]
    assert semi.j.tolist() == [0.5] and semi.f.tolist() == pytest.approx([46 / 82], abs=1e-15)
    # Unsupervised (void left out, and cleared before the boundaries are taken): the prediction is A, J = F = 1.
    full = np.stack([A, A | B, A])
    for protocol in ("assignment", "strict"):
        (score,) = score_label_maps(full.astype(np.uint8), gt, (protocol,))[protocol]
        assert score.j.tolist() == [1, 1, 1] and score.f.tolist() == [1, 1, 1]


def test_empty_ground_truth_video_has_no_objects():
    empty = VideoTruth(np.zeros((T, H, W), dtype=np.uint8))
    assert score_label_maps(labels({1: A}, {}), empty) == {"assignment": [], "strict": []}


def test_prediction_value_255_is_an_id_not_void():
    # 255 is a prediction id (void is a ground-truth notion): ids 1..255 are 255 proposals, past the official 20.
    with pytest.raises(ProposalError, match="above the 20 proposals") as error:
        score_label_maps(labels({255: A}, {255: A}), GT)
    assert error.value.frame_index == 0
    # strict has no proposals: an id that names no object is ignored, so both objects meet an empty prediction.
    result = score_label_maps(labels({255: A}, {255: A}), GT, ("strict",))
    assert summary(result["strict"]) == {1: (None, [0, 0], [0, 0]), 2: (None, [0, 0], [0, 0])}


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
        truth = VideoTruth(gt_labels)
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


def test_semi_supervised_equals_the_official_measures_frame_by_frame():
    """Random label maps with void: each object k against prediction id k on frames 1..T-2, with the frame-by-frame
    re-implementation of the official measures and no void (the semi-supervised task counts it as background)."""
    from davis_reference import reference_f, reference_iou

    rng = np.random.default_rng(3)
    for _ in range(4):
        gt_labels = rng.integers(0, 4, size=(5, 12, 12)).astype(np.uint8)
        gt_labels[:, 0, :3] = 255
        gt_labels[0, 5, 5] = 3                                     # objects 1..3
        pred_labels = rng.integers(0, 4, size=(3, 12, 12)).astype(np.uint8)
        pred_labels[:, 0, :2] = 1                                  # predictions on void pixels
        pred_labels[1][pred_labels[1] == 2] = 0                    # id 2 absent from one frame
        truth = VideoTruth(gt_labels)
        scores = score_label_maps(pred_labels, truth, ("semi-supervised",))["semi-supervised"]
        assert [s.object_id for s in scores] == [1, 2, 3]
        for s in scores:
            pairs = list(zip(pred_labels == s.object_id, gt_labels[1:-1] == s.object_id, strict=True))
            assert s.j.tolist() == [reference_iou(p, g) for p, g in pairs]
            assert s.f.tolist() == [reference_f(p, g) for p, g in pairs]
