"""J, the region similarity of DAVIS (docs/method_spec.md §8): the IoU of boolean masks, one pair at a time or
every (prediction, object) pair of label stacks at once from one joint label histogram per frame."""

from __future__ import annotations

from collections.abc import Sequence

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


def joint_histogram(pred_codes: np.ndarray, gt_codes: np.ndarray, n_pred: int, n_gt: int) -> np.ndarray:
    """``(T, n_pred, n_gt) int64``: per frame, the pixels with prediction code ``p`` and ground-truth code ``g``.

    Args:
        pred_codes, gt_codes: ``(T, H, W)`` integer label stacks with values below ``n_pred`` and ``n_gt``.
    """
    # Frame by frame in the smallest integer type that holds p * n_gt + g: the index of a frame stays in the cache,
    # a few times faster than one int64 index of the whole stack.
    index_type = np.min_scalar_type(n_pred * n_gt - 1)
    histogram = np.empty((len(pred_codes), n_pred, n_gt), dtype=np.int64)
    for frame, (pred, gt) in enumerate(zip(pred_codes, gt_codes, strict=True)):
        index = pred.astype(index_type)
        index *= n_gt
        np.add(index, gt, out=index, casting="unsafe")  # values below n_pred * n_gt fit the index type
        histogram[frame] = np.bincount(index.reshape(-1), minlength=n_pred * n_gt).reshape(n_pred, n_gt)
    return histogram


def pair_region_similarity(histogram: np.ndarray, objects: Sequence[int], void: int | None = None) -> np.ndarray:
    """J of every (prediction code ``1..``, ground-truth code in ``objects``) pair from a :func:`joint_histogram`:
    ``(T, n_pred - 1, len(objects)) float64``, equal to :func:`region_similarity` of each pair's masks.

    Code 0 is background on both sides. Ground-truth code ``void`` (where given) is left out of every pair, as
    ``region_similarity``'s ``void``; other codes not in ``objects`` are background to every pair.
    """
    intersection = histogram[:, 1:, objects]
    predicted = histogram[:, 1:, :].sum(axis=2)
    if void is not None:
        predicted -= histogram[:, 1:, void]
    truth = histogram[:, :, objects].sum(axis=1)
    union = predicted[:, :, None] + truth[:, None, :] - intersection
    return np.divide(intersection, union, out=np.ones(union.shape, dtype=np.float64), where=union > 0)
