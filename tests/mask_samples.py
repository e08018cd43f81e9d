"""Random mask pairs for metric tests and benchmarks: smooth blobs (object-like) and white noise."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def smooth_field(rng: np.random.Generator, frames: int, height: int, width: int, scale: float) -> np.ndarray:
    """``(T, H, W)`` float64 Gaussian-smoothed noise with features about ``scale`` pixels across, unit-ish spread."""
    # Smoothing at reduced resolution and upsampling keeps 480x854 fields cheap; the result is just as smooth.
    step = max(1, int(scale // 4))
    small = rng.standard_normal((frames, -(-height // step), -(-width // step)))
    small = ndimage.gaussian_filter(small, sigma=(0, scale / step, scale / step), mode="wrap")
    field = ndimage.zoom(small, (1, step, step), order=1)[:, :height, :width]
    return field / field.std(axis=(1, 2), keepdims=True)


def blob_pair(
    rng: np.random.Generator,
    frames: int,
    height: int,
    width: int,
    *,
    scale: float,
    coverage: float = 0.3,
    error: float = 0.3,
) -> tuple[np.ndarray, np.ndarray]:
    """``(pred, gt)`` bool ``(T, H, W)``: gt covers about ``coverage`` of each frame in smooth blobs; pred is the
    same field perturbed by ``error`` times a finer smooth field, so its boundary wanders a few pixels off gt's."""
    field = smooth_field(rng, frames, height, width, scale)
    level = np.quantile(field, 1 - coverage, axis=(1, 2), keepdims=True)
    perturbation = smooth_field(rng, frames, height, width, max(1.0, scale / 3))
    return field + error * perturbation > level, field > level


def noise_pair(rng: np.random.Generator, frames: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``(pred, gt)`` independent white-noise masks (half the pixels set): boundaries almost everywhere."""
    return rng.random((frames, height, width)) < 0.5, rng.random((frames, height, width)) < 0.5
