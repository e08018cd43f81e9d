"""§9 intervals against hand-computed values: the t-interval over seeds and the video-level bootstrap."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import stats

from groprompt.errors import GroPromptError
from groprompt.reporting.intervals import Estimate, bootstrap_interval, t_interval

T_975_2 = 4.302652729749462
"""t(0.975, 2 degrees of freedom), from tables (4.303)."""


def test_t_quantile_for_three_seeds():
    assert stats.t.ppf(0.975, 2) == pytest.approx(T_975_2, abs=1e-12)
    assert round(T_975_2, 3) == 4.303


def test_t_interval_three_seeds_by_hand():
    # mean 62; sample s.d. sqrt(((-2)^2 + 0 + 2^2) / 2) = 2; half-width 4.30265 * 2 / 1.73205 = 4.96828.
    estimate = t_interval([60.0, 62.0, 64.0])
    assert estimate.mean == pytest.approx(62.0)
    assert estimate.high - estimate.mean == pytest.approx(T_975_2 * 2 / math.sqrt(3))
    assert estimate.mean - estimate.low == pytest.approx(4.968275, abs=1e-6)
    assert (estimate.method, estimate.runs) == ("t", 3)
    assert estimate.describe() == "95% t-interval over 3 seeds"


def test_t_interval_two_seeds_and_equal_seeds():
    # n = 2: t(0.975, 1) = 12.706; s.d. of (1, 3) is sqrt(2); half-width 12.706 * sqrt(2) / sqrt(2) = 12.706.
    estimate = t_interval([1.0, 3.0])
    assert (estimate.low, estimate.high) == pytest.approx((2 - 12.7062047, 2 + 12.7062047))
    flat = t_interval([5.0, 5.0, 5.0])
    assert (flat.low, flat.mean, flat.high) == (5.0, 5.0, 5.0)


def test_t_interval_refuses_one_seed_and_nan():
    with pytest.raises(GroPromptError, match="at least 2"):
        t_interval([1.0])
    with pytest.raises(GroPromptError, match="nan"):
        t_interval([1.0, math.nan])


def rows(values: dict[tuple[str, str], list[float]], column: str = "J&F-Mean") -> pd.DataFrame:
    return pd.DataFrame([{"set": s, "video": v, column: x} for (s, v), xs in values.items() for x in xs])


def test_bootstrap_two_videos_by_hand():
    # Video a has expressions 0.2 and 0.4, video b one expression 0.9. The figure (mean over expressions) is
    # (0.2 + 0.4 + 0.9) / 3 = 0.5. A resample of two videos is (a, a) with probability 1/4: figure 0.3;
    # (b, b) 1/4: 0.9; a and b 1/2: 0.5. The 2.5th percentile falls among the (a, a) draws, the 97.5th among
    # the (b, b) draws: [30, 90] x100.
    estimate = bootstrap_interval(rows({("all", "a"): [0.2, 0.4], ("all", "b"): [0.9]}), "J&F-Mean")
    assert estimate.mean == pytest.approx(50)
    assert (estimate.low, estimate.high) == pytest.approx((30, 90))
    assert (estimate.method, estimate.resamples) == ("bootstrap", 1000)


def test_bootstrap_mean_over_expression_sets_by_hand():
    # Two sets (as Ref-DAVIS17's four): set 1 a 0.2, b 0.6; set 2 a 0.4, b 1.0. Figure: mean over sets of the
    # mean over videos = (0.4 + 0.7) / 2 = 0.55. Videos are drawn once for all sets: (a, a) gives
    # (0.2 + 0.4) / 2 = 0.3, (b, b) gives 0.8.
    table = rows({("s1", "a"): [0.2], ("s1", "b"): [0.6], ("s2", "a"): [0.4], ("s2", "b"): [1.0]})
    estimate = bootstrap_interval(table, "J&F-Mean")
    assert (estimate.low, estimate.mean, estimate.high) == pytest.approx((30, 55, 80))


def test_bootstrap_skips_nan_and_is_deterministic():
    table = rows({("all", "a"): [0.2, math.nan], ("all", "b"): [0.6], ("all", "c"): [0.1]}, "Box")
    first, second = bootstrap_interval(table, "Box"), bootstrap_interval(table, "Box")
    assert first == second
    assert first.mean == pytest.approx(100 * 0.9 / 3)
    assert first.low == pytest.approx(10) and first.high == pytest.approx(60)  # all-c and all-b resamples
    other_seed = bootstrap_interval(table, "Box", seed=1, resamples=200)
    assert other_seed.resamples == 200 and other_seed.mean == pytest.approx(first.mean)


def test_bootstrap_refuses_empty_rows():
    with pytest.raises(GroPromptError, match="no per-object rows"):
        bootstrap_interval(rows({}), "J&F-Mean")


def test_estimate_without_interval():
    assert not Estimate(50.0).has_interval
    assert Estimate(50.0).describe() == "one run, no interval"
