"""Rendering a :class:`~.scene.Scene` into frames and label maps.

Shapes are drawn with 4x4 supersampling, so their edges are anti-aliased: a pixel's coverage ``a`` in [0, 1] mixes
the object's colour into what lies below. Objects are drawn in ``obj_id`` order (higher ids on top). An object's
ground-truth mask is its *visible* part: the pixels where its coverage, attenuated by everything drawn above it,
is at least one half — so an occluded object's mask lacks what hides it, and a fully hidden or off-frame object is
absent from the frame's label map. Each object gets a brightness gradient and texture noise, and every frame a
near-Gaussian sensor noise, so a box is not already a mask (``docs/synthetic_benchmark.md``, "Segmentation that is not
trivial").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from groprompt.data.synrvos.backgrounds import render_background
from groprompt.data.synrvos.scene import Scene, SceneObject

SUPERSAMPLING = 4
OBJECT_TEXTURE_SIGMA = 5.0
"""Grey levels of per-pixel noise on an object's colour (its surface texture)."""


_TRIANGULAR_STD = math.sqrt(2 * (256**2 - 1) / 12)
"""Standard deviation of the sum of two independent uniform bytes."""


def noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Zero-mean, near-Gaussian pixel noise of standard deviation ``sigma``: ``float32`` of ``shape``.

    The sum of two uniform random bytes (a triangular distribution) is four times cheaper to draw than normal
    deviates on this CPU, and noise this small does not need Gaussian tails.
    """
    count = math.prod(shape)
    raw = np.frombuffer(rng.bytes(2 * count), dtype=np.uint8).reshape(2, *shape)
    return (raw[0].astype(np.float32) + raw[1] - 255.0) * np.float32(sigma / _TRIANGULAR_STD)


def _star(points: int, inner: float) -> list[tuple[float, float]]:
    return [((1.0 if k % 2 == 0 else inner) * math.cos(-math.pi / 2 + k * math.pi / points),
             (1.0 if k % 2 == 0 else inner) * math.sin(-math.pi / 2 + k * math.pi / points))
            for k in range(2 * points)]


def _cross(half_width: float) -> list[tuple[float, float]]:
    arm = math.sqrt(1.0 - half_width**2)  # the arm ends' corners lie on the unit circle
    w = half_width
    return [(-w, -arm), (w, -arm), (w, -w), (arm, -w), (arm, w), (w, w), (w, arm), (-w, arm), (-w, w),
            (-arm, w), (-arm, -w), (-w, -w)]


OUTLINES: dict[str, list[tuple[float, float]]] = {
    "square": [(-math.sqrt(0.5), -math.sqrt(0.5)), (math.sqrt(0.5), -math.sqrt(0.5)),
               (math.sqrt(0.5), math.sqrt(0.5)), (-math.sqrt(0.5), math.sqrt(0.5))],
    # A rhombus, not a square turned by 45 degrees, so that no rotation makes it look like the square.
    "diamond": [(0.0, -1.0), (0.6, 0.0), (0.0, 1.0), (-0.6, 0.0)],
    "triangle": [(math.cos(a), math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)],
    "cross": _cross(0.33),
    "star": _star(5, 0.45),
}
"""Polygon outlines of unit circumradius, ``(x, y)`` with ``y`` down; the circle is drawn as an ellipse."""


@dataclass(frozen=True)
class Rendering:
    """A rendered scene.

    Attributes:
        frames: ``(T, H, W, 3) uint8`` RGB.
        labels: ``(T, H, W) uint8``: 0 background, else the ``obj_id`` whose visible coverage is >= 0.5.
        full_area: ``(T, N) int``: pixels each object would cover in the frame (coverage >= 0.5) with nothing
            drawn above it; objects in ``scene.objects`` order.
        visible_area: ``(T, N) int``: pixels of each object's mask in ``labels``.
    """

    frames: np.ndarray
    labels: np.ndarray
    full_area: np.ndarray
    visible_area: np.ndarray


def coverage(obj: SceneObject, t: int, num_frames: int, size: int) -> tuple[np.ndarray, slice, slice]:
    """The object's anti-aliased coverage at frame ``t``: a ``float32`` array in [0, 1] and the frame rows and
    columns (slices) it covers; an empty array where the object is outside the frame.

    PIL fills every sub-sample an edge touches, so shapes come out up to ~4% larger in area than their nominal
    outline; frames and masks are both drawn from this coverage, so they agree exactly.
    """
    cx, cy = obj.centre(t)
    radius = obj.radius_at(t, num_frames)
    x0, x1 = max(0, math.floor(cx - radius) - 1), min(size, math.ceil(cx + radius) + 1)
    y0, y1 = max(0, math.floor(cy - radius) - 1), min(size, math.ceil(cy + radius) + 1)
    rows, cols = slice(y0, max(y0, y1)), slice(x0, max(x0, x1))
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 0), dtype=np.float32), rows, cols
    ss = SUPERSAMPLING
    canvas = Image.new("L", ((x1 - x0) * ss, (y1 - y0) * ss), 0)
    draw = ImageDraw.Draw(canvas)

    def to_canvas(x: float, y: float) -> tuple[float, float]:
        # PIL places integer coordinates at pixel centres; ours put them at pixel corners.
        return ((x - x0) * ss - 0.5, (y - y0) * ss - 0.5)

    if obj.shape == "circle":
        draw.ellipse([to_canvas(cx - radius, cy - radius), to_canvas(cx + radius, cy + radius)], fill=255)
    else:
        cos, sin = math.cos(math.radians(obj.angle)), math.sin(math.radians(obj.angle))
        draw.polygon([to_canvas(cx + radius * (u * cos - v * sin), cy + radius * (u * sin + v * cos))
                      for u, v in OUTLINES[obj.shape]], fill=255)
    # PIL's reduce averages each ss x ss block: the pixel's covered share, in 1/255 steps.
    return np.asarray(canvas.reduce(ss), dtype=np.float32) / 255.0, rows, cols


def _paint(obj: SceneObject, t: int, rows: slice, cols: slice, rng: np.random.Generator,
           num_frames: int) -> np.ndarray:
    """The object's colour over ``rows x cols``: ``(h, w, 3) float32``, shaded and textured."""
    cx, cy = obj.centre(t)
    radius = obj.radius_at(t, num_frames)
    ys = np.arange(rows.start, rows.stop, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(cols.start, cols.stop, dtype=np.float32)[None, :] + 0.5
    light = 1.0 + (obj.shading[0] * (xs - cx) + obj.shading[1] * (ys - cy)) / radius
    colour = np.asarray(obj.rgb, dtype=np.float32) * light[..., None]
    return colour + noise(rng, colour.shape, OBJECT_TEXTURE_SIGMA)


def render(scene: Scene, rng: np.random.Generator) -> Rendering:
    """Draw every frame of ``scene``; ``rng`` supplies the texture and sensor noise."""
    size, num_frames, count = scene.size, scene.num_frames, len(scene.objects)
    images = render_background(scene.background, size, num_frames)
    labels = np.zeros((num_frames, size, size), dtype=np.uint8)
    full_area = np.zeros((num_frames, count), dtype=np.int64)
    visible_area = np.zeros((num_frames, count), dtype=np.int64)
    label_of = np.array([0] + [obj.obj_id for obj in scene.objects], dtype=np.uint8)
    for t in range(num_frames):
        image = images[t]
        alphas = np.zeros((count, size, size), dtype=np.float32)
        for index, obj in enumerate(scene.objects):
            alpha, rows, cols = coverage(obj, t, num_frames, size)
            if alpha.size == 0:
                continue
            alphas[index, rows, cols] = alpha
            a = alpha[..., None]
            image[rows, cols] = image[rows, cols] * (1.0 - a) + _paint(obj, t, rows, cols, rng, num_frames) * a
        # Visible coverage: each object's coverage times the transparency of everything drawn above it.
        visible = np.empty_like(alphas)
        transparency = np.ones((size, size), dtype=np.float32)
        for index in reversed(range(count)):
            visible[index] = alphas[index] * transparency
            transparency *= 1.0 - alphas[index]
        if count:
            # 1 + index of the object owning each pixel, 0 for background; at most one visible coverage can
            # reach 0.5 because they sum to at most 1.
            owner = np.where(visible.max(axis=0) >= 0.5, visible.argmax(axis=0) + 1, 0)
            labels[t] = label_of[owner]
            full_area[t] = (alphas >= 0.5).sum(axis=(1, 2))
            visible_area[t] = np.bincount(owner.ravel(), minlength=count + 1)[1:]
        image += noise(rng, image.shape, scene.noise_sigma)
    frames = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    return Rendering(frames=frames, labels=labels, full_area=full_area, visible_area=visible_area)
