"""The SynRVOS expression checker on hand-built tracks: what it must accept and what it must reject."""

from __future__ import annotations

import numpy as np
import pytest

from groprompt.data.synrvos.expressions import (
    Checker,
    ObjectTrack,
    Referring,
    candidates,
    choose_expressions,
    is_unambiguous,
    referents,
)

NAN = np.nan


def track(obj_id: int, size: str, colour: str, shape: str, motion: str, xs: list[float],
          ys: list[float] | None = None) -> ObjectTrack:
    """A track whose centroid x per frame is ``xs`` (nan = absent); y is 50 unless given."""
    ys = ys if ys is not None else [50.0 if not np.isnan(x) else NAN for x in xs]
    return ObjectTrack(obj_id, size, colour, shape, motion, np.array([xs, ys], dtype=float).T)


def test_appearance_needs_exactly_one_fitting_object():
    tracks = [track(1, "small", "red", "circle", "left", [10, 20]),
              track(2, "large", "red", "circle", "still", [60, 60]),
              track(3, "small", "blue", "square", "right", [40, 45])]
    assert is_unambiguous(Referring("appearance", size="small", colour="red"), 1, tracks, 5)
    assert is_unambiguous(Referring("appearance", shape="square"), 3, tracks, 5)
    # "the red circle" fits two objects: rejected.
    assert referents(Referring("appearance", colour="red", shape="circle"), tracks, 5) == [1, 2]
    assert not is_unambiguous(Referring("appearance", colour="red", shape="circle"), 1, tracks, 5)


def test_twins_are_told_apart_by_motion_only():
    twins = [track(1, "small", "red", "circle", "left", [50, 40, 30]),
             track(2, "small", "red", "circle", "up", [20, 20, 20], [60, 50, 40])]
    full = {"size": "small", "colour": "red", "shape": "circle"}
    assert not is_unambiguous(Referring("appearance", **full), 1, twins, 5)
    assert is_unambiguous(Referring("motion", **full, qualifier="left"), 1, twins, 5)
    assert is_unambiguous(Referring("motion", **full, qualifier="up"), 2, twins, 5)
    assert referents(Referring("motion", **full, qualifier="still"), twins, 5) == []


def test_motion_is_rejected_when_shared_or_idle():
    both_left = [track(1, "small", "red", "circle", "left", [50, 40]),
                 track(2, "large", "red", "circle", "left", [90, 80]),
                 track(3, "large", "blue", "square", "still", [10, 10])]
    assert not is_unambiguous(Referring("motion", colour="red", qualifier="left"), 1, both_left, 5)
    # Only one square: its motion would not be what singles it out, so the rule refuses it.
    assert referents(Referring("motion", shape="square", qualifier="still"), both_left, 5) == []
    # Among all shapes, "still" is unique.
    assert is_unambiguous(Referring("motion", qualifier="still"), 3, both_left, 5)


def test_location_holds_over_the_whole_video():
    steady = [track(1, "small", "red", "triangle", "still", [10, 10, 10]),
              track(2, "large", "blue", "triangle", "right", [30, 40, 50])]
    assert is_unambiguous(Referring("location", shape="triangle", qualifier="left"), 1, steady, 5)
    assert is_unambiguous(Referring("location", shape="triangle", qualifier="right"), 2, steady, 5)
    # Paths that cross (triangle 2 starts left of triangle 1 and ends right of it): neither side holds.
    crossing = [track(1, "small", "red", "triangle", "still", [30, 30, 30]),
                track(2, "large", "blue", "triangle", "right", [10, 30, 50])]
    for side in ("left", "right"):
        assert referents(Referring("location", shape="triangle", qualifier=side), crossing, 5) == []


def test_location_margin_and_co_visibility():
    close = [track(1, "small", "red", "cross", "still", [20, 20]),
             track(2, "small", "blue", "cross", "still", [24, 24])]
    assert referents(Referring("location", shape="cross", qualifier="left"), close, 5) == []  # 4 px < margin
    assert referents(Referring("location", shape="cross", qualifier="left"), close, 4) == [1]  # 4 px >= margin
    # Never visible together: "on the left" compares nothing, so it is refused.
    apart = [track(1, "small", "red", "cross", "left", [20, NAN]),
             track(2, "small", "blue", "cross", "up", [NAN, 70])]
    assert referents(Referring("location", shape="cross", qualifier="left"), apart, 5) == []
    # Frames where one of them is absent do not count against the order.
    gaps = [track(1, "small", "red", "cross", "left", [20, NAN, 20]),
            track(2, "small", "blue", "cross", "up", [40, 0, 40])]
    assert referents(Referring("location", shape="cross", qualifier="left"), gaps, 5) == [1]


def test_vertical_sides_use_y_down():
    tracks = [track(1, "small", "red", "star", "still", [50, 50], [10, 10]),
              track(2, "small", "red", "diamond", "still", [50, 50], [80, 80])]
    assert referents(Referring("location", colour="red", qualifier="top"), tracks, 5) == [1]
    assert referents(Referring("location", colour="red", qualifier="bottom"), tracks, 5) == [2]


def test_location_needs_all_others_beaten():
    three = [track(1, "small", "red", "circle", "still", [10, 10]),
             track(2, "small", "red", "circle", "still", [50, 50]),
             track(3, "small", "red", "circle", "still", [30, 30])]
    assert referents(Referring("location", colour="red", qualifier="left"), three, 5) == [1]
    assert referents(Referring("location", colour="red", qualifier="right"), three, 5) == [2]


def test_meanings_validate_and_word_themselves():
    with pytest.raises(ValueError):
        Referring("location", shape="circle", qualifier="up")
    with pytest.raises(ValueError):
        Referring("appearance")
    with pytest.raises(ValueError):
        Referring("colour", colour="red")
    assert Referring("location", shape="triangle", qualifier="left").wordings() == (
        "the triangle on the left", "the leftmost triangle")
    moving = Referring("motion", size="small", colour="blue", qualifier="up")
    assert moving.wordings()[0] == "the small blue shape moving up"
    assert Referring("appearance", "small", "red", "circle").wordings() == ("the small red circle",)


def test_chosen_expressions_are_unambiguous_and_counted():
    tracks = [track(1, "small", "red", "circle", "left", [50, 40, 30]),
              track(2, "small", "red", "circle", "up", [80, 80, 80], [60, 50, 40]),
              track(3, "large", "green", "square", "still", [10, 10, 10])]
    checker = Checker(tracks, 5.0)
    rng = np.random.default_rng(0)
    for target in tracks:
        for _ in range(20):
            chosen = choose_expressions(rng, target, checker, ("appearance", "location", "motion"), 3)
            assert 1 <= len(chosen) <= 3
            assert len({text for _, text in chosen}) == len(chosen)
            for meaning, text in chosen:
                assert checker.referents(meaning) == [target.obj_id] and text in meaning.wordings()
    # Restricted to appearance, the twins have nothing unambiguous.
    assert choose_expressions(rng, tracks[0], checker, ("appearance",), 3) == []
    # 7 descriptions x 1 (appearance) + 8 x 4 sides (location) + 8 x 1 motion.
    assert len(candidates(tracks[0], ("appearance", "location", "motion"))) == 7 + 32 + 8
