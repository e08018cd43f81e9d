"""Box IoU, the "Box" column of Table 6 (docs/method_spec.md §8).

Boxes are ``(x0, y0, x1, y1)`` float pixels with ``x1``/``y1`` exclusive (area ``(x1 - x0) * (y1 - y0)``), one row
per frame; a row holding nan means "no box" (object absent from the ground truth, or no prediction).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from groprompt.errors import GroPromptError


def _check_boxes(boxes: np.ndarray, role: str) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise GroPromptError(f"box IoU: {role} boxes must be (N, 4) x0,y0,x1,y1 rows, got shape {boxes.shape}")
    with np.errstate(invalid="ignore"):
        inverted = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if inverted.any():
        row = int(np.flatnonzero(inverted)[0])
        raise GroPromptError(
            f"box IoU: {role} box {row} {boxes[row].tolist()} has x1 < x0 or y1 < y0",
            fix="write boxes as (x0, y0, x1, y1) corners, not (x, y, w, h)",
        )
    return boxes


def box_iou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU of paired boxes, row by row: ``(N, 4)`` and ``(N, 4)`` xyxy pixels -> ``(N,) float64`` in [0, 1].

    A row where either box has a nan gives nan. Zero-area boxes give 0 (never nan), also when both are empty.
    """
    pred, gt = _check_boxes(pred, "predicted"), _check_boxes(gt, "ground-truth")
    if pred.shape != gt.shape:
        raise GroPromptError(f"box IoU: {pred.shape[0]} predicted boxes for {gt.shape[0]} ground-truth boxes")
    width = np.minimum(pred[:, 2], gt[:, 2]) - np.maximum(pred[:, 0], gt[:, 0])
    height = np.minimum(pred[:, 3], gt[:, 3]) - np.maximum(pred[:, 1], gt[:, 1])
    intersection = np.clip(width, 0, None) * np.clip(height, 0, None)
    area_pred = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    area_gt = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
    union = area_pred + area_gt - intersection
    iou = np.divide(intersection, union, out=np.zeros_like(union), where=union > 0)
    iou[np.isnan(union)] = np.nan
    return iou


def expression_box_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean box IoU of one expression over the frames where its object is present, in [0, 1].

    Args:
        pred, gt: ``(T, 4)`` xyxy pixel boxes per frame; nan rows where there is no box.

    A frame counts when its ground-truth row has no nan; a missing (nan) prediction there scores 0. Frames where
    the object is absent are skipped whatever the prediction. nan if the object is never present.
    """
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    present = ~np.isnan(gt).any(axis=-1)
    if not present.any():
        return float("nan")
    iou = box_iou(pred[present], gt[present])
    return float(np.mean(np.nan_to_num(iou, nan=0.0)))


def mean_box_iou(per_expression: Sequence[tuple[np.ndarray, np.ndarray]]) -> float:
    """Table 6 "Box": ×100 mean over expressions of :func:`expression_box_iou`, from ``(pred, gt)`` pairs.

    Expressions whose object is never present have no frame to score and are left out of the mean.
    """
    scores = [expression_box_iou(pred, gt) for pred, gt in per_expression]
    scored = [score for score in scores if not np.isnan(score)]
    if not scored:
        raise GroPromptError(
            f"box IoU: none of the {len(scores)} expressions has a frame where its object is present",
            fix="check that the ground-truth boxes were read (a nan row means the object is absent)",
        )
    return float(100 * np.mean(scored))
