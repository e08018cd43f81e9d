"""A straight re-implementation of the official DAVIS-2017 measures, frame by frame, for tests and the benchmark.

It follows ``davis2017/metrics.py`` and ``davis2017/utils.py`` step by step (boundary maps by neighbour comparison,
whole-frame dilation with scikit-image's ``dilation(.., disk(r))`` in place of OpenCV's ``cv2.dilate``, and the same
float operations), so it is slow on purpose and easy to check by eye. The dilation uses ``mode="ignore"``: pixels
outside the frame count as absent, as in ``cv2.dilate``'s default border. scikit-image's default ``"reflect"`` gives
the same maps while the disk fits in the frame, but mirrors boundary pixels back in when it does not (seen: a 2x15
frame with radius 11 marks pixels 13 columns from the only boundary pixel).
"""

from __future__ import annotations

import warnings

import numpy as np
from skimage.morphology import dilation, disk


def reference_iou(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None) -> float:
    """``db_eval_iou`` of one (H, W) frame."""
    keep = np.ones_like(gt) if void is None else ~void
    inters = np.sum(pred & gt & keep)
    union = np.sum((pred | gt) & keep)
    return 1 if np.isclose(union, 0) else inters / union


def reference_bmap(seg: np.ndarray) -> np.ndarray:
    """``_seg2bmap`` at the mask's own resolution: (H, W) bool -> (H, W) bool."""
    seg = seg.astype(bool)
    right, down, diagonal = np.zeros_like(seg), np.zeros_like(seg), np.zeros_like(seg)
    right[:, :-1] = seg[:, 1:]
    down[:-1, :] = seg[1:, :]
    diagonal[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ right) | (seg ^ down) | (seg ^ diagonal)
    b[-1, :] = seg[-1, :] ^ right[-1, :]
    b[:, -1] = seg[:, -1] ^ down[:, -1]
    b[-1, -1] = False
    return b


def reference_f(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None, bound_th: float = 0.008) -> float:
    """``f_measure`` of one (H, W) frame, dilating whole boundary maps."""
    void = np.zeros_like(gt) if void is None else void
    bound_pix = bound_th if bound_th >= 1 else np.ceil(bound_th * np.linalg.norm(pred.shape))
    pred_b = reference_bmap(pred & ~void)
    gt_b = reference_bmap(gt & ~void)
    footprint = disk(int(bound_pix)).astype(bool)
    pred_dil = dilation(pred_b, footprint, mode="ignore")
    gt_dil = dilation(gt_b, footprint, mode="ignore")
    n_pred, n_gt = np.sum(pred_b), np.sum(gt_b)
    if n_pred == 0 and n_gt > 0:
        precision, recall = 1, 0
    elif n_pred > 0 and n_gt == 0:
        precision, recall = 0, 1
    elif n_pred == 0 and n_gt == 0:
        precision, recall = 1, 1
    else:
        precision = np.sum(pred_b & gt_dil) / float(n_pred)
        recall = np.sum(gt_b & pred_dil) / float(n_gt)
    return 0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def reference_f_stack(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> np.ndarray:
    """``db_eval_boundary`` of a (T, H, W) stack: one :func:`reference_f` per frame."""
    return np.array([reference_f(p, g, bound_th=bound_th) for p, g in zip(pred, gt, strict=True)], dtype=np.float64)


def reference_statistics(values: np.ndarray, index_dtype: type = np.uint8) -> tuple[float, float, float]:
    """``db_statistics``; ``index_dtype=np.uint8`` reproduces the official wrap-around above 255 frames."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = np.nanmean(values)
        recall = np.nanmean(values > 0.5)
        ids = (np.round(np.linspace(1, len(values), 5) + 1e-10) - 1).astype(index_dtype)
        bins = [values[ids[i] : ids[i + 1] + 1] for i in range(4)]
        decay = np.nanmean(bins[0]) - np.nanmean(bins[3])
    return mean, recall, decay
