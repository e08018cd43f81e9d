"""L_box and GIoU against hand-computed values (docs/method_spec.md §2)."""

from __future__ import annotations

import math

import pytest
import torch

from groprompt.errors import GroPromptError
from groprompt.boxes import cxcywh_to_xyxy
from groprompt.losses import box_loss, generalized_box_iou

NAN = math.nan


@pytest.mark.parametrize(
    ("box_a", "box_b", "expected"),
    [
        # identical: IoU 1, enclosing box = union -> 1
        ([0, 0, 2, 2], [0, 0, 2, 2], 1.0),
        # disjoint: I 0, U 1+1 = 2, enclosing [0,3]x[0,3] = 9 -> 0 - (9-2)/9
        ([0, 0, 1, 1], [2, 2, 3, 3], -7 / 9),
        # half overlap along x: I 1*2 = 2, U 4+4-2 = 6, enclosing [0,3]x[0,2] = 6 -> 2/6 - 0
        ([0, 0, 2, 2], [1, 0, 3, 2], 1 / 3),
        # diagonal overlap: I 1, U 7, enclosing 3x3 = 9 -> 1/7 - 2/9
        ([0, 0, 2, 2], [1, 1, 3, 3], 1 / 7 - 2 / 9),
        # nested: I 4, U 16, enclosing = the outer box -> 4/16
        ([0, 0, 4, 4], [1, 1, 3, 3], 0.25),
        # touching edges: I 0, U 2, enclosing 2x1 = 2 -> 0
        ([0, 0, 1, 1], [1, 0, 2, 1], 0.0),
    ],
)
def test_giou_hand_values(box_a, box_b, expected):
    a = torch.tensor(box_a, dtype=torch.float64)
    b = torch.tensor(box_b, dtype=torch.float64)
    assert generalized_box_iou(a, b).item() == pytest.approx(expected, abs=1e-12)
    assert generalized_box_iou(b, a).item() == pytest.approx(expected, abs=1e-12)


def test_giou_broadcasts():
    boxes = torch.tensor([[0, 0, 2, 2], [1, 0, 3, 2]], dtype=torch.float64)
    table = generalized_box_iou(boxes[:, None], boxes[None, :])
    assert table.shape == (2, 2)
    assert torch.allclose(table, torch.tensor([[1, 1 / 3], [1 / 3, 1]], dtype=torch.float64))


def test_cxcywh_to_xyxy():
    assert cxcywh_to_xyxy(torch.tensor([0.5, 0.4, 0.2, 0.6])).tolist() == pytest.approx([0.4, 0.1, 0.6, 0.7])


def _clip():
    """One clip, three frames, two queries; frame 2 is absent (nan ground truth).

    gt (cx,cy,w,h) = (0.5, 0.5, 0.2, 0.2) -> xyxy [0.4, 0.4, 0.6, 0.6], area 0.04, on frames 0 and 1.
    frame 0: q0 = gt exactly (conf 0.1); q1 = (0.3, 0.5, 0.2, 0.2) -> [0.2, 0.4, 0.4, 0.6] (conf 0.9)
        q1: L1 = |0.3-0.5| = 0.2; touches gt at x = 0.4: I 0, U 0.08, enclosing 0.4*0.2 = 0.08 -> GIoU 0
            cost 5*0.2 + 2*(1-0) = 3.0;  q0: cost 0
    frame 1: q0 = (0.5, 0.5, 0.4, 0.4) -> [0.3, 0.3, 0.7, 0.7] (conf 0.8); q1 = (0.6, 0.5, 0.2, 0.2) -> [0.5, 0.4,
        0.7, 0.6] (conf 0.2)
        q0: L1 = 0.2 + 0.2 = 0.4; gt nested in it: IoU 0.04/0.16 = 0.25, enclosing = q0 -> GIoU 0.25
            cost 5*0.4 + 2*0.75 = 3.5
        q1: L1 = 0.1; I 0.1*0.2 = 0.02, U 0.06, IoU 1/3, enclosing 0.3*0.2 = 0.06 -> GIoU 1/3
            cost 5*0.1 + 2*(2/3) = 11/6
    top1 picks q1, q0: L1 0.2 + 0.4 = 0.6, 1-GIoU 1 + 0.75 = 1.75, total 3.0 + 3.5 = 6.5
    hungarian picks q0, q1: L1 0 + 0.1 = 0.1, 1-GIoU 0 + 2/3, total 0 + 11/6
    """
    pred = torch.tensor(
        [[[[0.5, 0.5, 0.2, 0.2], [0.3, 0.5, 0.2, 0.2]],
          [[0.5, 0.5, 0.4, 0.4], [0.6, 0.5, 0.2, 0.2]],
          [[0.1, 0.1, 0.1, 0.1], [0.9, 0.9, 0.1, 0.1]]]],
        dtype=torch.float64, requires_grad=True,
    )
    confidence = torch.tensor([[[0.1, 0.9], [0.8, 0.2], [0.7, 0.3]]], dtype=torch.float64, requires_grad=True)
    gt = torch.tensor([[[0.5, 0.5, 0.2, 0.2], [0.5, 0.5, 0.2, 0.2], [NAN, NAN, NAN, NAN]]], dtype=torch.float64)
    present = torch.tensor([[True, True, False]])
    return pred, confidence, gt, present


def test_top1_hand_values():
    pred, confidence, gt, present = _clip()
    loss = box_loss(pred, confidence, gt, present)
    assert loss.selected.tolist() == [[1, 0, 0]]
    assert loss.l1.item() == pytest.approx(0.6)
    assert loss.giou.item() == pytest.approx(1.75)
    assert loss.total.item() == pytest.approx(6.5)


def test_hungarian_picks_lowest_cost_query():
    pred, confidence, gt, present = _clip()
    loss = box_loss(pred, confidence, gt, present, matching="hungarian")
    # frames 0, 1 by cost; absent frame 2 falls back to the most confident query (q0)
    assert loss.selected.tolist() == [[0, 1, 0]]
    assert loss.l1.item() == pytest.approx(0.1)
    assert loss.giou.item() == pytest.approx(2 / 3)
    assert loss.total.item() == pytest.approx(11 / 6)


def test_weights_are_applied():
    pred, confidence, gt, present = _clip()
    # top1: 1 * 0.6 + 10 * 1.75
    assert box_loss(pred, confidence, gt, present, l1_weight=1.0, giou_weight=10.0).total.item() == pytest.approx(18.1)


def test_absent_frame_contributes_nothing_and_clips_are_averaged():
    pred, confidence, gt, present = _clip()
    # second clip: frame 0 exact (q1 most confident and equal to gt -> 0), frame 1 and 2 absent
    pred2 = pred.detach().clone()
    pred2[0, 0, 1] = torch.tensor([0.5, 0.5, 0.2, 0.2])
    batch_pred = torch.cat([pred.detach(), pred2])
    batch_conf = torch.cat([confidence.detach(), confidence.detach()])
    batch_gt = torch.cat([gt, gt])
    batch_present = torch.tensor([[True, True, False], [True, False, False]])
    loss = box_loss(batch_pred, batch_conf, batch_gt, batch_present)
    # clip sums 6.5 and 0, mean over the two clips
    assert loss.total.item() == pytest.approx(3.25)
    # a clip with no present frame still counts in the mean: (6.5 + 0) / 2
    none_present = torch.tensor([[True, True, False], [False, False, False]])
    assert box_loss(batch_pred, batch_conf, batch_gt, none_present).total.item() == pytest.approx(3.25)


@pytest.mark.parametrize("matching", ["top1", "hungarian"])
def test_gradient_reaches_only_selected_queries(matching):
    pred, confidence, gt, present = _clip()
    loss = box_loss(pred, confidence, gt, present, matching=matching)
    loss.total.backward()
    grad = pred.grad
    assert torch.isfinite(grad).all()
    selected = loss.selected[0]
    for frame in range(3):
        for query in range(2):
            is_used = bool(present[0, frame]) and query == int(selected[frame])
            has_grad = bool(grad[0, frame, query].abs().sum() > 0)
            # hungarian's frame-0 query equals gt exactly: its L1 subgradient is 0 and GIoU is at its maximum
            if is_used and not (matching == "hungarian" and frame == 0):
                assert has_grad, (frame, query)
            if not is_used:
                assert not has_grad, (frame, query)
    assert confidence.grad is None  # no classification loss


def test_rejects_unknown_matching_and_bad_shapes():
    pred, confidence, gt, present = _clip()
    with pytest.raises(GroPromptError, match="top1, hungarian"):
        box_loss(pred, confidence, gt, present, matching="greedy")
    with pytest.raises(GroPromptError, match="gt_boxes"):
        box_loss(pred, confidence, gt[:, :2], present)
    with pytest.raises(GroPromptError, match="pred_boxes"):
        box_loss(pred[..., :3], confidence, gt, present)
