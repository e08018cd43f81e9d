"""Plural referring expressions: one sentence that refers to several objects ("the two red circles", "the circles
moving left"), as MeViS has them; only the MeViS layout writes them (:mod:`.mevis_writer`).

A plural meaning is a :class:`~.expressions.Referring` read in the plural. Its referents follow the singular rules of
:mod:`.expressions` and must number at least two:

* **appearance** ("the two red circles", "the red shapes"): every object the description fits.
* **motion** ("the circles moving left", "the shapes that stay still"): among the objects the description fits, those
  with that motion; at least one object the description fits must move otherwise, so the motion is not idle (the
  plural reading of the singular rule, which needs a second fitting object).

Location is left out: "the circles on the left" has no reading as sharp as the singular "beyond every other candidate
in every frame where both are visible". An expression is written with its whole referent set, so it is unambiguous by
construction: true of exactly those objects and of no other object of the video. A wording with a number ("the two
red circles") says how many there are, which the referent set fixes.
"""

from __future__ import annotations

import itertools

import numpy as np

from groprompt.data.synrvos.expressions import Checker, Referring
from groprompt.data.synrvos.scene import MOTIONS

PLURAL_KINDS: tuple[str, ...] = ("appearance", "motion")
"""The kinds a plural expression may have."""
NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}
"""Number words for referent sets (a video has at most 8 objects, :class:`~.presets.SynRVOSConfig`)."""

PLURAL_TEMPLATES: dict[str, dict[str | None, tuple[str, ...]]] = {
    "appearance": {None: ("the {number} {desc}", "the {desc}")},
    "motion": {
        "left": ("the {desc} moving left", "the {number} {desc} that move to the left"),
        "right": ("the {desc} moving right", "the {number} {desc} that move to the right"),
        "up": ("the {desc} moving up", "the {number} {desc} that move upwards"),
        "down": ("the {desc} moving down", "the {number} {desc} that move downwards"),
        "still": ("the {desc} that stay still", "the {number} motionless {desc}"),
    },
}
"""kind -> qualifier -> wordings; ``{desc}`` is e.g. "small red circles", ``{number}`` e.g. "two"."""


def plural_noun(noun: str) -> str:
    """"circle" -> "circles", "cross" -> "crosses"."""
    return f"{noun}es" if noun.endswith(("s", "x")) else f"{noun}s"


def plural_description(referring: Referring) -> str:
    """E.g. "small red circles"; "shapes" stands in for a missing shape noun."""
    return " ".join(word for word in (referring.size, referring.colour, plural_noun(referring.shape or "shape"))
                    if word)


def plural_wordings(referring: Referring, count: int) -> tuple[str, ...]:
    """Every plural phrasing of ``referring`` for a set of ``count`` objects."""
    return tuple(template.format(desc=plural_description(referring), number=NUMBERS[count])
                 for template in PLURAL_TEMPLATES[referring.kind][referring.qualifier])


def plural_referents(checker: Checker, referring: Referring) -> list[int]:
    """Ids of the objects the plural reading of ``referring`` is true of (module docstring), in id order; empty
    where that is fewer than two objects, or where a motion does not single out a subset of the described objects."""
    if referring.kind not in PLURAL_KINDS:
        raise ValueError(f"a plural expression is one of {', '.join(PLURAL_KINDS)}, not {referring.kind!r}")
    found = checker.referents(referring)
    if referring.kind == "motion" and len(found) == len(checker.described(referring)):
        return []
    return sorted(found) if len(found) >= 2 else []


def plural_candidates(checker: Checker) -> list[tuple[Referring, tuple[int, ...]]]:
    """Every plural meaning true of two or more objects of the video, with its referents, in a fixed order."""
    descriptions = sorted({description for track in checker.tracks
                           for description in itertools.product((None, track.size), (None, track.colour),
                                                                (None, track.shape))}, key=repr)
    motions = [motion for motion in MOTIONS if any(track.motion == motion for track in checker.tracks)]
    found = []
    for description in descriptions:
        meanings = [Referring("motion", *description, qualifier=motion) for motion in motions]
        if description != (None, None, None):
            meanings.insert(0, Referring("appearance", *description))
        for meaning in meanings:
            referents = plural_referents(checker, meaning)
            if referents:
                found.append((meaning, tuple(referents)))
    return found


def plural_count(rng: np.random.Generator, singular: int, share: float) -> int:
    """How many plural expressions a video with ``singular`` single-object expressions asks for, so that plurals
    make up ``share`` of its expressions in expectation: ``share / (1 - share) * singular``, rounded up or down at
    random in proportion."""
    wanted = share / (1.0 - share) * singular
    whole = int(np.floor(wanted))
    return whole + int(rng.random() < wanted - whole)


def choose_plurals(rng: np.random.Generator, checker: Checker,
                   wanted: int) -> list[tuple[tuple[int, ...], Referring, str]]:
    """Up to ``wanted`` distinct plural meanings of the video (fewer if it has fewer), drawn uniformly, as
    ``(referents, meaning, text)``."""
    candidates = plural_candidates(checker)
    count = min(wanted, len(candidates))
    chosen = []
    for index in (rng.choice(len(candidates), count, replace=False) if count else []):
        meaning, referents = candidates[int(index)]
        wordings = plural_wordings(meaning, len(referents))
        chosen.append((referents, meaning, wordings[int(rng.integers(len(wordings)))]))
    return chosen
