"""What a SynRVOS video contains: its objects (appearance, size, motion, path) and its background.

A :class:`Scene` is pure geometry and attributes, sampled from a seeded generator; :mod:`.render` turns it into
frames and masks. The vocabulary (shapes, named colours, sizes, motions) is what the expression templates speak
about (``docs/synthetic_benchmark.md``, "Content").

Coordinates are continuous pixels, ``x`` to the right and ``y`` down, with pixel ``(i, j)`` covering
``[j, j+1) x [i, i+1)``. Motions are constant velocities in frame coordinates (the background pans independently,
as a camera would).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from groprompt.data.synrvos.backgrounds import Background, sample_background
from groprompt.data.synrvos.presets import SynRVOSConfig

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "diamond", "star")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "orange": (245, 135, 20),
    "yellow": (240, 220, 40),
    "green": (40, 170, 60),
    "blue": (35, 85, 230),
    "purple": (140, 55, 200),
    "white": (240, 240, 240),
}
"""Named colours and their base RGB; each object gets a small random tint around its base."""
SIZES: tuple[str, ...] = ("small", "large")
MOTIONS: tuple[str, ...] = ("left", "right", "up", "down", "still")
DIRECTIONS: dict[str, tuple[int, int]] = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1),
                                          "still": (0, 0)}

MAX_ROTATION = 20.0
"""Degrees; small enough that a rotated square never looks like a diamond (a square turned by 45 degrees)."""

Item = TypeVar("Item")


@dataclass(frozen=True)
class SceneObject:
    """One object of a scene.

    Attributes:
        obj_id: 1-based id, the object's label value in the annotation PNGs and its depth: higher ids are drawn
            on top of lower ones.
        shape, colour, size, motion: the attributes expressions speak about (see the module constants).
        radius: circumradius at the first frame, pixels.
        growth: radius at the last frame divided by radius at the first (1 = constant apparent size).
        angle: rotation, degrees, constant over the video.
        start: ``(x, y)`` centre at the first frame, pixels (may lie outside the frame).
        speed: pixels per frame along the motion's direction (0 for ``still``).
        rgb: the object's actual colour (its named colour plus a small tint), 0..255.
        shading: ``(gx, gy)`` brightness gradient across the object, relative change per radius.
    """

    obj_id: int
    shape: str
    colour: str
    size: str
    motion: str
    radius: float
    growth: float
    angle: float
    start: tuple[float, float]
    speed: float
    rgb: tuple[int, int, int]
    shading: tuple[float, float]

    @property
    def appearance(self) -> tuple[str, str, str]:
        return (self.size, self.colour, self.shape)

    def centre(self, t: int) -> tuple[float, float]:
        """``(x, y)`` centre at frame ``t``, pixels."""
        dx, dy = DIRECTIONS[self.motion]
        return (self.start[0] + dx * self.speed * t, self.start[1] + dy * self.speed * t)

    def radius_at(self, t: int, num_frames: int) -> float:
        """Circumradius at frame ``t``: linear from ``radius`` to ``radius * growth``."""
        fraction = t / (num_frames - 1) if num_frames > 1 else 0.0
        return self.radius * (1.0 + (self.growth - 1.0) * fraction)


@dataclass(frozen=True)
class Scene:
    """A whole video before rendering: ``size x size`` frames, objects in drawing order, a background."""

    size: int
    num_frames: int
    objects: tuple[SceneObject, ...]
    background: Background
    noise_sigma: float

    def twin_pairs(self) -> list[tuple[int, int]]:
        """``(obj_id, obj_id)`` pairs of objects with the same shape, colour and size."""
        return [(a.obj_id, b.obj_id) for i, a in enumerate(self.objects) for b in self.objects[i + 1:]
                if a.appearance == b.appearance]


def _pick(rng: np.random.Generator, options: list[Item] | tuple[Item, ...]) -> Item:
    # Indexing keeps Python types (rng.choice would return numpy strings) and works on any sequence.
    return options[int(rng.integers(len(options)))]


def _sample_appearances(rng: np.random.Generator, count: int, config: SynRVOSConfig,
                        twins: bool) -> list[tuple[str, str, str]]:
    """``count`` distinct (size, colour, shape) triples, often sharing a shape or colour; with ``twins``, two of
    them are then made identical (and only those two)."""
    chosen: list[tuple[str, str, str]] = []
    while len(chosen) < count:
        shapes_used = [shape for _, _, shape in chosen]
        colours_used = [colour for _, colour, _ in chosen]
        shape = _pick(rng, shapes_used) if shapes_used and rng.random() < config.share_rate else _pick(rng, SHAPES)
        colour = (_pick(rng, colours_used) if colours_used and rng.random() < config.share_rate
                  else _pick(rng, list(COLOURS)))
        candidate = (_pick(rng, SIZES), colour, shape)
        if candidate not in chosen:
            chosen.append(candidate)
    if twins:
        first, second = (int(i) for i in rng.choice(count, size=2, replace=False))
        chosen[second] = chosen[first]
    return chosen


def _sample_path(rng: np.random.Generator, config: SynRVOSConfig, motion: str, radius: float,
                 num_frames: int) -> tuple[tuple[float, float], float]:
    """Start centre and speed: inside the frame throughout, or (with ``cross_edge_rate``) crossing its border.

    A crossing path takes the object wholly out of the frame for at least one frame (it enters or leaves) where
    the speed allows, else partly; either way its centre stays inside the frame for enough frames that the object
    is well visible there. The renderer's visibility check has the last word.
    """
    size = config.frame_size
    if motion == "still":
        x, y = rng.uniform(radius, size - radius, size=2)
        return (float(x), float(y)), 0.0
    speed = float(rng.uniform(*config.speed) * size)
    travel = speed * (num_frames - 1)
    across = float(rng.uniform(radius, size - radius))
    # ``along`` is the coordinate in the direction of motion, measured so that it grows with time.
    inside_high = size - radius - travel
    along = None
    if inside_high < radius or rng.random() < config.cross_edge_rate:
        needed = math.ceil(config.min_visible_share * num_frames) + 1
        starts = rng.uniform(-radius - travel, size + radius, size=100)
        paths = starts[:, None] + speed * np.arange(num_frames)
        enough = ((paths >= 0) & (paths <= size)).sum(axis=1) >= needed
        outside = (paths.min(axis=1) < -radius) | (paths.max(axis=1) > size + radius)
        cut = (paths.min(axis=1) < radius) | (paths.max(axis=1) > size - radius)
        for usable in (enough & outside, enough & cut):
            if usable.any():
                along = float(starts[np.argmax(usable)])
                break
    if along is None:
        along = float(rng.uniform(radius, max(radius, inside_high)))
    dx, dy = DIRECTIONS[motion]
    along_coordinate = along if dx + dy > 0 else size - along
    start = (along_coordinate, across) if dx else (across, along_coordinate)
    return start, speed


def sample_scene(rng: np.random.Generator, config: SynRVOSConfig, *, still: bool,
                 backgrounds: tuple[str, ...]) -> Scene:
    """A random scene: a video of ``frames_min..frames_max`` frames, or (``still``) a single frame whose objects
    are all ``still`` with constant size. ``backgrounds`` names the photographs to draw from."""
    size = config.frame_size
    num_frames = 1 if still else int(rng.integers(config.frames_min, config.frames_max + 1))
    count = int(rng.integers(config.objects_min, config.objects_max + 1))
    twins = rng.random() < config.twin_rate
    appearances = _sample_appearances(rng, count, config, twins)
    motions: list[str] = []
    for appearance in appearances:
        # Twins must differ in motion (in still frames only location can tell them apart).
        taken = [m for a, m in zip(appearances, motions) if a == appearance]
        options = ["still"] if still else [m for m in MOTIONS if m not in taken]
        motions.append(_pick(rng, options))
    objects = []
    for index, ((size_name, colour, shape), motion) in enumerate(zip(appearances, motions)):
        low, high = config.small_radius if size_name == "small" else config.large_radius
        radius = float(rng.uniform(low, high) * size)
        growth = (float(rng.uniform(*config.size_change))
                  if not still and rng.random() < config.size_change_rate else 1.0)
        start, speed = _sample_path(rng, config, motion, radius * max(1.0, growth), num_frames)
        tint = rng.integers(-12, 13, size=3)
        rgb = tuple(int(np.clip(c + d, 0, 255)) for c, d in zip(COLOURS[colour], tint))
        direction = rng.uniform(0, 2 * math.pi)
        strength = float(rng.uniform(0.0, 0.3))
        objects.append(SceneObject(
            obj_id=index + 1, shape=shape, colour=colour, size=size_name, motion=motion, radius=radius,
            growth=growth, angle=float(rng.uniform(-MAX_ROTATION, MAX_ROTATION)), start=start, speed=speed,
            rgb=rgb, shading=(strength * math.cos(direction), strength * math.sin(direction)),
        ))
    background = sample_background(rng, backgrounds, size, num_frames, config.pan_speed)
    return Scene(size=size, num_frames=num_frames, objects=tuple(objects), background=background,
                 noise_sigma=float(rng.uniform(*config.noise_sigma)))
