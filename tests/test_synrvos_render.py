"""SynRVOS rendering: anti-aliased coverage, shape areas, occlusion and absence in the label maps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from groprompt.data.model import tight_box
from groprompt.data.synrvos.backgrounds import Background, available_backgrounds
from groprompt.data.synrvos.render import coverage, noise, render
from groprompt.data.synrvos.scene import Scene, SceneObject


def obj(obj_id: int, shape: str, centre: tuple[float, float], radius: float, *, motion: str = "still",
        speed: float = 0.0, angle: float = 0.0, growth: float = 1.0) -> SceneObject:
    return SceneObject(obj_id=obj_id, shape=shape, colour="red", size="large", motion=motion, radius=radius,
                       growth=growth, angle=angle, start=centre, speed=speed, rgb=(220, 30, 30), shading=(0.0, 0.0))


def scene(objects: list[SceneObject], num_frames: int = 1, size: int = 64) -> Scene:
    background = Background(source=available_backgrounds()[0], corner=(0, 0), side=1.5 * size, pan=(0.0, 0.0),
                            flip=False, contrast=0.7)
    return Scene(size=size, num_frames=num_frames, objects=tuple(objects), background=background, noise_sigma=3.0)


@pytest.mark.parametrize(("shape", "area_per_r2"), [
    ("circle", math.pi),
    ("square", 2.0),                        # side r*sqrt(2)
    ("triangle", 3 * math.sqrt(3) / 4),     # equilateral, circumradius r
    ("diamond", 1.2),                       # rhombus with diagonals 2r and 1.2r
    ("cross", 4 * 0.33 * math.sqrt(1 - 0.33**2) * 2 - 4 * 0.33**2),  # two 2a x 2w bars minus their overlap
])
def test_coverage_sums_to_the_shape_area(shape: str, area_per_r2: float):
    radius = 12.0
    alpha, rows, cols = coverage(obj(1, shape, (32.3, 31.7), radius, angle=13.0), 0, 1, 64)
    assert alpha.shape == (rows.stop - rows.start, cols.stop - cols.start)
    # PIL fills the sub-samples an edge passes through, which adds up to ~4% at 4x4 supersampling.
    assert 1.0 <= alpha.sum() / (area_per_r2 * radius**2) <= 1.05
    # Anti-aliased: the edge has partial coverage, the inside full coverage.
    assert ((alpha > 0.05) & (alpha < 0.95)).sum() > 10 and alpha.max() == 1.0


def test_coverage_of_an_object_outside_the_frame_is_empty():
    alpha, _, _ = coverage(obj(1, "circle", (-30.0, 20.0), 8.0), 0, 1, 64)
    assert alpha.size == 0


def test_triangle_mask_fills_half_its_box():
    # An upright equilateral triangle covers exactly half of its bounding box.
    rendering = render(scene([obj(1, "triangle", (32.0, 34.0), 20.0)]), np.random.default_rng(0))
    mask = rendering.labels[0] == 1
    x0, y0, x1, y1 = tight_box(mask)
    assert mask.sum() / ((x1 - x0) * (y1 - y0)) == pytest.approx(0.5, abs=0.04)


def test_occluded_object_keeps_only_its_visible_part():
    below, above = obj(1, "square", (28.0, 32.0), 14.0), obj(2, "circle", (40.0, 32.0), 10.0)
    rendering = render(scene([below, above]), np.random.default_rng(0))
    labels = rendering.labels[0]
    alone = render(scene([below]), np.random.default_rng(0)).labels[0] == 1
    circle = render(scene([above]), np.random.default_rng(0)).labels[0] == 2
    # The circle is on top: all of it is visible; the square loses what the circle hides.
    assert np.array_equal(labels == 2, circle)
    assert np.array_equal(labels == 1, alone & ~circle)
    assert rendering.visible_area[0, 0] < rendering.full_area[0, 0] == alone.sum()
    assert rendering.visible_area[0, 1] == rendering.full_area[0, 1]


def test_object_leaving_the_frame_is_absent_from_later_label_maps():
    leaving = obj(1, "circle", (50.0, 32.0), 6.0, motion="right", speed=10.0)
    staying = obj(2, "square", (16.0, 16.0), 6.0)
    rendering = render(scene([leaving, staying], num_frames=4), np.random.default_rng(0))
    present = [(1 in frame, 2 in frame) for frame in rendering.labels]
    # Centre x: 50, 60, 70, 80 with radius 6 in a 64-pixel frame: gone from frame 2 on.
    assert present == [(True, True), (True, True), (False, True), (False, True)]
    assert rendering.frames.shape == (4, 64, 64, 3) and rendering.frames.dtype == np.uint8


def test_growth_changes_apparent_size():
    growing = obj(1, "circle", (32.0, 32.0), 8.0, growth=1.5)
    areas = render(scene([growing], num_frames=3), np.random.default_rng(0)).visible_area[:, 0]
    assert areas[2] / areas[0] == pytest.approx(1.5**2, rel=0.08)


def test_noise_has_the_requested_spread():
    sample = noise(np.random.default_rng(1), (200, 200), 4.0)
    assert sample.dtype == np.float32
    assert abs(float(sample.mean())) < 0.1 and float(sample.std()) == pytest.approx(4.0, rel=0.03)
