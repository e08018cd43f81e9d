"""Evaluation protocols: which prediction is scored against which ground-truth object, on which frames
(docs/method_spec.md §8).

Pure functions over label stacks; no file I/O. A *label stack* is a ``(T, H, W) uint8`` array of per-frame label
maps: 0 background, ``k`` object ``k``; in ground truth, 255 (:data:`~groprompt.data.model.VOID_LABEL`) is void.
Every function returns per-frame J and F in ``[0, 1]`` for each ground-truth object (or expression), so the caller
can compute per-object statistics and global means.

Protocols for whole-video label maps follow the two tasks of the official davis2017-evaluation code (re-implemented
from its rules, not copied):

* **assignment** — the DAVIS-2017 *unsupervised* task, which Ref-DAVIS17 uses:

  - the ground-truth objects are ids ``1..m``, ``m`` the largest id of the *first* ground-truth frame (an id that
    never appears is an object whose mask is empty everywhere; an id above ``m`` seen only later is no object);
  - all ground-truth frames are scored; void pixels are left out of J and cleared from both masks before F's
    boundaries are taken;
  - the proposals are the prediction ids ``1..n``, ``n`` the largest id in any scored frame: an id absent from the
    prediction is an *empty* proposal, as are the proposals added up to the number of objects. An empty proposal
    scores 0 where the object is present and 1 where it is absent (J and F both count empty-vs-empty as perfect);
    ``n`` above :data:`MAX_PROPOSALS` (the official ``max_n_proposals``) is an error;
  - proposals are matched to objects one-to-one, maximising the sum over pairs of ``(mean_t J + mean_t F) / 2``
    (``scipy.optimize.linear_sum_assignment`` on the same matrix as the official code, so ties break alike).

* **semi-supervised** — the DAVIS-2017 semi-supervised task (ground truth: DAVIS ``Annotations/480p``, where the
  first frame's masks are the method's input): the same objects; the first and the last ground-truth frame are not
  scored; void pixels count as background (a prediction on them is a false positive); prediction id ``k`` is
  scored against object ``k``, and an id above ``m`` is an error.

* **strict** — this harness's variant of the unsupervised task: prediction id ``k`` against object ``k`` only
  (empty where the prediction has no id ``k``; other ids ignored), same objects, frames and void rule as the
  assignment. It exposes a prompt that segments the wrong object, which the assignment silently re-labels.

* **expression** — Ref-YouTube-VOS: one binary prediction per expression, scored against the object the
  expression refers to (any id present in some ground-truth frame), on every ground-truth frame, void left out.
  An expression that refers to several objects (MeViS) is scored against the union of their masks
  (:meth:`VideoTruth.union`), as MeViS's ``tools/eval_mevis.py`` adds up its referents' masks: on every frame, a
  frame where none of them is present scoring J = 1 and F = 1 if the prediction is empty there, 0 otherwise.

Differences from the official code (``benchmarks/official_davis_check.py`` runs both side by side):

* results are listed per ground-truth object in id order with the matched prediction id; the official code lists
  the matched pairs in proposal order under the names ``<video>_1..``, so its per-object names can be permuted
  (its values and global means are the same, up to the order of the mean over objects: ~1e-14);
* the decay's temporal bins differ past 255 frames (:func:`groprompt.metrics.decay_bins`);
* refusals are :class:`~groprompt.errors.GroPromptError` s naming the file (the official code prints a message
  and exits); a semi-supervised video of fewer than three frames is refused when planning (the official code
  scores no frame of it and averages nan); ``--allow-missing`` scores a missing prediction file as empty (the
  official code exits).

Speed (same numbers as scoring each pair's masks separately): the J of every (proposal, object) pair comes from one
joint label histogram per frame; each mask's boundary is taken once per frame (the ground truth's once per video,
shared by every prediction of it) and paired with every other by :class:`~groprompt.metrics.boundary.BoundaryScan`;
an empty proposal's scores follow from the ground truth alone; strict and semi-supervised score only their pairs.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from groprompt.data.model import VOID_LABEL, tight_box
from groprompt.errors import GroPromptError
from groprompt.metrics import tolerance_radius
from groprompt.metrics.boundary import BoundaryScan, FrameBoundaries
from groprompt.metrics.region import joint_histogram, pair_region_similarity

PROTOCOLS = ("assignment", "strict", "semi-supervised")
"""Protocols for whole-video label maps (DAVIS / Ref-DAVIS17 layouts)."""

MAX_PROPOSALS = 20
"""The official unsupervised evaluation's ``max_n_proposals``: prediction ids above it are refused."""

UNION_ID = 1
"""The object id of the union of several objects in :meth:`VideoTruth.union`'s ground truth."""


@dataclass(frozen=True)
class ObjectScore:
    """Per-frame scores of one ground-truth object (or expression).

    Attributes:
        object_id: the ground-truth object id (label value).
        pred_id: the prediction id scored against it; ``None`` where it was scored against an empty mask
            (an id the prediction does not contain, a padding proposal, or a binary per-expression prediction).
        j, f: ``(T,) float64`` per-frame region similarity and contour accuracy, in ``[0, 1]``.
    """

    object_id: int
    pred_id: int | None
    j: np.ndarray
    f: np.ndarray


class ProposalError(GroPromptError):
    """A prediction id the protocol refuses; ``frame_index`` is the first scored frame holding it, so the caller
    can name the file."""

    def __init__(self, message: str, frame_index: int, fix: str) -> None:
        super().__init__(message, fix=fix)
        self.frame_index = frame_index


class VideoTruth:
    """A video's ground truth, prepared once and shared by every prediction scored against it.

    Attributes:
        labels: ``(T, H, W) uint8`` label maps (value = object id, 0 background, 255 void).
        ids: the object ids present in any frame, sorted (void excluded): the objects an expression may name.
        davis_ids: ``1..m``, ``m`` the largest id of the first frame: the objects of the label-map protocols.
    """

    def __init__(self, labels: np.ndarray) -> None:
        if labels.ndim != 3:
            raise ValueError(f"ground truth must be (T, H, W) label maps, got shape {labels.shape}")
        self.labels = labels
        counts = label_counts(labels)
        self.ids = [int(value) for value in np.flatnonzero(counts[1:VOID_LABEL]) + 1]
        first = labels[0]
        self.davis_ids = list(range(1, int(first[first != VOID_LABEL].max(initial=0)) + 1))
        # One code per id either list names (0 background, then 1..K), void last: the joint histogram's columns.
        known = sorted(set(self.ids) | set(self.davis_ids))
        self.code = {obj_id: code for code, obj_id in enumerate(known, start=1)}
        self.void_code = len(known) + 1
        lut = np.zeros(VOID_LABEL + 1, dtype=np.uint8)
        lut[known] = np.arange(1, len(known) + 1)
        lut[VOID_LABEL] = self.void_code
        self.codes = lut[labels]
        self.has_void = bool(counts[VOID_LABEL])
        self.scan = BoundaryScan(*labels.shape[1:], tolerance_radius(*labels.shape[1:]))
        self._boundaries: dict[int, FrameBoundaries] = {}
        self._boxes: dict[int, np.ndarray] = {}
        self._unions: dict[tuple[int, ...], VideoTruth] = {}

    def union(self, obj_ids: tuple[int, ...]) -> VideoTruth:
        """The ground truth of an expression that refers to several objects: the pixels of any of ``obj_ids`` as
        object :data:`UNION_ID`, void pixels kept void, every other pixel background. Built once per set of
        objects (a video's expressions may share one)."""
        key = tuple(sorted(obj_ids))
        if key not in self._unions:
            labels = np.where(np.isin(self.labels, key), np.uint8(UNION_ID), np.uint8(0))
            labels[self.labels == VOID_LABEL] = VOID_LABEL
            self._unions[key] = VideoTruth(labels)
        return self._unions[key]

    def boundaries(self, obj_id: int) -> FrameBoundaries:
        """The boundary of object ``obj_id`` on every frame, taken once per video. Void pixels are never object
        pixels, so clearing them (unsupervised task) changes nothing and every protocol shares it."""
        if obj_id not in self._boundaries:
            self._boundaries[obj_id] = self.scan.frame_boundaries(self.labels == obj_id)
        return self._boundaries[obj_id]

    def boxes(self, obj_id: int) -> np.ndarray:
        """``(T, 4) float64`` tight ``(x0, y0, x1, y1)`` pixel boxes (exclusive ends) of object ``obj_id`` per frame;
        nan rows where it is absent. Void pixels are not part of the object. Computed once per object (every
        expression set of a video asks for it)."""
        if obj_id not in self._boxes:
            self._boxes[obj_id] = np.stack([tight_box(frame == obj_id) for frame in self.labels])
        return self._boxes[obj_id]


def label_counts(labels: np.ndarray) -> np.ndarray:
    """``(256,) int64``: how many pixels of a ``(T, H, W) uint8`` stack hold each value."""
    # Frame by frame: bincount casts its input to int64, and one frame's cast stays in the cache (~10x faster).
    counts = np.zeros(VOID_LABEL + 1, dtype=np.int64)
    for frame in labels:
        counts += np.bincount(frame.reshape(-1), minlength=VOID_LABEL + 1)
    return counts


@dataclass(frozen=True)
class _PairScores:
    """Scores of a prediction's proposals against objects over the scored frames (arrays ``(T', ...)``).

    Attributes:
        present: the prediction ids with any pixel, sorted.
        j: ``(T', len(present), len(objects))`` J of every pair.
        f: ``(present index, object index) -> (T',)`` F of the pairs that were asked for.
        empty_j, empty_f: ``(T', len(objects))`` scores of an empty proposal, from the ground truth alone: J is 1
            where the object has no pixel, F is 1 where it has no boundary (an empty or full-frame mask), else 0.
    """

    present: list[int]
    j: np.ndarray
    f: dict[tuple[int, int], np.ndarray]
    empty_j: np.ndarray
    empty_f: np.ndarray

    def pair(self, pred_id: int | None, col: int) -> tuple[np.ndarray, np.ndarray]:
        """``(J, F)`` of prediction id ``pred_id`` (None or absent: an empty proposal) against object ``col``."""
        if pred_id in self.present:
            row = self.present.index(pred_id)
            return np.ascontiguousarray(self.j[:, row, col]), self.f[row, col]
        return np.ascontiguousarray(self.empty_j[:, col]), np.ascontiguousarray(self.empty_f[:, col])


def _score_pairs(pred_labels: np.ndarray, truth: VideoTruth, frames: range, objects: Sequence[int],
                 f_pairs: Collection[tuple[int, int]] | None, void: bool) -> _PairScores:
    """J of every (prediction id, object) pair and F of ``f_pairs`` (prediction id, object id; None: all).

    Args:
        pred_labels: ``(len(frames), H, W)`` the prediction on the scored ground-truth ``frames``.
        void: leave void pixels out (unsupervised task, expressions); False counts them as background
            (semi-supervised task).
    """
    scan = truth.scan
    present = [int(value) for value in np.flatnonzero(label_counts(pred_labels)[1:]) + 1]
    if f_pairs is None:
        f_pairs = [(p, o) for p in present for o in objects]
    wanted = [(present.index(p), list(objects).index(o)) for p, o in f_pairs if p in present]
    pred_lut = np.zeros(VOID_LABEL + 1, dtype=np.uint8)
    pred_lut[present] = np.arange(1, len(present) + 1)
    columns = [truth.code[o] for o in objects]
    n_frames = len(frames)
    j = np.empty((n_frames, len(present), len(objects)))
    f = {pair: np.empty(n_frames) for pair in wanted}
    empty_j = np.empty((n_frames, len(objects)))
    for window in scan.batches(n_frames):
        gt_window = slice(frames[window.start], frames[window.stop - 1] + 1)
        codes = truth.codes[gt_window]
        histogram = joint_histogram(pred_lut[pred_labels[window]], codes, len(present) + 1, truth.void_code + 1)
        void_code = truth.void_code if void else None
        j[window] = pair_region_similarity(histogram, columns, void_code)
        empty_j[window] = histogram[:, :, columns].sum(axis=1) == 0
        if not wanted:
            continue
        keep = ~(codes == truth.void_code) if void and truth.has_void else None
        pred_bounds = {}
        for row in sorted({row for row, _ in wanted}):
            mask = pred_labels[window] == present[row]
            pred_bounds[row] = scan.of_masks(mask if keep is None else mask & keep)
        gt_bounds = {col: scan.of_frames(truth.boundaries(objects[col]), gt_window)
                     for col in sorted({col for _, col in wanted})}
        for row, col in wanted:
            f[row, col][window] = scan.f(pred_bounds[row], gt_bounds[col])
    empty_f = np.stack([truth.boundaries(o).counts[frames.start:frames.stop] == 0 for o in objects], axis=1) \
        if objects else np.empty((n_frames, 0))
    return _PairScores(present, j, f, empty_j, empty_f.astype(np.float64))


def score_label_maps(
    pred_labels: np.ndarray, truth: VideoTruth, protocols: tuple[str, ...] = ("assignment", "strict")
) -> dict[str, list[ObjectScore]]:
    """Score a video's predicted label maps against its ground truth under each protocol (§8).

    Args:
        pred_labels: ``(T, H, W) uint8`` predicted label maps (value = prediction id, 0 background; every non-zero
            value is an id, 255 included: void is a ground-truth notion). For ``semi-supervised``, the ``T - 2``
            frames it scores (all but the first and last ground-truth frame).
        truth: the video's ground truth.
        protocols: ``("semi-supervised",)``, or any of ``"assignment"``, ``"strict"``.

    Returns:
        ``{protocol: [ObjectScore per ground-truth object, in id order]}``; empty lists for a video without
        objects. The J of every pair comes from one histogram; F is computed once per pair any protocol needs.

    Raises:
        ProposalError: assignment: a prediction id above :data:`MAX_PROPOSALS`; semi-supervised: one above the
            number of objects.
    """
    unknown = set(protocols) - set(PROTOCOLS)
    if unknown:
        raise ValueError(f"unknown protocol(s) {sorted(unknown)}; valid: {list(PROTOCOLS)}")
    if "semi-supervised" in protocols and len(protocols) > 1:
        raise ValueError("the semi-supervised task scores other frames than the others: score it alone")
    semi = protocols == ("semi-supervised",)
    frames = range(1, len(truth.labels) - 1) if semi else range(len(truth.labels))
    if pred_labels.shape != (len(frames), *truth.labels.shape[1:]):
        raise ValueError(f"prediction {pred_labels.shape} and the {len(frames)} scored frames of the ground truth "
                         f"{truth.labels.shape} must be equal (T, H, W)")
    objects = truth.davis_ids
    limit = len(objects) if semi else MAX_PROPOSALS if "assignment" in protocols else None
    if limit is not None:
        _check_proposals(pred_labels, limit, semi)
    if semi or protocols == ("strict",):
        pairs = _score_pairs(pred_labels, truth, frames, objects, [(o, o) for o in objects], void=not semi)
        return {protocols[0]: [ObjectScore(o, o if o in pairs.present else None, *pairs.pair(o, col))
                               for col, o in enumerate(objects)]}
    pairs = _score_pairs(pred_labels, truth, frames, objects, None, void=True)
    results = {}
    for protocol in protocols:
        if protocol == "assignment":
            results[protocol] = _assign(pairs, objects)
        else:
            results[protocol] = [ObjectScore(o, o if o in pairs.present else None, *pairs.pair(o, col))
                                 for col, o in enumerate(objects)]
    return results


def _check_proposals(pred_labels: np.ndarray, limit: int, semi: bool) -> None:
    largest = pred_labels.max(axis=(1, 2))
    if not (largest > limit).any():
        return
    t = int(np.argmax(largest > limit))
    if semi:
        raise ProposalError(
            f"prediction id {int(largest[t])} is above the number of ground-truth objects ({limit}); the "
            "semi-supervised task scores id k against object k (ids 1..m, m the largest id of the first "
            "ground-truth frame)", t, fix="number the predicted objects as in the first frame's annotation")
    raise ProposalError(
        f"prediction id {int(largest[t])} is above the {limit} proposals the DAVIS-2017 unsupervised evaluation "
        "allows (it reads every id 1..max as a proposal)", t,
        fix=f"number the predicted objects 1..N with N <= {limit} (or score with --protocol strict)")


def _assign(pairs: _PairScores, objects: list[int]) -> list[ObjectScore]:
    """Per object, the scores of the proposal the DAVIS-2017 matching gives it (an empty one if none)."""
    n_proposals = max(pairs.present, default=0)
    shape = (n_proposals, len(objects), len(pairs.empty_j))
    # (proposal, object, frame) arrays as the official code builds them, so that the means and hence the matching
    # come out bit for bit the same.
    j, f = np.empty(shape), np.empty(shape)
    for row in range(n_proposals):
        for col in range(len(objects)):
            j[row, col], f[row, col] = pairs.pair(row + 1, col)
    empty = np.ascontiguousarray(np.stack([pairs.empty_j.T, pairs.empty_f.T]))
    empty_gain = (empty[0].mean(axis=1) + empty[1].mean(axis=1)) / 2
    rows = match_predictions((j.mean(axis=2) + f.mean(axis=2)) / 2, empty_gain)
    scores = []
    for col, (obj_id, row) in enumerate(zip(objects, rows, strict=True)):
        pred_id = None if row is None or row + 1 not in pairs.present else row + 1
        scores.append(ObjectScore(obj_id, pred_id, *pairs.pair(pred_id, col)))
    return scores


def match_predictions(gain: np.ndarray, empty_gain: np.ndarray) -> list[int | None]:
    """One-to-one matching of proposals to ground-truth objects maximising the total gain (DAVIS-2017 rule).

    Args:
        gain: ``(P, G)`` mean J&F of proposal ``p`` scored against object ``g``.
        empty_gain: ``(G,)`` mean J&F of an empty proposal against object ``g``. As in the official code, the
            proposals are padded with empty ones up to ``G``, so an object may be matched to an empty proposal.

    Returns:
        for each object, the index of its proposal, or ``None`` where a padding proposal was matched.
    """
    n_pred, n_gt = gain.shape
    padded = np.vstack([gain, np.tile(empty_gain, (max(n_gt - n_pred, 0), 1))])
    # The official code minimises the negated matrix; scipy's maximize=True negates it the same way.
    rows, cols = linear_sum_assignment(padded, maximize=True)
    matched = dict(zip(cols.tolist(), rows.tolist()))
    return [matched[col] if matched[col] < n_pred else None for col in range(n_gt)]


def score_expression(pred_mask: np.ndarray, truth: VideoTruth, obj_id: int) -> ObjectScore:
    """Score one expression's binary prediction against its object (Ref-YouTube-VOS protocol, §8).

    Args:
        pred_mask: ``(T, H, W) bool`` predicted mask of the referred object.
        truth: the video's ground truth.
        obj_id: the object the expression refers to; a ``ValueError`` if no frame of ``truth`` contains it.
    """
    if obj_id not in truth.ids:
        raise ValueError(f"object {obj_id} is in no ground-truth frame (objects present: {truth.ids})")
    if pred_mask.shape != truth.labels.shape:
        raise ValueError(f"prediction {pred_mask.shape} and ground truth {truth.labels.shape} must be equal (T, H, W)")
    pairs = _score_pairs(pred_mask.astype(np.uint8), truth, range(len(truth.labels)), [obj_id], [(1, obj_id)],
                         void=True)
    return ObjectScore(obj_id, None, *pairs.pair(1, 0))
