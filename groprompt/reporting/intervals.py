"""95% confidence intervals of a table cell (docs/method_spec.md §9).

* Several seeds: the Student t-interval over the seeds' figures, ``mean ± t(0.975, n − 1) · s / √n`` with ``s``
  the sample standard deviation (ddof 1).
* A single run: a video-level percentile bootstrap. Videos are drawn with replacement (a video's objects or
  expressions stay together: they share frames, so they are not independent), the figure is recomputed on each
  resample exactly as the summary computes it (mean over the rows of each expression set, then mean over sets),
  and the 2.5th and 97.5th percentiles of the resampled figures are the interval. The generator is seeded, so
  the same files give the same interval.

Paired differences of two rows on the same videos (:mod:`~groprompt.reporting.differences`) use the same two
tools on differences: the t-interval of per-seed differences, and :func:`paired_bootstrap_interval`, which draws
the same videos for both runs, recomputes both figures on each resample and takes percentiles of their difference.
Both are marked ``paired`` in their :class:`Estimate`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from groprompt.errors import GroPromptError

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
ROW_KEYS = ("set", "video", "object_id", "expression")
"""Columns that can name a per-object row; two runs are paired on those filled in every row of both."""


@dataclass(frozen=True)
class Estimate:
    """A figure with its interval, in the figure's units (×100 for the tables' measures).

    Attributes:
        mean: the figure (the mean over seeds, or the single run's figure).
        low, high: the interval's ends; nan when there is none.
        method: ``"t"`` (over seeds), ``"bootstrap"`` (over videos of one run) or ``"none"``.
        runs: how many runs (seeds) the figure comes from; for a paired t-interval, how many per-seed differences.
        resamples: bootstrap resamples (0 unless ``method == "bootstrap"``).
        paired: the figure is a difference of two rows, its interval made from paired runs or videos.
        note: why there is no interval, where that needs saying (e.g. seeds that cannot be paired); "" otherwise.
    """

    mean: float
    low: float = math.nan
    high: float = math.nan
    method: str = "none"
    runs: int = 1
    resamples: int = 0
    paired: bool = False
    note: str = ""

    @property
    def has_interval(self) -> bool:
        return self.method != "none" and not (math.isnan(self.low) or math.isnan(self.high))

    def describe(self) -> str:
        """How the interval was made, in words (for captions and the CSV's ``interval`` column)."""
        if self.method == "t":
            return (f"paired 95% t-interval over {self.runs} per-seed differences" if self.paired
                    else f"95% t-interval over {self.runs} seeds")
        if self.method == "bootstrap":
            return (f"paired 95% video bootstrap ({self.resamples} resamples) of one run each" if self.paired
                    else f"95% video bootstrap ({self.resamples} resamples) of one run")
        if self.note:
            return self.note
        return f"mean of {self.runs} runs, no interval" if self.runs > 1 else "one run, no interval"


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Estimate:
    """Mean and Student-t interval of per-seed figures (at least 2; none of them nan).

    For n = 3 the quantile is t(0.975, 2) = 4.3027, so the half-width is 4.3027 · s / √3.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size < 2:
        raise GroPromptError(f"a t-interval needs at least 2 seeds' figures, got {values.size}")
    if np.isnan(values).any():
        raise GroPromptError(f"a seed's figure is nan ({values.tolist()}); the interval over seeds is undefined",
                             fix="check the evaluation of every seed")
    mean = float(values.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))
    return Estimate(mean, mean - half, mean + half, "t", runs=int(values.size))


def _figure(rows: pd.DataFrame, column: str, videos: Sequence[str], scale: float
            ) -> Callable[[np.ndarray], np.ndarray]:
    """The summary's figure of ``column`` as a function of per-video draw counts.

    Args:
        rows: per-object rows with columns ``video``, ``set`` and ``column`` (values in [0, 1], nan left out).
        videos: the videos that the weights' columns stand for (a superset of ``rows``' videos).

    Returns:
        ``figure(weights)``: ``(R, V)`` draws per video -> ``(R,)`` figures, ``scale ×`` (mean over sets of the
        mean over a set's drawn values); a set without a drawn value is left out (nan-mean).
    """
    index = {video: k for k, video in enumerate(videos)}
    sets = sorted(rows["set"].astype(str).unique())
    # Per set and video: the sum and the count of the measure's non-nan values.
    sums = np.zeros((len(sets), len(videos)))
    counts = np.zeros((len(sets), len(videos)))
    for s, set_name in enumerate(sets):
        part = rows[rows["set"].astype(str) == set_name]
        values = part[column].to_numpy(dtype=np.float64)
        columns = part["video"].astype(str).map(index).to_numpy()
        valid = ~np.isnan(values)
        np.add.at(sums[s], columns[valid], values[valid])
        np.add.at(counts[s], columns[valid], 1)
    if (counts.sum(axis=1) == 0).any():
        raise GroPromptError(f"an expression set has no value of {column!r} to bootstrap")

    def figure(weights: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", category=RuntimeWarning)
            per_set = (weights @ sums.T) / (weights @ counts.T)
            return scale * np.nanmean(per_set, axis=1)

    return figure


def video_bootstrap(statistic: Callable[[np.ndarray], np.ndarray], videos: int, *,
                    resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
                    confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """Percentile bootstrap over videos of any statistic of per-video draw counts.

    Args:
        statistic: ``(R, V)`` float draws per video (each row sums to ``V``) -> ``(R,)`` values; all ones is the
            data as they are. A paired statistic computes both runs' figures from the same draws.
        videos: ``V``, the number of videos drawn from.

    Returns:
        ``(point, low, high)``: the statistic on the data, and the percentiles of the resampled statistics that
        bound the ``confidence`` interval (nan resamples left out).
    """
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, videos, size=(resamples, videos))
    weights = np.zeros((resamples, videos))
    np.add.at(weights, (np.arange(resamples)[:, None], draws), 1)
    resampled = statistic(weights)
    tail = 100 * (1 - confidence) / 2
    low, high = np.nanpercentile(resampled, [tail, 100 - tail])
    return float(statistic(np.ones((1, videos)))[0]), float(low), float(high)


def bootstrap_interval(rows: pd.DataFrame, column: str, *, scale: float = 100.0,
                       resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
                       confidence: float = CONFIDENCE) -> Estimate:
    """Video-level percentile bootstrap of the mean of ``column`` over ``rows`` (module docstring).

    Args:
        rows: per-object rows of one protocol, with columns ``video``, ``set`` and ``column`` (values in [0, 1]);
            nan values are left out of the means, as the summary's ``Box`` leaves them out.
        column: the per-row measure, e.g. ``"J&F-Mean"`` or ``"Box"``.
        scale: the figure's unit (100: the tables show ×100).

    Returns:
        the figure ``scale ×`` (mean over sets of the mean over a set's rows) and its interval.
    """
    if rows.empty:
        raise GroPromptError(f"no per-object rows to bootstrap {column!r} from",
                             fix="check that the evaluation folder's per_object.csv has rows")
    videos = sorted(rows["video"].astype(str).unique())
    point, low, high = video_bootstrap(_figure(rows, column, videos, scale), len(videos), resamples=resamples,
                                       seed=seed, confidence=confidence)
    return Estimate(point, low, high, "bootstrap", runs=1, resamples=resamples)


def _pairing_keys(frames: Sequence[pd.DataFrame]) -> list[str]:
    """The :data:`ROW_KEYS` filled in every row of every frame. A Ref-DAVIS17 set's row names its expression only
    where boxes were scored, so a run scored with boxes and one without pair on (set, video, object_id)."""
    return [key for key in ROW_KEYS if all(key in frame.columns and frame[key].notna().all() for frame in frames)]


def _row_names(rows: pd.DataFrame, keys: Sequence[str]) -> pd.Series:
    """One string per row naming it by ``keys``, e.g. ``"all|a|0"``."""
    return rows[list(keys)].astype(str).agg("|".join, axis=1)


def paired_bootstrap_interval(rows: pd.DataFrame, reference: pd.DataFrame, column: str, *,
                              names: tuple[str, str] = ("the run", "the reference"), scale: float = 100.0,
                              resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
                              confidence: float = CONFIDENCE) -> Estimate:
    """Paired video bootstrap of the difference ``figure(rows) − figure(reference)`` (module docstring).

    Each resample draws videos once and recomputes both figures on that same draw, as :func:`bootstrap_interval`
    computes one; what the videos' difficulty adds to both cancels in the difference.

    Args:
        rows, reference: per-object rows of the two runs (one protocol), with the columns of
            :func:`bootstrap_interval`; they must hold the same rows, named by the :data:`ROW_KEYS` filled in both.
        names: how error messages name the two runs, e.g. ``("GroPrompt (L_box) (eval/lbox)", "Grounded-SAM
            (eval/gsam)")``.

    Returns:
        the difference ``scale ×`` (figure of ``rows`` minus figure of ``reference``) and its paired interval.

    Raises:
        GroPromptError: if either is empty, a row is named twice, or they do not cover the same rows (the first
            row that one of them lacks is named).
    """
    if rows.empty or reference.empty:
        raise GroPromptError(f"no per-object rows of {names[0] if rows.empty else names[1]} to pair on {column!r}",
                             fix="check that the evaluation folder's per_object.csv has rows")
    frames = (rows, reference)
    keys = _pairing_keys(frames)
    labels = [_row_names(frame, keys) for frame in frames]
    for k in (0, 1):
        if labels[k].duplicated().any():
            raise GroPromptError(f"a per-object row of {names[k]} appears twice ({', '.join(keys)}: "
                                 f"{labels[k][labels[k].duplicated()].iloc[0]})", fix="rerun groprompt evaluate")
    for k in (0, 1):
        missing = np.flatnonzero(~labels[k].isin(set(labels[1 - k])).to_numpy())
        if missing.size:
            first = frames[k].iloc[missing[0]]
            raise GroPromptError(f"{names[k]} has {missing.size} per-object row(s) that {names[1 - k]} lacks; a "
                                 "paired difference needs both runs on the same rows",
                                 video=str(first["video"]),
                                 expression=str(first["expression"]) if "expression" in keys else None,
                                 fix="evaluate both methods on the same split, with the same layout and protocol")
    videos = sorted(rows["video"].astype(str).unique())
    figure, base = _figure(rows, column, videos, scale), _figure(reference, column, videos, scale)
    point, low, high = video_bootstrap(lambda weights: figure(weights) - base(weights), len(videos),
                                       resamples=resamples, seed=seed, confidence=confidence)
    return Estimate(point, low, high, "bootstrap", runs=1, resamples=resamples, paired=True)
