"""Referring expressions of SynRVOS: their meaning, when they are unambiguous, and their wording.

Every expression is generated from a :class:`Referring` (its meaning) and kept only if :func:`referents` finds
that it is true of exactly one object of its video, judged over the whole video (``docs/synthetic_benchmark.md``,
"Content"). The rules, per kind:

* **appearance** ("the small red circle"): a *description* — any non-empty subset of size, colour and shape. It
  refers to every object with those attributes.
* **location** ("the triangle on the left", "the leftmost shape"): a description plus a side. Let M be the
  objects the description fits; the expression needs at least two (otherwise the side would be idle). An object
  of M is a referent if, against every other object of M, (a) both are visible together in at least one frame,
  and (b) in *every* frame where both are visible, its mask centroid lies beyond the other's on that side by at
  least ``margin`` pixels. Crossing paths therefore rule a location expression out.
* **motion** ("the blue square moving up"): a description plus a motion. M as above, again at least two objects
  (so the motion is what singles the object out); the referents are the objects of M with that motion.

"Visible" means the object has pixels in the frame's ground-truth mask, so the rules can be re-checked on the
written dataset.

The ``pretrain`` split speaks differently: **grounding phrases** ("red circle", "square", "small blue shape"), a
description only, with no article, side or motion. A phrase is not required to be unambiguous: it names *every*
object of its frame that it fits, as a detection or phrase-grounding annotation does (:func:`choose_phrases`).
Whether a referring expression is a **look-alike** case (its description alone fits another object of the video,
so only the rest of the sentence tells them apart) is :meth:`Checker.is_lookalike`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from groprompt.data.synrvos.scene import COLOURS, MOTIONS, SHAPES, SIZES, SceneObject

KINDS: tuple[str, ...] = ("appearance", "location", "motion")
"""The kinds of referring expression (``train`` and ``valid``)."""
PHRASE = "phrase"
"""The kind of a grounding phrase (``pretrain``): a description that names every object it fits."""
SIDES: tuple[str, ...] = ("left", "right", "top", "bottom")
VOCABULARY = {"shapes": SHAPES, "colours": tuple(COLOURS), "sizes": SIZES, "motions": MOTIONS, "sides": SIDES}
"""Every attribute value expressions use, for the record in ``synrvos.json``."""
_SIDE_AXIS: dict[str, tuple[int, int]] = {"left": (0, -1), "right": (0, 1), "top": (1, -1), "bottom": (1, 1)}
"""side -> (coordinate index in an (x, y) centroid, sign that points towards the side)."""

TEMPLATES: dict[str, dict[str | None, tuple[str, ...]]] = {
    "appearance": {None: ("the {desc}",)},
    PHRASE: {None: ("{desc}",)},
    "location": {
        "left": ("the {desc} on the left", "the leftmost {desc}"),
        "right": ("the {desc} on the right", "the rightmost {desc}"),
        "top": ("the {desc} at the top", "the topmost {desc}"),
        "bottom": ("the {desc} at the bottom", "the lowest {desc}"),
    },
    "motion": {
        "left": ("the {desc} moving left", "the {desc} that moves to the left"),
        "right": ("the {desc} moving right", "the {desc} that moves to the right"),
        "up": ("the {desc} moving up", "the {desc} that moves upwards"),
        "down": ("the {desc} moving down", "the {desc} that moves downwards"),
        "still": ("the {desc} that stays still", "the motionless {desc}"),
    },
}
"""kind -> qualifier -> wordings; ``{desc}`` is e.g. "small red circle", or "red shape" without a shape."""


@dataclass(frozen=True)
class ObjectTrack:
    """What the expression checker knows of one object.

    Attributes:
        obj_id: the object's id.
        size, colour, shape, motion: its attributes.
        centroids: ``(T, 2) float`` ``(x, y)`` centroid of its ground-truth mask per frame, pixels; nan where the
            object is not visible.
    """

    obj_id: int
    size: str
    colour: str
    shape: str
    motion: str
    centroids: np.ndarray

    @property
    def present(self) -> np.ndarray:
        """``(T,) bool``: frames where the object is visible."""
        return ~np.isnan(self.centroids[:, 0])


def tracks_from_labels(objects: Sequence[SceneObject], labels: np.ndarray) -> list[ObjectTrack]:
    """Tracks of ``objects`` from ``(T, H, W)`` label maps (value = ``obj_id``)."""
    num_frames = labels.shape[0]
    ys, xs = np.indices(labels.shape[1:], dtype=np.float64)
    tracks = []
    for obj in objects:
        centroids = np.full((num_frames, 2), np.nan)
        for t in range(num_frames):
            mask = labels[t] == obj.obj_id
            if mask.any():
                centroids[t] = (xs[mask].mean() + 0.5, ys[mask].mean() + 0.5)
        tracks.append(ObjectTrack(obj.obj_id, obj.size, obj.colour, obj.shape, obj.motion, centroids))
    return tracks


@dataclass(frozen=True)
class Referring:
    """The meaning of an expression (see the module docstring for each kind's rule).

    Attributes:
        kind: one of :data:`KINDS`, or :data:`PHRASE`.
        size, colour, shape: the description; None where it does not say.
        qualifier: the side (location, one of :data:`SIDES`) or the motion (motion, one of
            :data:`~.scene.MOTIONS`); None for appearance.
    """

    kind: str
    size: str | None = None
    colour: str | None = None
    shape: str | None = None
    qualifier: str | None = None

    def __post_init__(self) -> None:
        allowed = {"appearance": (None,), "location": SIDES, "motion": MOTIONS, PHRASE: (None,)}
        if self.kind not in allowed:
            raise ValueError(f"unknown expression kind {self.kind!r}; valid: {', '.join(allowed)}")
        if self.qualifier not in allowed[self.kind]:
            raise ValueError(f"qualifier {self.qualifier!r} does not fit a {self.kind} expression")
        if self.kind in ("appearance", PHRASE) and (self.size, self.colour, self.shape) == (None, None, None):
            raise ValueError(f"an {self.kind} expression needs at least one attribute")

    def fits(self, track: ObjectTrack) -> bool:
        """Whether the description (ignoring the qualifier) is true of ``track``."""
        return all(want is None or want == have for want, have in
                   ((self.size, track.size), (self.colour, track.colour), (self.shape, track.shape)))

    @property
    def description(self) -> str:
        """E.g. "small red circle"; "shape" stands in for a missing shape noun."""
        return " ".join(word for word in (self.size, self.colour, self.shape or "shape") if word)

    def wordings(self) -> tuple[str, ...]:
        """Every phrasing of this meaning."""
        return tuple(t.format(desc=self.description) for t in TEMPLATES[self.kind][self.qualifier])


class Checker:
    """Applies the module's rules to the objects of one video.

    The pairwise "beyond on this side" relation is computed once per video, so checking many candidate
    expressions costs little.

    Args:
        tracks: every object of the video.
        margin: the location rule's margin, pixels.
    """

    def __init__(self, tracks: Sequence[ObjectTrack], margin: float) -> None:
        self.tracks = tuple(tracks)
        self._index = {track.obj_id: i for i, track in enumerate(self.tracks)}
        self._fitting: dict[tuple[str | None, str | None, str | None], list[ObjectTrack]] = {}
        if not self.tracks:
            self._beyond: dict[str, np.ndarray] = {side: np.zeros((0, 0), dtype=bool) for side in SIDES}
            return
        centroids = np.stack([track.centroids for track in self.tracks])  # (N, T, 2)
        present = ~np.isnan(centroids[..., 0])  # (N, T)
        both = present[:, None, :] & present[None, :, :]  # (N, N, T)
        self._beyond = {}
        for side, (axis, sign) in _SIDE_AXIS.items():
            with np.errstate(invalid="ignore"):
                ahead = sign * (centroids[:, None, :, axis] - centroids[None, :, :, axis]) >= margin
            self._beyond[side] = both.any(axis=2) & np.all(ahead | ~both, axis=2)

    def _fits(self, referring: Referring) -> list[ObjectTrack]:
        """The objects the description of ``referring`` fits (its qualifier ignored)."""
        description = (referring.size, referring.colour, referring.shape)
        fitting = self._fitting.get(description)
        if fitting is None:
            fitting = self._fitting[description] = [track for track in self.tracks if referring.fits(track)]
        return fitting

    def described(self, referring: Referring) -> list[int]:
        """Ids of the objects the description of ``referring`` fits, its qualifier ignored (every object for a
        description that says nothing: "shape")."""
        return [track.obj_id for track in self._fits(referring)]

    def referents(self, referring: Referring) -> list[int]:
        """Ids of the objects ``referring`` is true of, over the whole video."""
        fitting = self._fits(referring)
        if referring.kind in ("appearance", PHRASE):
            return [track.obj_id for track in fitting]
        if len(fitting) < 2:
            return []
        if referring.kind == "motion":
            return [track.obj_id for track in fitting if track.motion == referring.qualifier]
        beyond = self._beyond[referring.qualifier]
        rows = [self._index[track.obj_id] for track in fitting]
        return [track.obj_id for track, i in zip(fitting, rows) if all(beyond[i, j] for j in rows if j != i)]

    def is_unambiguous(self, referring: Referring, target: int) -> bool:
        """Whether ``referring`` picks out object ``target`` and nothing else."""
        return self.referents(referring) == [target]

    def is_lookalike(self, referring: Referring) -> bool:
        """Whether the description of ``referring`` fits more than one object of the video: the case a phrase
        grounder cannot resolve, since only the side or the motion tells the objects apart. True of every
        location and motion expression (their rules need two fitting objects), never of an unambiguous
        appearance one."""
        return len(self._fits(referring)) > 1


def referents(referring: Referring, tracks: Sequence[ObjectTrack], margin: float) -> list[int]:
    """Ids of the objects ``referring`` is true of, over the whole video; ``margin`` in pixels (location only)."""
    return Checker(tracks, margin).referents(referring)


def is_unambiguous(referring: Referring, target: int, tracks: Sequence[ObjectTrack], margin: float) -> bool:
    """Whether ``referring`` picks out object ``target`` and nothing else."""
    return Checker(tracks, margin).is_unambiguous(referring, target)


def candidates(track: ObjectTrack, kinds: Sequence[str]) -> list[Referring]:
    """Every meaning of the given kinds that is at least true of ``track``, in a fixed order."""
    found = []
    for size, colour, shape in itertools.product((None, track.size), (None, track.colour), (None, track.shape)):
        for kind in kinds:
            qualifiers = {"appearance": (None,), "location": SIDES, "motion": (track.motion,)}[kind]
            for qualifier in qualifiers:
                if kind == "appearance" and (size, colour, shape) == (None, None, None):
                    continue
                found.append(Referring(kind, size, colour, shape, qualifier))
    return found


def choose_phrases(rng: np.random.Generator, checker: Checker,
                   max_count: int) -> list[tuple[Referring, str, list[int]]]:
    """1..``max_count`` distinct grounding phrases of a still frame, as ``(meaning, text, referents)``.

    Drawn uniformly from every description (non-empty subset of size, colour and shape) that fits at least one
    object of the frame; ``referents`` are the ids of every object it fits, in id order (several where objects
    share the described attributes).
    """
    descriptions = sorted({(size, colour, shape) for track in checker.tracks
                           for size, colour, shape in itertools.product((None, track.size), (None, track.colour),
                                                                        (None, track.shape))
                           if (size, colour, shape) != (None, None, None)}, key=repr)
    wanted = min(int(rng.integers(1, max_count + 1)), len(descriptions))
    chosen = [Referring(PHRASE, *descriptions[int(i)]) for i in rng.choice(len(descriptions), wanted, replace=False)]
    return [(meaning, meaning.wordings()[0], checker.referents(meaning)) for meaning in chosen]


def choose_expressions(rng: np.random.Generator, target: ObjectTrack, checker: Checker, kinds: Sequence[str],
                       max_count: int) -> list[tuple[Referring, str]]:
    """1..``max_count`` expressions for ``target`` that ``checker`` finds unambiguous, as ``(meaning, text)``;
    as many kinds as possible before a second of any kind; empty if no meaning of ``kinds`` is unambiguous."""
    valid = [r for r in candidates(target, kinds) if checker.is_unambiguous(r, target.obj_id)]
    pools = {kind: [r for r in valid if r.kind == kind] for kind in kinds}
    order = [kinds[int(i)] for i in rng.permutation(len(kinds))]
    wanted = int(rng.integers(1, max_count + 1))
    chosen: list[Referring] = []
    while len(chosen) < wanted and any(pools.values()):
        for kind in order:
            if pools[kind] and len(chosen) < wanted:
                chosen.append(pools[kind].pop(int(rng.integers(len(pools[kind])))))
    result = []
    for referring in chosen:
        wordings = referring.wordings()
        result.append((referring, wordings[int(rng.integers(len(wordings)))]))
    return result
