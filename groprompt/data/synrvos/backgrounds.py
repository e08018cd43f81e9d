"""Natural-photograph backgrounds: random crops of the photographs scikit-image ships in its wheel, slowly panning.

Only files present in ``skimage.data.data_dir`` are read, straight from disk with PIL, so nothing can trigger a
pooch download; a candidate that is missing or unreadable is skipped (``docs/synthetic_benchmark.md``, "Natural-image
backgrounds"). Documents, charts and mostly-black images (``page``, ``text``, ``hubble_deep_field``, ``retina``)
are left out: they would make objects trivially easy to find.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

CANDIDATES: tuple[str, ...] = (
    "astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "clock_motion.png", "coffee.png",
    "coins.png", "grass.png", "gravel.png", "ihc.png", "moon.png", "motorcycle_left.png", "rocket.jpg",
)
"""File names in ``skimage.data.data_dir``, in the fixed order backgrounds are drawn from."""


@functools.lru_cache(maxsize=1)
def _photographs() -> dict[str, Image.Image]:
    """``name -> RGB image`` for every candidate that loads offline, in :data:`CANDIDATES` order."""
    import skimage.data

    folder = Path(skimage.data.data_dir)
    loaded = {}
    for filename in CANDIDATES:
        try:
            with Image.open(folder / filename) as image:
                loaded[Path(filename).stem] = image.convert("RGB")
        except OSError:  # missing from this wheel, or unreadable: skip it, as the spec asks
            continue
    return loaded


def available_backgrounds() -> tuple[str, ...]:
    """Names (file stems) of the photographs that load on this machine, in a fixed order."""
    return tuple(_photographs())


@dataclass(frozen=True)
class Background:
    """A panning crop of one photograph.

    Attributes:
        source: photograph name (see :func:`available_backgrounds`).
        corner: ``(x, y)`` top-left of the crop region in the photograph, pixels.
        side: side of the square crop shown at the first frame, photograph pixels (it is resized to the frame).
        pan: ``(dx, dy)`` camera motion, frame pixels per frame; the crop region includes room for it.
        flip: mirror the crop left-right.
        contrast: factor towards the crop's mean grey level (1 = unchanged), so objects stay distinguishable.
    """

    source: str
    corner: tuple[int, int]
    side: float
    pan: tuple[float, float]
    flip: bool
    contrast: float


def sample_background(rng: np.random.Generator, names: tuple[str, ...], size: int, num_frames: int,
                      pan_speed: tuple[float, float]) -> Background:
    """A random crop of one of ``names`` for ``num_frames`` frames of ``size x size`` pixels."""
    source = names[int(rng.integers(len(names)))]
    width, height = _photographs()[source].size
    angle = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(*pan_speed) * size if num_frames > 1 else 0.0
    pan = (float(speed * np.cos(angle)), float(speed * np.sin(angle)))
    # Crop between 1.2 frames and 60% of the photograph's short side: textures at several scales.
    side = float(rng.uniform(1.2 * size, max(1.2 * size, 0.6 * min(height, width))))
    reach = [abs(p) * (num_frames - 1) * side / size + 2 for p in pan]  # pan extent in photograph pixels
    corner = (int(rng.integers(0, max(1, int(width - side - reach[0])))),
              int(rng.integers(0, max(1, int(height - side - reach[1])))))
    return Background(source=source, corner=corner, side=side, pan=pan, flip=bool(rng.random() < 0.5),
                      contrast=float(rng.uniform(0.55, 0.9)))


def render_background(background: Background, size: int, num_frames: int) -> np.ndarray:
    """``(T, size, size, 3) float32`` frames, 0..255, of the panning crop."""
    photograph = _photographs()[background.source]
    x0, y0 = background.corner
    to_photo = background.side / size  # photograph pixels per frame pixel
    start_x = abs(background.pan[0]) * (num_frames - 1) if background.pan[0] < 0 else 0.0
    start_y = abs(background.pan[1]) * (num_frames - 1) if background.pan[1] < 0 else 0.0
    frames = np.empty((num_frames, size, size, 3), dtype=np.float32)
    for t in range(num_frames):
        # A float crop box gives the sub-pixel pan; the box filter averages the photograph's pixels under each
        # frame pixel (the crop is always larger than the frame), which avoids aliasing.
        left = x0 + (start_x + background.pan[0] * t) * to_photo
        top = y0 + (start_y + background.pan[1] * t) * to_photo
        box = (left, top, left + background.side, top + background.side)
        frames[t] = np.asarray(photograph.resize((size, size), Image.Resampling.BOX, box=box), dtype=np.float32)
    if background.flip:
        frames = frames[:, :, ::-1]
    mean = float(frames.mean())
    return mean + (frames - mean) * background.contrast
