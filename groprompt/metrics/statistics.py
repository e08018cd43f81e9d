"""Per-object statistics of a per-frame measure (J or F) and the global DAVIS summary (docs/method_spec.md §8)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from groprompt.errors import GroPromptError

DECAY_BINS = 4
"""Decay compares the first and the last of this many temporal bins (DAVIS)."""

SUMMARY_COLUMNS = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")
"""Keys of :func:`summarize_objects`, in the order (and with the names) of the official DAVIS-2017 summary CSV."""


@dataclass(frozen=True)
class ObjectStatistics:
    """Statistics of one object's per-frame values (each in [0, 1] for J and F; decay in [-1, 1]; nan if undefined).

    Attributes:
        mean: mean over frames, ignoring nan frames.
        recall: share of frames whose value exceeds 0.5 (a nan frame counts as not exceeding it).
        decay: mean of the first temporal quarter minus mean of the last (nan-aware), see :func:`decay_bins`.
    """

    mean: float
    recall: float
    decay: float


def decay_bins(frames: int) -> list[slice]:
    """The :data:`DECAY_BINS` frame ranges of DAVIS ``db_statistics`` for a video of ``frames`` frames.

    Edges are ``round(linspace(1, frames, 5) + 1e-10) - 1``; bin ``i`` spans edge ``i`` to edge ``i + 1``, both
    included (neighbouring bins share a frame). The official code casts the edges to ``uint8``, which wraps for videos
    over 255 frames (256 frames: the last bin ends at ``uint8(255) + 1 == 0``; 300 frames: the last edge 299 becomes
    43): the last bin comes out empty and the decay nan. Here the edges stay full-width integers: identical bins
    below 256 frames, correct ones from 256 on.
    """
    edges = (np.round(np.linspace(1, frames, DECAY_BINS + 1) + 1e-10) - 1).astype(np.int64)
    return [slice(int(edges[i]), int(edges[i + 1]) + 1) for i in range(DECAY_BINS)]


def object_statistics(per_frame: np.ndarray) -> ObjectStatistics:
    """Mean, recall and decay of one object's ``(T,)`` per-frame values, as DAVIS ``db_statistics`` (§8).

    Nan frames are skipped by the mean and the decay and count as misses in the recall, as in the official code.
    The decay bins are computed without the official uint8 wrap-around, see :func:`decay_bins`.
    """
    values = np.asarray(per_frame, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise GroPromptError(f"per-frame values must be a non-empty 1-D array, got shape {values.shape}")
    bins = decay_bins(values.size)
    with warnings.catch_warnings():
        # An all-nan object (or bin) has no mean; nan is the answer, the warning is noise.
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = np.nanmean(values)
        decay = np.nanmean(values[bins[0]]) - np.nanmean(values[bins[-1]])
    return ObjectStatistics(mean=float(mean), recall=float(np.mean(values > 0.5)), decay=float(decay))


def summarize_objects(j: Sequence[ObjectStatistics], f: Sequence[ObjectStatistics]) -> dict[str, float]:
    """The global DAVIS summary ×100 from per-object J and F statistics (one entry per object, same order).

    Each figure is the plain mean over objects (as the official code: a nan object makes its column nan);
    ``J&F-Mean = (J-Mean + F-Mean) / 2``. Keys: :data:`SUMMARY_COLUMNS`.
    """
    if len(j) != len(f):
        raise GroPromptError(f"summary needs J and F for the same objects, got {len(j)} J and {len(f)} F statistics")
    if not j:
        raise GroPromptError("summary needs at least one object", fix="check that the evaluation found any object")
    j_mean, f_mean = np.mean([s.mean for s in j]), np.mean([s.mean for s in f])
    figures = (
        (j_mean + f_mean) / 2,
        j_mean,
        np.mean([s.recall for s in j]),
        np.mean([s.decay for s in j]),
        f_mean,
        np.mean([s.recall for s in f]),
        np.mean([s.decay for s in f]),
    )
    return {name: float(100 * value) for name, value in zip(SUMMARY_COLUMNS, figures, strict=True)}
