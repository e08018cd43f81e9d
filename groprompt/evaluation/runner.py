"""Score one video of a J&F :class:`~groprompt.evaluation.layouts.EvaluationPlan`: read masks, apply the protocols.

A :class:`VideoJob` (one video's ground-truth frames and its :class:`Prediction` files) is the unit this module
scores; :mod:`~groprompt.evaluation.layouts` builds the jobs from the folders it validates.

Its ground truth is decoded once and shared by every expression set and expression. The result is one row per
(set, protocol, video, object or expression) with the per-object statistics of docs/method_spec.md §8, values in
``[0, 1]``; per expression also its kind (where the expressions file gives kinds) and its box IoU (where predicted
boxes were given). :mod:`~groprompt.evaluation.pipeline` runs it over the videos.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from groprompt.errors import GroPromptError
from groprompt.evaluation.protocols import (
    UNION_ID,
    ObjectScore,
    ProposalError,
    VideoTruth,
    score_expression,
    score_label_maps,
)
from groprompt.masks import read_label_png
from groprompt.metrics import expression_box_iou, object_statistics

ROW_COLUMNS = (
    "set", "protocol", "video", "object_id", "expression", "pred_id", "frames", "missing_frames",
    "J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay",
)
"""Columns of a per-object row (``per_object.csv``); the measures are named as in the official DAVIS CSVs. An
expression that refers to several objects has their ids joined by ``+`` as its ``object_id`` (``1+3``)."""

OPTIONAL_COLUMNS = ("kind", "Box")
"""Columns that only some evaluations have: ``kind`` (the expression's kind, SynRVOS) and ``Box`` (box IoU of the
expression in [0, 1]: mean over the frames where its object is present, docs/method_spec.md §8, with the object's
ground-truth box the tight box of its mask, of the union of its objects' masks where it refers to several; in a
Ref-DAVIS17 set, that of the object's expression in the set)."""


@dataclass(frozen=True)
class Prediction:
    """The files of one prediction of a video: one path per ground-truth frame, ``None`` where missing.

    Attributes:
        set_name: the expression set (``anno_k``, or :data:`~groprompt.evaluation.layouts.SINGLE_SET`).
        paths: one path per ground-truth frame, in frame order; ``None`` for a missing file (``--allow-missing``),
            scored as an empty mask.
        expression: the expression id (per-expression layout); ``None`` for whole-video label maps.
        referents: the objects the expression refers to (per-expression layout): one, or several, scored against
            the union of their masks (MeViS).
        kind: the expression's kind where the expressions file gives one (SynRVOS: appearance, location, motion).
        boxes: ``(T, 4) float64`` predicted ``(x0, y0, x1, y1)`` pixel boxes, one row per ground-truth frame, nan
            rows where the method gave no box; ``None`` when no boxes were given to the evaluation.
        object_boxes: label maps of a Ref-DAVIS17 expression set: ``obj_id -> (exp_id, boxes as above)`` of the
            one expression of each object in the set; ``None`` when no boxes were given.
    """

    set_name: str
    paths: tuple[Path | None, ...]
    expression: str | None = None
    referents: tuple[int, ...] = ()
    kind: str | None = None
    boxes: np.ndarray | None = field(default=None, compare=False, repr=False)
    object_boxes: Mapping[int, tuple[str, np.ndarray]] | None = field(default=None, compare=False, repr=False)

    @property
    def missing_frames(self) -> int:
        return sum(path is None for path in self.paths)


@dataclass(frozen=True)
class VideoJob:
    """Everything needed to score one video: its ground-truth frames, their ``(H, W)``, every prediction of it."""

    video: str
    gt_paths: tuple[Path, ...]
    shape: tuple[int, int]
    predictions: tuple[Prediction, ...]

    @property
    def frame_names(self) -> tuple[str, ...]:
        return tuple(path.stem for path in self.gt_paths)


def read_stack(paths: Sequence[Path | None], shape: tuple[int, int]) -> np.ndarray:
    """Decode label PNGs into a ``(T, H, W) uint8`` stack; a ``None`` path is an all-zero (empty) frame."""
    stack = np.zeros((len(paths), *shape), dtype=np.uint8)
    for index, path in enumerate(paths):
        if path is not None:
            stack[index] = read_label_png(path)
    return stack


def score_video(job: VideoJob, protocols: tuple[str, ...]) -> list[dict]:
    """Score every prediction of one video; rows as in :data:`ROW_COLUMNS` (plus :data:`OPTIONAL_COLUMNS`).

    Raises:
        GroPromptError: an expression refers to no object that some ground-truth frame of the video contains; a
            prediction id the protocol refuses (named with the first file holding it).
    """
    truth = VideoTruth(read_stack(job.gt_paths, job.shape))
    rows = []
    for prediction in job.predictions:
        labels = read_stack(prediction.paths, job.shape)
        if prediction.expression is None:
            try:
                scored = score_label_maps(labels, truth, protocols)
            except ProposalError as error:
                raise GroPromptError(error.problem, video=job.video, path=prediction.paths[error.frame_index],
                                     fix=error.fix) from None
            for protocol, scores in scored.items():
                rows += [_with_set_box(_row(job.video, prediction, protocol, score), prediction, truth)
                         for score in scores]
            continue
        referents = prediction.referents
        if not set(referents) & set(truth.ids):
            raise GroPromptError(
                f"expression refers to {_absent(referents)} (objects present: {truth.ids})",
                video=job.video, expression=prediction.expression, path=job.gt_paths[0].parent,
                fix="check that the expressions file and the annotation folder are of the same split",
            )
        target, obj_id = (truth, referents[0]) if len(referents) == 1 else (truth.union(referents), UNION_ID)
        score = score_expression(labels != 0, target, obj_id)
        row = _row(job.video, prediction, "expression", score)
        if len(referents) > 1:  # a union is named by its objects
            row["object_id"] = "+".join(map(str, referents))
        if prediction.kind is not None:
            row["kind"] = prediction.kind
        if prediction.boxes is not None:
            row["Box"] = expression_box_iou(prediction.boxes, target.boxes(obj_id))
        rows.append(row)
    return rows


def _absent(referents: tuple[int, ...]) -> str:
    """How an error names the objects of an expression that no ground-truth frame contains."""
    if not referents:
        return "no object (its obj_id is withheld), so it cannot be scored"
    if len(referents) == 1:
        return f"object {referents[0]}, which no ground-truth frame of the video contains"
    return f"objects {', '.join(map(str, referents))}, none of which any ground-truth frame of the video contains"


def _with_set_box(row: dict, prediction: Prediction, truth: VideoTruth) -> dict:
    """``row`` of an object scored in a Ref-DAVIS17 set, with the expression of the object in that set and its box
    IoU where boxes were given (nan for an object no expression of the set refers to)."""
    if prediction.object_boxes is None:
        return row
    found = prediction.object_boxes.get(row["object_id"])
    if found is None:
        return row | {"Box": np.nan}
    exp_id, boxes = found
    return row | {"expression": exp_id,
                  "Box": expression_box_iou(boxes, truth.boxes(row["object_id"]))}


def _row(video: str, prediction: Prediction, protocol: str, score: ObjectScore) -> dict:
    j, f = object_statistics(score.j), object_statistics(score.f)
    return {
        "set": prediction.set_name,
        "protocol": protocol,
        "video": video,
        "object_id": score.object_id,
        "expression": prediction.expression,
        "pred_id": score.pred_id,
        "frames": len(score.j),
        "missing_frames": prediction.missing_frames,
        "J&F-Mean": (j.mean + f.mean) / 2,
        "J-Mean": j.mean, "J-Recall": j.recall, "J-Decay": j.decay,
        "F-Mean": f.mean, "F-Recall": f.recall, "F-Decay": f.decay,
    }
