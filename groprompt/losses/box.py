"""The box loss L_box (docs/method_spec.md §2, paper Eq. 1) and the generalized IoU it uses.

Boxes inside the model are normalised ``(cx, cy, w, h)`` in [0, 1]; GIoU is computed on corner form
``(x0, y0, x1, y1)`` in the same normalised units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from groprompt.boxes import cxcywh_to_xyxy
from groprompt.errors import GroPromptError
from groprompt.losses._checks import check_shape

Matching = Literal["top1", "hungarian"]
MATCHINGS: tuple[str, ...] = ("top1", "hungarian")
"""Valid values of ``prompter.matching`` (§2): ``top1`` is the paper, ``hungarian`` the authors' code."""

L1_WEIGHT = 5.0
"""λ_r of Eq. 1 (paper §4.2, following Grounded-SAM)."""
GIOU_WEIGHT = 2.0
"""λ_g of Eq. 1."""

_AREA_FLOOR = 1e-7  # keeps IoU finite for two zero-area boxes; never reached by boxes with any area


def generalized_box_iou(boxes_a: Tensor, boxes_b: Tensor) -> Tensor:
    """Element-wise GIoU of two broadcastable ``(..., 4)`` xyxy box tensors -> ``(...)`` in [-1, 1].

    GIoU = IoU - (C - U) / C, where U is the union area and C the area of the smallest box enclosing both
    (Rezatofighi et al., 2019). Boxes must be well-formed (``x1 >= x0``, ``y1 >= y0``).
    """
    area_a = (boxes_a[..., 2] - boxes_a[..., 0]) * (boxes_a[..., 3] - boxes_a[..., 1])
    area_b = (boxes_b[..., 2] - boxes_b[..., 0]) * (boxes_b[..., 3] - boxes_b[..., 1])
    inner_lo = torch.maximum(boxes_a[..., :2], boxes_b[..., :2])
    inner_hi = torch.minimum(boxes_a[..., 2:], boxes_b[..., 2:])
    inner_wh = (inner_hi - inner_lo).clamp_min(0)
    intersection = inner_wh[..., 0] * inner_wh[..., 1]
    union = (area_a + area_b - intersection).clamp_min(_AREA_FLOOR)
    outer_wh = torch.maximum(boxes_a[..., 2:], boxes_b[..., 2:]) - torch.minimum(boxes_a[..., :2], boxes_b[..., :2])
    enclosing = (outer_wh[..., 0] * outer_wh[..., 1]).clamp_min(_AREA_FLOOR)
    return intersection / union - (enclosing - union) / enclosing


@dataclass(frozen=True)
class BoxLoss:
    """L_box of a batch and its parts.

    Attributes:
        total: scalar, ``l1_weight * l1 + giou_weight * giou``.
        l1: scalar, unweighted L1 term (sum over cx,cy,w,h and over present frames, mean over clips).
        giou: scalar, unweighted ``1 - GIoU`` term (sum over present frames, mean over clips).
        selected: ``(B, T)`` int64, the query taken as the prediction at each frame (TextCon and ModalCon use
            its box). At frames where the object is absent it is the top-1 query under either matching.
    """

    total: Tensor
    l1: Tensor
    giou: Tensor
    selected: Tensor


def box_loss(
    pred_boxes: Tensor,
    pred_confidence: Tensor,
    gt_boxes: Tensor,
    present: Tensor,
    matching: Matching = "top1",
    l1_weight: float = L1_WEIGHT,
    giou_weight: float = GIOU_WEIGHT,
) -> BoxLoss:
    """L_box of Eq. 1 with one predicted box per frame chosen among the queries (docs/method_spec.md §2).

    Args:
        pred_boxes: ``(B, T, Q, 4)`` normalised ``(cx, cy, w, h)`` of every query at every frame of B clips.
        pred_confidence: ``(B, T, Q)`` query confidences (any monotone score: only the argmax is used; it gets
            no gradient, as there is no classification loss).
        gt_boxes: ``(B, T, 4)`` normalised ``(cx, cy, w, h)``; values at absent frames are ignored (nan is fine).
        present: ``(B, T)`` bool, frames where the referred object is in the frame.
        matching: ``"top1"`` (the paper): the most confident query is the prediction. ``"hungarian"`` (the
            authors' code): the query with the lowest ``l1_weight * L1 + giou_weight * (1 - GIoU)`` cost, class
            cost 0. With a single ground-truth box per frame the Hungarian assignment is just this argmin
            over queries, so no assignment solver is needed.
        l1_weight, giou_weight: λ_r and λ_g.

    Returns:
        :class:`BoxLoss`. Per clip the frame terms are summed over present frames (absent frames contribute
        nothing, also no gradient); the clips are averaged, including clips with no present frame.
    """
    if matching not in MATCHINGS:
        raise GroPromptError(f"unknown box matching {matching!r}", fix=f"use one of {', '.join(MATCHINGS)}")
    batch, frames, queries, _ = check_shape(pred_boxes, "pred_boxes", (None, None, None, 4))
    check_shape(pred_confidence, "pred_confidence", (batch, frames, queries))
    check_shape(gt_boxes, "gt_boxes", (batch, frames, 4))
    check_shape(present, "present", (batch, frames))
    present = present.bool()

    # Absent frames may carry nan ground truth; a finite stand-in keeps nan out of the backward pass.
    gt = torch.where(present[..., None], gt_boxes, torch.full_like(gt_boxes, 0.5))
    selected = pred_confidence.argmax(dim=-1)
    if matching == "hungarian":
        with torch.no_grad():
            cost = l1_weight * (pred_boxes - gt[:, :, None]).abs().sum(-1) + giou_weight * (
                1 - generalized_box_iou(cxcywh_to_xyxy(pred_boxes), cxcywh_to_xyxy(gt[:, :, None]))
            )
        selected = torch.where(present, cost.argmin(dim=-1), selected)

    chosen = pred_boxes.gather(2, selected[..., None, None].expand(batch, frames, 1, 4)).squeeze(2)
    l1_frames = (chosen - gt).abs().sum(-1)
    giou_frames = 1 - generalized_box_iou(cxcywh_to_xyxy(chosen), cxcywh_to_xyxy(gt))
    zero = torch.zeros_like(l1_frames)
    l1 = torch.where(present, l1_frames, zero).sum(dim=1).mean()
    giou = torch.where(present, giou_frames, zero).sum(dim=1).mean()
    return BoxLoss(total=l1_weight * l1 + giou_weight * giou, l1=l1, giou=giou, selected=selected)

