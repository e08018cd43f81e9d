"""Several boxes for one expression on one frame: what SAM is prompted with, how its masks become the expression's
mask, and the record of every box prompted.

A method answers an expression with a box and, optionally, further boxes (:attr:`FrameOutput.extra_boxes
<groprompt.methods.FrameOutput.extra_boxes>`), for an expression that refers to several objects. SAM decodes every
box alone, and the expression's mask on the frame is the union of their masks (:func:`union_per_expression`). The
frame's boxes of all its expressions go to the mask decoder together, as the single boxes do, so the embedding is
shared and a frame with no extra box is decoded exactly as before. ``boxes/<video>.csv`` keeps the one ``box`` (and
its score) per expression and frame; ``masks/<video>.json`` records every box prompted, under each expression's
``"prompted_boxes"`` record (:class:`PromptedBoxes`), for a video where the method gave extra boxes at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from groprompt.errors import GroPromptError
from groprompt.methods import FrameOutput, Method

RECORD_KEY = "prompted_boxes"
"""The per-expression record of ``masks/<video>.json`` that lists every box prompted, per frame."""


def checked_extra_boxes(output: FrameOutput, method: Method, where: Mapping[str, str]) -> np.ndarray:
    """``output``'s extra boxes and scores as an ``(M, 5)`` float array ``(x0, y0, x1, y1, score)`` (score nan where
    the method gives none); a named error for extra boxes beside no box, for a method that segments, or of a wrong
    shape. ``where`` names the video, frame and expression."""
    fix = "return extra_boxes as an (M, 4) array of finite xyxy pixel boxes beside a box, and extra_scores as (M,)"
    if method.outputs_masks:
        raise GroPromptError(f"method {method.name!r} segments itself but returned extra boxes for the segmentor",
                             fix="return extra_boxes=None from a method with outputs_masks", **where)
    if output.box is None:
        raise GroPromptError(f"method {method.name!r} returned extra boxes beside no box", fix=fix, **where)
    boxes = np.asarray(output.extra_boxes, dtype=float)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or not np.isfinite(boxes).all():
        raise GroPromptError(f"method {method.name!r} returned extra boxes of shape {boxes.shape} (or not finite)",
                             fix=fix, **where)
    scores = (np.full(len(boxes), np.nan) if output.extra_scores is None
              else np.asarray(output.extra_scores, dtype=float))
    if scores.shape != (len(boxes),):
        raise GroPromptError(f"method {method.name!r} returned {scores.shape} extra scores for {len(boxes)} extra "
                             "boxes", fix=fix, **where)
    return np.concatenate([boxes, scores[:, None]], axis=1)


def flat_prompts(boxes: np.ndarray, extras: Sequence[np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
    """A frame's boxes for SAM in one array: ``(N, 4)``, each expression's ``box`` row then its extra boxes, and
    ``(K,)`` the row where each expression's group starts.

    Args:
        boxes: ``(K, 4)`` one box per expression (nan row: none).
        extras: per expression the ``(M_k, 5)`` rows of :func:`checked_extra_boxes`; None when the method gave none
            on this frame (then the result is ``boxes`` itself, one row per expression).
    """
    if extras is None:
        return boxes, np.arange(len(boxes))
    groups = [np.concatenate([boxes[k][None], extra[:, :4]]) for k, extra in enumerate(extras)]
    starts = np.cumsum([0] + [len(group) for group in groups[:-1]])
    return np.concatenate(groups), starts


def union_per_expression(masks: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` bool masks of :func:`flat_prompts`' rows -> ``(K, H, W)``: each expression's union."""
    if len(starts) == len(masks):  # one box per expression: nothing to merge
        return masks
    return np.logical_or.reduceat(masks, starts, axis=0)


class PromptedBoxes:
    """Every box prompted for each expression of a video, frame by frame, for ``masks/<video>.json``.

    Args:
        exp_ids: the video's expressions, in order.
        num_frames: its frames.
    """

    def __init__(self, exp_ids: Sequence[str], num_frames: int) -> None:
        self.exp_ids = list(exp_ids)
        self.boxes: list[list[list]] = [[[] for _ in range(num_frames)] for _ in self.exp_ids]
        self.seen_extras = False
        """Whether the method gave extra boxes (even none) on any frame: only then is the record written."""

    def add(self, index: int, boxes: np.ndarray, scores: np.ndarray, extras: Sequence[np.ndarray] | None) -> None:
        """Frame ``index``: ``(K, 4)`` boxes (nan rows: none), ``(K,)`` scores, per expression its ``(M_k, 5)``
        extra rows or None (:func:`checked_extra_boxes`)."""
        self.seen_extras |= extras is not None
        for k in range(len(self.exp_ids)):
            if np.isnan(boxes[k]).any():
                continue
            rows = [(*boxes[k], scores[k])] + ([] if extras is None else [tuple(row) for row in extras[k]])
            self.boxes[k][index] = [[*(round(float(v), 3) for v in row[:4]), _score(row[4])] for row in rows]

    def merged_into(self, records: Mapping[str, Mapping[str, Any]], method: Method,
                    video: str) -> dict[str, dict[str, Any]]:
        """The method's per-expression ``records`` with :data:`RECORD_KEY` added to each expression (all of them),
        if the method gave extra boxes; ``records`` unchanged otherwise."""
        merged = {exp_id: dict(record) for exp_id, record in records.items()}
        if not self.seen_extras:
            return merged
        for exp_id, boxes in zip(self.exp_ids, self.boxes, strict=True):
            record = merged.setdefault(exp_id, {})
            if RECORD_KEY in record:
                raise GroPromptError(f"method {method.name!r} records {RECORD_KEY!r} itself, which the runner writes "
                                     "for a method that gives extra boxes", video=video, expression=exp_id,
                                     fix=f"rename the method's own {RECORD_KEY!r} record")
            record[RECORD_KEY] = boxes
        return merged


def _score(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 6)
