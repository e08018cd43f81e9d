"""95% confidence intervals of a table cell (method_spec.md §9).

* Several seeds: the Student t-interval over the seeds' figures, ``mean ± t(0.975, n − 1) · s / √n`` with ``s``
  the sample standard deviation (ddof 1).
* A single run: a video-level percentile bootstrap. Videos are drawn with replacement (a video's objects or
  expressions stay together: they share frames, so they are not independent), the figure is recomputed on each
  resample exactly as the summary computes it (mean over the rows of each expression set, then mean over sets),
  and the 2.5th and 97.5th percentiles of the resampled figures are the interval. The generator is seeded, so
  the same files give the same interval.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from groprompt.errors import GroPromptError

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Estimate:
    """A figure with its interval, in the figure's units (×100 for the tables' measures).

    Attributes:
        mean: the figure (the mean over seeds, or the single run's figure).
        low, high: the interval's ends; nan when there is none.
        method: ``"t"`` (over seeds), ``"bootstrap"`` (over videos of one run) or ``"none"``.
        runs: how many runs (seeds) the figure comes from.
        resamples: bootstrap resamples (0 unless ``method == "bootstrap"``).
    """

    mean: float
    low: float = math.nan
    high: float = math.nan
    method: str = "none"
    runs: int = 1
    resamples: int = 0

    @property
    def has_interval(self) -> bool:
        return self.method != "none" and not (math.isnan(self.low) or math.isnan(self.high))

    def describe(self) -> str:
        """How the interval was made, in words (for captions and the CSV's ``interval`` column)."""
        if self.method == "t":
            return f"95% t-interval over {self.runs} seeds"
        if self.method == "bootstrap":
            return f"95% video bootstrap ({self.resamples} resamples) of one run"
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
        """``(R, V)`` draws per video -> ``(R,)`` figures; a set without a drawn value is left out (nan-mean)."""
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", category=RuntimeWarning)
            per_set = (weights @ sums.T) / (weights @ counts.T)
            return scale * np.nanmean(per_set, axis=1)

    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(videos), size=(resamples, len(videos)))
    weights = np.zeros((resamples, len(videos)))
    np.add.at(weights, (np.arange(resamples)[:, None], draws), 1)
    resampled = figure(weights)
    tail = 100 * (1 - confidence) / 2
    low, high = np.nanpercentile(resampled, [tail, 100 - tail])
    point = float(figure(np.ones((1, len(videos))))[0])
    return Estimate(point, float(low), float(high), "bootstrap", runs=1, resamples=resamples)
