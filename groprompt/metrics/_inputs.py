"""Checks shared by the mask metrics: boolean masks of one shape, ``(H, W)`` or ``(T, H, W)``."""

from __future__ import annotations

import numpy as np

from groprompt.errors import GroPromptError


def _as_bool_masks(array: np.ndarray, role: str, metric: str) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype != np.bool_:
        # Casting would silently count the void label 255 (or any object id) as foreground.
        raise GroPromptError(
            f"{metric}: {role} must be a boolean mask, got dtype {array.dtype}",
            fix="compare the label map with the object id first (labels == obj_id), and pass void as labels == 255",
        )
    if array.ndim not in (2, 3):
        raise GroPromptError(f"{metric}: {role} must be (H, W) or (T, H, W), got shape {array.shape}")
    return array


def check_masks(
    pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None, metric: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Return ``pred, gt, void`` as boolean arrays of one shape (``(H, W)`` or ``(T, H, W)``), or raise.

    ``void`` (True = pixel excluded) may be None.
    """
    pred = _as_bool_masks(pred, "the prediction", metric)
    gt = _as_bool_masks(gt, "the ground truth", metric)
    if pred.shape != gt.shape:
        raise GroPromptError(
            f"{metric}: prediction shape {pred.shape} differs from ground-truth shape {gt.shape}",
            fix="write predicted masks at the resolution of the ground-truth annotations",
        )
    if void is not None:
        void = _as_bool_masks(void, "the void mask", metric)
        if void.shape != gt.shape:
            raise GroPromptError(f"{metric}: void mask shape {void.shape} differs from mask shape {gt.shape}")
    return pred, gt, void
