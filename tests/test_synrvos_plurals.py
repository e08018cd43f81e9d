"""Plural SynRVOS expressions on hand-built tracks: which sets of objects one sentence may refer to."""

from __future__ import annotations

import numpy as np
import pytest

from groprompt.data.synrvos.expressions import Checker, ObjectTrack, Referring
from groprompt.data.synrvos.plurals import choose_plurals, plural_candidates, plural_count, plural_referents


def track(obj_id: int, size: str, colour: str, shape: str, motion: str) -> ObjectTrack:
    return ObjectTrack(obj_id, size, colour, shape, motion, np.array([[10.0 * obj_id, 50.0]] * 3))


TRACKS = [track(1, "small", "red", "circle", "left"), track(2, "large", "red", "circle", "left"),
          track(3, "small", "red", "cross", "right"), track(4, "small", "blue", "circle", "left")]


def test_plural_referents_are_every_described_object_and_at_least_two():
    checker = Checker(TRACKS, 5)
    assert plural_referents(checker, Referring("appearance", colour="red")) == [1, 2, 3]
    assert plural_referents(checker, Referring("appearance", shape="circle")) == [1, 2, 4]
    assert plural_referents(checker, Referring("appearance", size="large")) == []  # one object: singular
    assert plural_referents(checker, Referring("motion", colour="red", qualifier="left")) == [1, 2]
    # Every circle moves left: the motion would be idle, "the circles" says it.
    assert plural_referents(checker, Referring("motion", shape="circle", qualifier="left")) == []
    with pytest.raises(ValueError, match="appearance, motion, not 'location'"):
        plural_referents(checker, Referring("location", shape="circle", qualifier="left"))


def test_candidates_and_choices_are_plural_meanings_with_their_referents():
    checker = Checker(TRACKS, 5)
    candidates = plural_candidates(checker)
    assert (Referring("motion", qualifier="left"), (1, 2, 4)) in candidates
    assert all(len(referents) >= 2 and list(referents) == plural_referents(checker, meaning)
               for meaning, referents in candidates)
    chosen = choose_plurals(np.random.default_rng(0), checker, 100)
    assert len(chosen) == len(candidates) == len({meaning for _, meaning, _ in chosen})
    texts = {text for _, _, text in chosen}
    assert texts & {"the three red shapes", "the red shapes"} and not any("circle " in t for t in texts)
    unlike = [TRACKS[2], track(5, "large", "blue", "square", "still")]  # nothing in common
    assert choose_plurals(np.random.default_rng(0), Checker(unlike, 5), 3) == []


def test_plural_count_asks_for_the_share_in_expectation():
    rng = np.random.default_rng(0)
    counts = [plural_count(rng, 6, 0.3) for _ in range(4000)]
    assert set(counts) == {2, 3} and np.mean(counts) == pytest.approx(6 * 0.3 / 0.7, abs=0.03)
    assert plural_count(rng, 6, 0.0) == 0
