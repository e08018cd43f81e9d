"""J, the region similarity of DAVIS (docs/method_spec.md §8): the IoU of boolean masks."""

from __future__ import annotations

import numpy as np

from groprompt.metrics._inputs import check_masks


def region_similarity(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None) -> float | np.ndarray:
    """J of boolean masks, bit-identical to the official DAVIS-2017 ``db_eval_iou`` (docs/method_spec.md §8).

    Args:
        pred, gt: ``(H, W)`` or ``(T, H, W)`` bool masks of one shape.
        void: optional bool mask of the same shape; True pixels are left out of intersection and union.

    Returns:
        ``|pred & gt| / |pred | gt|`` over non-void pixels, in [0, 1]; 1.0 where the union is empty (both masks
        empty). A ``float`` for one frame, a ``(T,) float64`` array for a stack.
    """
    pred, gt, void = check_masks(pred, gt, void, "region similarity J")
    inside = (pred & gt) if void is None else (pred & gt & ~void)
    either = (pred | gt) if void is None else ((pred | gt) & ~void)
    intersection = np.count_nonzero(inside, axis=(-2, -1))
    union = np.count_nonzero(either, axis=(-2, -1))
    j = np.divide(intersection, union, out=np.ones(np.shape(union), dtype=np.float64), where=union > 0)
    return float(j) if pred.ndim == 2 else j
