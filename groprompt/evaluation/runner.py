"""Score a validated :class:`~groprompt.evaluation.layouts.EvaluationPlan`: read masks, apply the protocols.

One job per video (its ground truth is decoded once and shared by every expression set and expression), run in a
process pool with a progress bar. The result is one row per (set, protocol, video, object or expression) with the
per-object statistics of docs/method_spec.md §8, values in ``[0, 1]``; per expression also its kind (where the
expressions file gives kinds) and its box IoU (where predicted boxes were given).
"""

from __future__ import annotations

import functools
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from groprompt.errors import GroPromptError
from groprompt.evaluation.layouts import EvaluationPlan, Prediction, VideoJob
from groprompt.evaluation.protocols import ObjectScore, VideoTruth, score_expression, score_label_maps
from groprompt.masks import read_label_png
from groprompt.metrics import expression_box_iou, object_statistics

ROW_COLUMNS = (
    "set", "protocol", "video", "object_id", "expression", "pred_id", "frames", "missing_frames",
    "J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay",
)
"""Columns of a per-object row (``per_object.csv``); the measures are named as in the official DAVIS CSVs."""

OPTIONAL_COLUMNS = ("kind", "Box")
"""Columns that only some evaluations have: ``kind`` (the expression's kind, SynRVOS) and ``Box`` (box IoU of the
expression in [0, 1]: mean over the frames where its object is present, docs/method_spec.md §8, with the object's
ground-truth box the tight box of its mask; in a Ref-DAVIS17 set, that of the object's expression in the set)."""


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
        GroPromptError: an expression refers to an object that no ground-truth frame of the video contains.
    """
    truth = VideoTruth.from_labels(read_stack(job.gt_paths, job.shape))
    rows = []
    for prediction in job.predictions:
        labels = read_stack(prediction.paths, job.shape)
        if prediction.expression is None:
            for protocol, scores in score_label_maps(labels, truth, protocols).items():
                rows += [_with_set_box(_row(job.video, prediction, protocol, score), prediction, truth)
                         for score in scores]
            continue
        if prediction.obj_id not in truth.ids:
            raise GroPromptError(
                f"expression refers to object {prediction.obj_id}, which no ground-truth frame of the video "
                f"contains (objects present: {truth.ids})",
                video=job.video, expression=prediction.expression, path=job.gt_paths[0].parent,
                fix="check that the expressions file and the annotation folder are of the same split",
            )
        score = score_expression(labels != 0, truth, prediction.obj_id)
        row = _row(job.video, prediction, "expression", score)
        if prediction.kind is not None:
            row["kind"] = prediction.kind
        if prediction.boxes is not None:
            row["Box"] = expression_box_iou(prediction.boxes, truth.boxes(truth.ids.index(prediction.obj_id)))
        rows.append(row)
    return rows


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
                  "Box": expression_box_iou(boxes, truth.boxes(truth.ids.index(row["object_id"])))}


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


def score_plan(plan: EvaluationPlan, protocols: tuple[str, ...], workers: int = 1) -> list[dict]:
    """Score every video of ``plan`` with ``workers`` processes (1: in this process); rows in plan order."""
    return score_jobs(functools.partial(score_video, protocols=protocols), plan.jobs, workers)


def score_jobs(score: Callable[[Any], list[dict]], jobs: Sequence[Any], workers: int = 1) -> list[dict]:
    """``score`` each job (one video) with ``workers`` processes (1: in this process), with a progress bar; the
    rows of all jobs, in job order. A :class:`GroPromptError` raised while scoring cancels the remaining jobs and
    propagates."""
    results: list[list[dict]] = [[] for _ in jobs]
    with tqdm(total=len(jobs), desc="evaluate", unit="video", disable=None) as progress:
        if workers <= 1 or len(jobs) <= 1:
            for index, job in enumerate(jobs):
                results[index] = score(job)
                progress.update()
        else:
            workers = min(workers, len(jobs))
            with ProcessPoolExecutor(max_workers=workers, initializer=_ignore_interrupts) as pool:
                futures = {pool.submit(score, job): index for index, job in enumerate(jobs)}
                try:
                    for future in as_completed(futures):
                        results[futures[future]] = future.result()
                        progress.update()
                except BaseException:
                    pool.shutdown(cancel_futures=True)
                    raise
    return [row for rows in results for row in rows]


def _ignore_interrupts() -> None:
    """In a scoring worker: leave Ctrl-C to the main process, which stops the pool (one message, not one
    traceback per worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
