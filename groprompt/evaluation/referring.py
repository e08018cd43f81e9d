"""A2D-Sentences / JHMDB-Sentences evaluation: P@K, overall IoU and mean IoU over samples (docs/method_spec.md §8).

A sample is one annotated (video, frame, instance): every annotated frame whose ground truth holds the object an
expression refers to gives that expression one sample (an A2D frame can lack an instance; it then gives none; for
JHMDB-Sentences the annotated frames are the three sample frames of each video). The prediction of a sample is
``<pred>/<video>/<exp_id>/<frame>.png`` as ``groprompt infer`` writes it (non-zero = object). The ground truth comes
from the dataset's reader (:func:`groprompt.data.dataset_kind`), so any kind with annotations can be scored this way.

Planning reads each annotated ground-truth frame once, to learn which objects it holds (the
:class:`~groprompt.data.model.AnnotationSource` interface only gives masks), and checks every needed prediction PNG
from its header (:func:`~groprompt.evaluation.layouts.label_png_size`): no prediction pixel is decoded and every
problem is raised before scoring starts. Scoring runs one job per video (:mod:`~groprompt.evaluation.pipeline`).

Outputs: :func:`per_sample_table` (one row per sample, :data:`PER_SAMPLE_COLUMNS`) and :func:`sample_summary_table`
(one row: the counts and :func:`~groprompt.metrics.referring_segmentation_scores`, ×100, under its names, which is
how the tables read a one-row ``summary.csv``).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from groprompt.data.model import Dataset, Video
from groprompt.errors import GroPromptError
from groprompt.evaluation.layouts import label_png_size, refuse_infer_output
from groprompt.evaluation.summary import printable
from groprompt.masks import read_label_png
from groprompt.metrics.referring import (
    SMOOTHING,
    intersection_union,
    referring_segmentation_scores,
)

PER_SAMPLE_FILE = "per_sample.csv"
"""Not ``per_object.csv``: the tables read that file as J&F rows for the video bootstrap."""
PER_SAMPLE_COLUMNS = ("video", "expression", "object_id", "frame", "intersection", "union", "IoU", "missing")
"""Columns of ``per_sample.csv``: pixel counts, the smoothed IoU ``(I + 1e-6) / (U + 1e-6)`` in ``[0, 1]``, and
whether the prediction file was missing (scored as an empty mask)."""

_MISSING_FIX = ("write a prediction for every annotated frame (groprompt infer writes "
                "Annotations/<video>/<exp_id>/<frame>.png), or pass --allow-missing to score missing ones as empty")


@dataclass(frozen=True)
class Sample:
    """One annotated (frame, object) of an expression; ``path`` is ``None`` where the prediction is missing."""

    expression: str
    obj_id: int
    frame_index: int
    path: Path | None


@dataclass(frozen=True)
class ReferringJob:
    """One video and its samples, in frame order (each ground-truth frame is read once while scoring).

    The job carries the :class:`~groprompt.data.model.Video` itself: the readers' annotation sources and frame
    readers are plain objects holding paths, so a video pickles to a worker in a few hundred bytes, whereas
    re-reading the dataset in each worker would open every A2D clip header again.
    """

    video: Video
    samples: tuple[Sample, ...]


@dataclass
class ReferringPlan:
    """A validated evaluation (a :class:`~groprompt.evaluation.pipeline.Plan`): one job per video that has
    samples, and warnings to show."""

    dataset: str
    split: str
    jobs: list[ReferringJob]
    warnings: list[str] = field(default_factory=list)

    def scorer(self) -> Callable[[ReferringJob], list[dict]]:
        return score_job

    def tables(self, rows: list[dict]) -> dict[str, pd.DataFrame]:
        per_sample = per_sample_table(rows)
        return {PER_SAMPLE_FILE: per_sample, "summary.csv": sample_summary_table(per_sample)}

    def report(self, tables: dict[str, pd.DataFrame]) -> list[str]:
        lines = [f"layout referring: {self.dataset} {self.split}, {len(self.jobs)} videos, {self.samples} samples; "
                 "P@K, overall and mean IoU x100",
                 printable(tables["summary.csv"])]
        if self.missing:
            lines.append(f"{self.missing} of {self.samples} prediction frames were missing and scored as empty "
                         "masks (--allow-missing)")
        return lines

    @property
    def samples(self) -> int:
        return sum(len(job.samples) for job in self.jobs)

    @property
    def missing(self) -> int:
        """Samples without a prediction file (scored as empty masks)."""
        return sum(sample.path is None for job in self.jobs for sample in job.samples)


def plan_referring(dataset: Dataset, pred_dir: str | Path, allow_missing: bool = False) -> ReferringPlan:
    """Find every sample of ``dataset`` and check its prediction PNG (existence, format, size) without decoding it.

    Raises:
        GroPromptError: a video without ground truth or an expression without an object id; a missing
            prediction folder, video, expression or frame (unless ``allow_missing``: then an empty mask counted as
            missing); a prediction PNG that is unreadable, truncated, RGB or not of the video's size; a dataset
            without any sample.
    """
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise GroPromptError("prediction folder does not exist", path=pred_dir,
                             fix="pass the Annotations folder that groprompt infer wrote")
    refuse_infer_output(pred_dir)
    jobs = []
    for video in tqdm(dataset.videos, desc="plan", unit="video", disable=None):
        samples = _plan_video(video, pred_dir / video.name, allow_missing)
        if samples:
            jobs.append(ReferringJob(video, samples))
    if not jobs:
        raise GroPromptError(
            f"the ground truth has no sample: none of the {len(dataset)} videos has an annotated frame holding an "
            "object that an expression refers to", dataset=dataset.name, path=dataset.root,
            fix="evaluate a split with ground truth (A2D-Sentences test, JHMDB-Sentences test)")
    names = {video.name for video in dataset.videos}
    warnings = [f"prediction video {pred_dir / entry.name} is not in {dataset.name} {dataset.split}; ignored"
                for entry in sorted(os.scandir(pred_dir), key=lambda entry: entry.name)
                if entry.is_dir() and not entry.name.startswith(".") and entry.name not in names]
    return ReferringPlan(dataset.name, dataset.split, jobs, warnings)


def _plan_video(video: Video, folder: Path, allow_missing: bool) -> tuple[Sample, ...]:
    """The samples of one video, frame by frame; folders checked before the ground truth is read."""
    where = {"dataset": video.dataset, "video": video.name}
    if not video.has_annotations:
        raise GroPromptError(f"split {video.split} has no ground truth", **where,
                             fix="evaluate a split with annotations (A2D-Sentences or JHMDB-Sentences test)")
    listings: dict[str, set[str] | None] = {}
    for expression in video.expressions:
        if expression.obj_id is None:
            raise GroPromptError("expression has no object id, so there is no ground truth to score it against",
                                 **where, expression=expression.exp_id,
                                 fix="evaluate a split whose expressions name their object")
        expression_dir = folder / expression.exp_id
        if not expression_dir.is_dir() and not allow_missing:
            problem = "prediction folder of this expression is missing" if folder.is_dir() else \
                "prediction folder of this video is missing"
            raise GroPromptError(problem, **where, expression=expression.exp_id,
                                 path=expression_dir if folder.is_dir() else folder, fix=_MISSING_FIX)
        listings[expression.exp_id] = set(os.listdir(expression_dir)) if expression_dir.is_dir() else None
    samples = []
    for index in np.flatnonzero(video.annotated_frames()):
        present = video.annotation(int(index)).masks
        frame = video.frame_names[index]
        for expression in video.expressions:
            if expression.obj_id not in present:
                continue
            path = folder / expression.exp_id / f"{frame}.png"
            listing = listings[expression.exp_id]
            if listing is not None and path.name in listing:
                label_png_size(path, video.size, video=video.name)
            elif allow_missing:
                path = None
            else:
                raise GroPromptError("prediction frame is missing", **where, expression=expression.exp_id,
                                     frame=frame, path=path, fix=_MISSING_FIX)
            samples.append(Sample(expression.exp_id, expression.obj_id, int(index), path))
    return tuple(samples)


def score_job(job: ReferringJob) -> list[dict]:
    """Intersection and union of every sample of one video; rows as in :data:`PER_SAMPLE_COLUMNS`.

    The ground-truth mask is ``video.annotation(frame).masks[obj_id]``; void pixels, where a dataset has them
    (not A2D or JHMDB), are taken out of the prediction, so they count neither way.
    """
    video = job.video
    rows = []
    for index, samples in itertools.groupby(job.samples, key=lambda sample: sample.frame_index):
        annotation = video.annotation(index)
        for sample in samples:
            if sample.path is None:
                pred = np.zeros(video.size, dtype=bool)
            else:
                pred = read_label_png(sample.path) != 0
            if annotation.void is not None:
                pred &= ~annotation.void
            intersection, union = intersection_union(pred, annotation.masks[sample.obj_id])
            rows.append({
                "video": video.name, "expression": sample.expression, "object_id": sample.obj_id,
                "frame": video.frame_names[index], "intersection": int(intersection), "union": int(union),
                "IoU": (int(intersection) + SMOOTHING) / (int(union) + SMOOTHING), "missing": sample.path is None,
            })
    return rows


def per_sample_table(rows: Sequence[dict]) -> pd.DataFrame:
    """The per-sample rows as a DataFrame with columns :data:`PER_SAMPLE_COLUMNS`."""
    return pd.DataFrame(list(rows), columns=list(PER_SAMPLE_COLUMNS))


def sample_summary_table(per_sample: pd.DataFrame) -> pd.DataFrame:
    """One row: ``samples``, ``missing_frames``, then P@0.5 .. P@0.9, overall IoU and mean IoU (×100)."""
    scores = referring_segmentation_scores(per_sample["intersection"].to_numpy(), per_sample["union"].to_numpy())
    counts = {"samples": len(per_sample), "missing_frames": int(per_sample["missing"].sum())}
    return pd.DataFrame([{**counts, **scores}])
