"""Speed of the DAVIS contour measure F: `boundary_measure` against the straight per-frame reference.

The reference (tests/davis_reference.py) is the official DAVIS-2017 algorithm frame by frame, with whole-frame
dilation by scikit-image's ``dilation(.., disk(r))``. Both run on the same masks in one process; the script fails
unless their values are identical.

    python benchmarks/metrics_speed.py --frames 20 --height 480 --width 854 --seed 0
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from davis_reference import reference_f_stack  # noqa: E402
from mask_samples import noise_pair, smooth_field  # noqa: E402

from groprompt.metrics import boundary_measure, tolerance_radius  # noqa: E402


def _timed(function: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def _cases(args: argparse.Namespace) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(args.seed)
    shape = (args.frames, args.height, args.width)
    scale = min(args.height, args.width) / 12
    field = smooth_field(rng, *shape, scale)
    gt = field > np.quantile(field, 0.7, axis=(1, 2), keepdims=True)
    # Predictions: the ground-truth field perturbed by a finer smooth field, so the boundary wanders a few pixels
    # ("close") or about a dozen ("loose"); and a prediction on another object (an unrelated blob mask).
    wobble = smooth_field(rng, *shape, scale / 3)
    close = field + 0.1 * wobble > np.quantile(field, 0.7, axis=(1, 2), keepdims=True)
    loose = field + 0.3 * wobble > np.quantile(field, 0.7, axis=(1, 2), keepdims=True)
    other = smooth_field(rng, *shape, scale)
    other = other > np.quantile(other, 0.9, axis=(1, 2), keepdims=True)
    return {
        "smooth blobs, close prediction": (close, gt),
        "smooth blobs, loose prediction": (loose, gt),
        "smooth blobs, other object": (other, gt),
        "white noise": noise_pair(rng, *shape),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=854)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    radius = tolerance_radius(args.height, args.width)
    print(f"{args.frames} frames of {args.height}x{args.width}, tolerance radius {radius} px, seed {args.seed}")
    identical = True
    for name, (pred, gt) in _cases(args).items():
        expected, reference_s = _timed(lambda: reference_f_stack(pred, gt))
        ours, ours_s = _timed(lambda: boundary_measure(pred, gt))
        difference = float(np.max(np.abs(ours - expected)))
        identical &= bool(np.array_equal(ours, expected))
        print(
            f"{name:32s} mean F {ours.mean():.4f} | reference {args.frames / reference_s:7.1f} frames/s "
            f"({1e3 * reference_s / args.frames:6.1f} ms/frame) | boundary_measure {args.frames / ours_s:7.1f} "
            f"frames/s ({1e3 * ours_s / args.frames:5.2f} ms/frame) | speed-up {reference_s / ours_s:5.1f}x | "
            f"max abs diff {difference}"
        )
    print("values identical" if identical else "VALUES DIFFER")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
