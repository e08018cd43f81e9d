"""Evaluation protocols: which prediction is scored against which ground-truth object (docs/method_spec.md §8).

Pure functions over label stacks; no file I/O. A *label stack* is a ``(T, H, W) uint8`` array of per-frame label
maps: 0 background, ``k`` object ``k``; in ground truth, 255 (:data:`~groprompt.data.model.VOID_LABEL`) is void and
is excluded from J and F. Every function returns per-frame J and F in ``[0, 1]`` for each ground-truth object (or
expression), so the caller can compute per-object statistics and global means.

Protocols:

* **assignment** — the DAVIS-2017 "unsupervised" evaluation, which Ref-DAVIS17 uses. Facts taken from the official
  davis2017-evaluation code (re-implemented, not copied):

  - all frames of the ground truth are scored; a prediction id absent from a frame is an empty mask there;
  - the prediction ids are padded with empty masks up to the number of ground-truth objects, so a ground-truth
    object left without a real prediction is scored against an *empty* mask: 0 on frames where it is present,
    1 on frames where it is absent (J and F both count an empty-vs-empty frame as perfect);
  - predictions are matched to ground-truth objects one-to-one, maximising the sum over pairs of
    ``(mean_t J + mean_t F) / 2`` (Hungarian, ``scipy.optimize.linear_sum_assignment``).

  Two differences from the official code, neither of which changes a global score when every object appears in
  the first frame with ids ``1..N`` (as in DAVIS): the ground-truth objects are the ids present in *any* frame
  (the official code takes ``1..max`` of the first frame's labels),
  and results are reported per ground-truth object in id order with the matched prediction id (the official code
  lists the matched pairs in prediction order under the ground-truth objects' names). The official code also
  refuses more than 20 prediction ids; here any number is scored.
* **strict** — prediction id ``k`` is scored against ground-truth object ``k`` only (empty where the prediction has
  no id ``k``). It exposes a prompt that segments the wrong object, which the assignment silently re-labels.
* **expression** — Ref-YouTube-VOS: one binary prediction per expression, scored against the object the
  expression refers to.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from groprompt.data.model import VOID_LABEL, tight_box
from groprompt.metrics import boundary_measure, region_similarity

PROTOCOLS = ("assignment", "strict")
"""Protocols for whole-video label maps (DAVIS / Ref-DAVIS17 layouts)."""


@dataclass(frozen=True)
class ObjectScore:
    """Per-frame scores of one ground-truth object (or expression).

    Attributes:
        object_id: the ground-truth object id (label value).
        pred_id: the prediction id scored against it; ``None`` where it was scored against an empty mask
            (no prediction left for it, or a binary per-expression prediction).
        j, f: ``(T,) float64`` per-frame region similarity and contour accuracy, in ``[0, 1]``.
    """

    object_id: int
    pred_id: int | None
    j: np.ndarray
    f: np.ndarray


def label_values(labels: np.ndarray) -> list[int]:
    """Sorted non-zero values present anywhere in a label stack."""
    return [int(value) for value in np.unique(labels) if value != 0]


@dataclass(frozen=True)
class VideoTruth:
    """A video's ground truth, prepared once and shared by every prediction scored against it.

    Attributes:
        labels: ``(T, H, W) uint8`` label maps (value = object id, 0 background, 255 void).
        ids: the object ids present in any frame, sorted (void excluded).
        masks: one ``(T, H, W) bool`` mask per id.
        void: ``(T, H, W) bool``, True where excluded from J and F.
    """

    labels: np.ndarray
    ids: list[int]
    masks: list[np.ndarray]
    void: np.ndarray

    @classmethod
    def from_labels(cls, labels: np.ndarray) -> VideoTruth:
        if labels.ndim != 3:
            raise ValueError(f"ground truth must be (T, H, W) label maps, got shape {labels.shape}")
        ids = [value for value in label_values(labels) if value != VOID_LABEL]
        return cls(labels, ids, [labels == k for k in ids], labels == VOID_LABEL)

    @functools.cached_property
    def empty_scores(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per object, per-frame (J, F) of an empty prediction: the official score of an unmatched object."""
        empty = np.zeros(self.labels.shape, dtype=bool)
        return [self.scores(empty, index) for index in range(len(self.ids))]

    def boxes(self, index: int) -> np.ndarray:
        """``(T, 4) float64`` tight ``(x0, y0, x1, y1)`` pixel boxes (exclusive ends) of object ``index`` per frame;
        nan rows where it is absent. Void pixels are not part of the object."""
        return np.stack([tight_box(mask) for mask in self.masks[index]])

    def scores(self, pred: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame ``(J, F)``, each ``(T,) float64``, of a ``(T, H, W) bool`` prediction against object ``index``."""
        if pred.shape != self.labels.shape:
            raise ValueError(f"prediction {pred.shape} and ground truth {self.labels.shape} must be equal (T, H, W)")
        gt = self.masks[index]
        j = np.atleast_1d(np.asarray(region_similarity(pred, gt, void=self.void), dtype=np.float64))
        f = np.atleast_1d(np.asarray(boundary_measure(pred, gt, void=self.void), dtype=np.float64))
        return j, f


def score_label_maps(
    pred_labels: np.ndarray, truth: VideoTruth, protocols: tuple[str, ...] = PROTOCOLS
) -> dict[str, list[ObjectScore]]:
    """Score a video's predicted label maps against its ground truth under each protocol (§8).

    Args:
        pred_labels: ``(T, H, W) uint8`` predicted label maps (value = prediction id, 0 background); every non-zero
            value is a prediction id (255 included: void is a ground-truth notion).
        truth: the video's ground truth.
        protocols: any of ``"assignment"``, ``"strict"``.

    Returns:
        ``{protocol: [ObjectScore per ground-truth object, in id order]}``; empty lists for a video without
        objects. Each (prediction id, object) pair is scored once and shared by the protocols.
    """
    unknown = set(protocols) - set(PROTOCOLS)
    if unknown:
        raise ValueError(f"unknown protocol(s) {sorted(unknown)}; valid: {list(PROTOCOLS)}")
    pred_ids = label_values(pred_labels)
    pair_scores = []
    for pred_id in pred_ids:
        pred_mask = pred_labels == pred_id
        pair_scores.append([truth.scores(pred_mask, index) for index in range(len(truth.ids))])

    results: dict[str, list[ObjectScore]] = {}
    if "assignment" in protocols:
        results["assignment"] = _assign(truth, pred_ids, pair_scores)
    if "strict" in protocols:
        results["strict"] = [
            ObjectScore(g, g, *pair_scores[pred_ids.index(g)][col]) if g in pred_ids
            else ObjectScore(g, None, *truth.empty_scores[col])
            for col, g in enumerate(truth.ids)
        ]
    return results


def _assign(
    truth: VideoTruth, pred_ids: list[int], pair_scores: list[list[tuple[np.ndarray, np.ndarray]]]
) -> list[ObjectScore]:
    """Per object, the scores of the prediction the DAVIS-2017 matching gives it (an empty one if none)."""
    gain = np.array([[_mean_jf(*pair) for pair in row] for row in pair_scores]).reshape(len(pred_ids), len(truth.ids))
    rows = match_predictions(gain, np.array([_mean_jf(*pair) for pair in truth.empty_scores]))
    return [
        ObjectScore(g, None, *truth.empty_scores[col]) if row is None
        else ObjectScore(g, pred_ids[row], *pair_scores[row][col])
        for col, (g, row) in enumerate(zip(truth.ids, rows))
    ]


def _mean_jf(j: np.ndarray, f: np.ndarray) -> float:
    return float((j.mean() + f.mean()) / 2)


def match_predictions(gain: np.ndarray, empty_gain: np.ndarray) -> list[int | None]:
    """One-to-one matching of predictions to ground-truth objects maximising the total gain (DAVIS-2017 rule).

    Args:
        gain: ``(P, G)`` mean J&F of prediction ``p`` scored against object ``g``.
        empty_gain: ``(G,)`` mean J&F of an empty prediction against object ``g``. As in the official code, the
            predictions are padded with empty ones up to ``G``, so an object may be matched to an empty prediction.

    Returns:
        for each object, the index of its prediction, or ``None`` where an empty prediction was matched.
    """
    n_pred, n_gt = gain.shape
    padded = np.vstack([gain, np.tile(empty_gain, (max(n_gt - n_pred, 0), 1))])
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
    return ObjectScore(obj_id, None, *truth.scores(pred_mask.astype(bool), truth.ids.index(obj_id)))
