"""A2D-Sentences / JHMDB-Sentences scores: P@K, overall IoU and mean IoU over samples (docs/method_spec.md §8).

A sample is one annotated (video, frame, instance). These datasets have no void label.
"""

from __future__ import annotations

import numpy as np

from groprompt.errors import GroPromptError
from groprompt.metrics._inputs import check_masks

PRECISION_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
"""K of P@K: a sample counts when its IoU is strictly above K."""

SMOOTHING = 1e-6
"""Added to intersection and union of each sample, so an empty prediction of an empty object scores 1."""


def intersection_union(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel counts ``|pred & gt|`` and ``|pred | gt|`` of ``(H, W)`` or ``(N, H, W)`` bool masks.

    Returns two int64 arrays of shape ``()`` or ``(N,)``.
    """
    pred, gt, _ = check_masks(pred, gt, None, "intersection and union")
    return (
        np.asarray(np.count_nonzero(pred & gt, axis=(-2, -1)), dtype=np.int64),
        np.asarray(np.count_nonzero(pred | gt, axis=(-2, -1)), dtype=np.int64),
    )


def referring_segmentation_scores(intersections: np.ndarray, unions: np.ndarray) -> dict[str, float]:
    """P@0.5 .. P@0.9, overall IoU and mean IoU, all ×100, from per-sample pixel counts.

    Args:
        intersections, unions: ``(N,)`` non-negative counts per sample, ``I <= U``.

    Returns keys ``"P@0.5"`` .. ``"P@0.9"`` (share of samples with ``(I + 1e-6) / (U + 1e-6) > K``),
    ``"overall IoU"`` (``ΣI / ΣU``) and ``"mean IoU"`` (mean of the per-sample IoUs).
    """
    intersections = np.asarray(intersections, dtype=np.float64).reshape(-1)
    unions = np.asarray(unions, dtype=np.float64).reshape(-1)
    if intersections.shape != unions.shape or intersections.size == 0:
        raise GroPromptError(
            f"referring scores need one intersection and one union per sample, got {intersections.size} "
            f"intersections and {unions.size} unions"
        )
    if (intersections < 0).any() or (intersections > unions).any():
        raise GroPromptError("referring scores: every sample needs 0 <= intersection <= union")
    if unions.sum() == 0:
        raise GroPromptError("referring scores: every sample has an empty union, so overall IoU is undefined",
                             fix="check that the ground-truth masks were read")
    iou = (intersections + SMOOTHING) / (unions + SMOOTHING)
    scores = {f"P@{k}": float(100 * np.mean(iou > k)) for k in PRECISION_THRESHOLDS}
    scores["overall IoU"] = float(100 * intersections.sum() / unions.sum())
    scores["mean IoU"] = float(100 * np.mean(iou))
    return scores
