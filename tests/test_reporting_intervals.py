"""§9 intervals against hand-computed values: the t-interval over seeds, the video-level bootstrap, and the paired
video bootstrap of a difference of two runs."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import stats

from groprompt.errors import GroPromptError
from groprompt.reporting.intervals import Estimate, bootstrap_interval, paired_bootstrap_interval, t_interval

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


def keyed(values: dict[str, list[float]], column: str = "J&F-Mean") -> pd.DataFrame:
    """Per-object rows of one set: video -> its expressions' values (expression ids 0, 1, ...)."""
    return pd.DataFrame([{"set": "all", "video": v, "expression": str(k), column: x}
                         for v, xs in values.items() for k, x in enumerate(xs)])


def test_paired_bootstrap_constant_difference_has_zero_width():
    # The run is the reference + 0.1 on every row: every resample's difference is exactly 10.
    reference = {"a": [0.2, 0.4], "b": [0.9], "c": [0.1], "d": [0.5, 0.6, 0.3]}
    shifted = {video: [x + 0.1 for x in xs] for video, xs in reference.items()}
    estimate = paired_bootstrap_interval(keyed(shifted), keyed(reference), "J&F-Mean")
    assert (estimate.low, estimate.mean, estimate.high) == pytest.approx((10, 10, 10))
    assert (estimate.method, estimate.paired, estimate.resamples) == ("bootstrap", True, 1000)
    assert estimate.describe() == "paired 95% video bootstrap (1000 resamples) of one run each"


def test_paired_bootstrap_two_videos_by_hand():
    # Run .8 everywhere, reference a (.2, .4), b .9. Resamples (a, a): .8 - .3 = 50; (b, b): .8 - .9 = -10;
    # (a, b): .8 - .5 = 30, the figure. The 2.5th percentile falls among (b, b), the 97.5th among (a, a).
    estimate = paired_bootstrap_interval(keyed({"a": [.8, .8], "b": [.8]}), keyed({"a": [.2, .4], "b": [.9]}),
                                         "J&F-Mean")
    assert (estimate.low, estimate.mean, estimate.high) == pytest.approx((-10, 30, 50))


def test_pairing_resolves_what_unpaired_intervals_do_not():
    # Videos of very different difficulty; the run beats the reference on each by 4 to 6 points. The two runs'
    # own intervals overlap widely, but every resample's difference is a mean of per-video differences in
    # [.04, .06], so the paired interval lies in [4, 6] and excludes 0.
    reference = {"a": [0.1], "b": [0.9], "c": [0.3], "d": [0.7], "e": [0.5], "f": [0.2]}
    bumps = {"a": 0.04, "b": 0.06, "c": 0.05, "d": 0.04, "e": 0.06, "f": 0.05}
    run = {video: [x + bumps[video] for x in xs] for video, xs in reference.items()}
    own, base = bootstrap_interval(keyed(run), "J&F-Mean"), bootstrap_interval(keyed(reference), "J&F-Mean")
    assert own.low < base.high and base.low < own.high and base.low < base.mean + 5 < base.high
    paired = paired_bootstrap_interval(keyed(run), keyed(reference), "J&F-Mean")
    assert paired.mean == pytest.approx(5)
    assert 4 - 1e-9 <= paired.low < paired.high <= 6 + 1e-9


def test_paired_bootstrap_refuses_rows_that_do_not_match():
    reference = keyed({"a": [0.2, 0.4], "b": [0.9]})
    with pytest.raises(GroPromptError, match=r"'the run' has 1 per-object row\(s\) that 'the ref' lacks.*video c"):
        paired_bootstrap_interval(keyed({"a": [0.2, 0.4], "c": [0.9]}), reference, "J&F-Mean",
                                  names=("'the run'", "'the ref'"))
    with pytest.raises(GroPromptError, match="the reference has 1 per-object row.*video a, expression 1"):
        paired_bootstrap_interval(keyed({"a": [0.2], "b": [0.9]}), reference, "J&F-Mean")
    with pytest.raises(GroPromptError, match="appears twice"):
        paired_bootstrap_interval(pd.concat([reference, reference.iloc[:1]]), reference, "J&F-Mean")
    with pytest.raises(GroPromptError, match="no per-object rows of the reference"):
        paired_bootstrap_interval(reference, reference.iloc[:0], "J&F-Mean")


def test_paired_bootstrap_pairs_on_the_keys_both_fill():
    # A Ref-DAVIS17 set's rows name their expression only where boxes were scored: a run with boxes and one
    # without pair on (set, video, object_id). Run .1 above the reference on every object: zero width at 10.
    reference = pd.DataFrame([{"set": s, "video": v, "object_id": o, "expression": None, "J&F-Mean": x}
                              for s in ("0", "1") for v, o, x in (("a", "1", .2), ("a", "2", .5), ("b", "1", .7))])
    boxed = reference.assign(expression=["3", "4", "5"] * 2, **{"J&F-Mean": reference["J&F-Mean"] + .1})
    estimate = paired_bootstrap_interval(boxed, reference, "J&F-Mean")
    assert (estimate.low, estimate.mean, estimate.high) == pytest.approx((10, 10, 10))
    with pytest.raises(GroPromptError, match="appears twice"):
        paired_bootstrap_interval(boxed.assign(object_id="1"), reference.assign(object_id="1"), "J&F-Mean")
