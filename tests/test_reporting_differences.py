"""Paired differences of method rows against hand-computed values: per-seed t-intervals, pairing by seed, and why
a difference gets no interval (docs/method_spec.md §9)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from groprompt.errors import GroPromptError
from groprompt.reporting.differences import TAP_CL, ZERO_SHOT, Comparison, DifferenceColumn, paired_difference
from groprompt.reporting.results import Evaluation, MethodRuns

T_975_2 = 4.302652729749462
"""t(0.975, 2 degrees of freedom)."""


def evaluation(folder: str, jf: float, protocol: str = "expression") -> Evaluation:
    """An evaluation folder's files in memory: a headline J&F and no per-object rows (the t cases need none)."""
    return Evaluation(Path(folder), pd.DataFrame([{"set": "mean", "protocol": protocol, "J&F-Mean": jf}]))


def method(key: str, figures: dict[str, float], protocol: str = "expression") -> MethodRuns:
    """A row of ``key`` with one run per ``{folder: J&F}``."""
    return MethodRuns(key, "synrvos", tuple(evaluation(folder, jf, protocol) for folder, jf in figures.items()))


GSAM = method("grounded-sam", {"eval/grounded-sam": 35.0})


def test_seeds_against_a_single_run_by_hand():
    # 40, 42, 44 against 35: differences 5, 7, 9, mean 7, s.d. 2, half-width 4.3027 * 2 / sqrt(3) = 4.968.
    lbox = method("groprompt-lbox", {"eval/lbox/seed0": 40, "eval/lbox/seed1": 42, "eval/lbox/seed2": 44})
    estimate = paired_difference(lbox, GSAM, "J&F-Mean")
    assert estimate.mean == pytest.approx(7)
    assert estimate.high - estimate.mean == pytest.approx(T_975_2 * 2 / math.sqrt(3))
    assert estimate.mean - estimate.low == pytest.approx(4.968275, abs=1e-6)
    assert (estimate.method, estimate.runs, estimate.paired) == ("t", 3, True)
    assert estimate.describe() == "paired 95% t-interval over 3 per-seed differences"
    # The other way round: a single reference run minus each seed.
    reverse = paired_difference(GSAM, lbox, "J&F-Mean")
    assert (reverse.low, reverse.mean, reverse.high) == pytest.approx((-estimate.high, -7, -estimate.low))


def test_seeded_rows_pair_by_seed_not_by_position():
    # L_box seed 0, 1, 2: 40, 45, 50; L_box + L_contra given as seed 2, 0, 1: 53, 41, 46. By seed the differences
    # are 1, 1, 3 (s.d. 1.1547, half-width 4.3027 * 1.1547 / sqrt(3) = 2.8685); by position they would be 13, -4,
    # -4 (the same mean, a half-width of 24.4).
    lbox = method("groprompt-lbox", {"lbox/seed0": 40, "lbox/seed1": 45, "lbox/seed2": 50})
    contra = method("groprompt-lbox-contra", {"contra/seed2": 53, "contra/seed0": 41, "contra/seed1": 46})
    estimate = paired_difference(contra, lbox, "J&F-Mean")
    assert estimate.mean == pytest.approx(5 / 3)
    assert estimate.high - estimate.mean == pytest.approx(2.868435, abs=1e-6)
    assert estimate.describe() == "paired 95% t-interval over 3 per-seed differences"


@pytest.mark.parametrize("contra_folders, reason", [
    (("contra/seed0", "contra/seed1", "contra/seed3"), "the seeds differ ([0, 1, 3] against [0, 1, 2])"),
    (("contra/seed0",), "the seeds differ ([0] against [0, 1, 2])"),
    (("contra/a", "contra/b", "contra/c"), "the seeds of GroPrompt (L_box + L_contra)'s runs are unknown"),
    (("x/seed1", "y/seed1", "z/seed2"), "GroPrompt (L_box + L_contra) has a seed twice ([1, 1, 2])"),
])
def test_seeds_that_cannot_be_paired_give_no_interval(contra_folders, reason):
    lbox = method("groprompt-lbox", {"lbox/seed0": 40, "lbox/seed1": 45, "lbox/seed2": 50})
    contra = method("groprompt-lbox-contra", {folder: 50.0 for folder in contra_folders})
    estimate = paired_difference(contra, lbox, "J&F-Mean")
    assert estimate.mean == pytest.approx(5)  # the difference of the rows' means
    assert not estimate.has_interval and estimate.method == "none"
    assert reason in estimate.note and estimate.describe() == estimate.note


def test_missing_column_and_different_protocols():
    lbox = method("groprompt-lbox", {"lbox/seed0": 40, "lbox/seed1": 42})
    assert paired_difference(lbox, GSAM, "Box") is None
    assessed = method("groprompt-lbox", {"lbox/seed0": 40, "lbox/seed1": 42}, protocol="strict")
    with pytest.raises(GroPromptError, match="different protocols"):
        paired_difference(assessed, GSAM, "J&F-Mean")


def test_two_single_runs_without_per_object_rows():
    lbox = method("groprompt-lbox", {"eval/lbox/seed0": 40})
    estimate = paired_difference(lbox, GSAM, "J&F-Mean")
    assert estimate.mean == pytest.approx(5) and not estimate.has_interval
    assert "GroPrompt (L_box) has no per-object rows of 'J&F-Mean'" in estimate.note


def test_difference_columns_name_and_apply():
    lbox = method("groprompt-lbox", {"lbox/seed0": 40, "lbox/seed1": 42})
    rows = [GSAM, lbox]
    assert DifferenceColumn(ZERO_SHOT, "J&F", "J&F-Mean").name == "Δ J&F vs Grounded-SAM"
    assert DifferenceColumn(TAP_CL, "J&F", "J&F-Mean", "motion").name == "Δ J&F motion vs L_box"
    column = DifferenceColumn(ZERO_SHOT, "J&F", "J&F-Mean")
    assert column.cell(GSAM, rows) is None  # the reference itself
    assert column.cell(lbox, rows).mean == pytest.approx(6)
    assert column.cell(lbox, [lbox]) is None  # no reference row
    assert DifferenceColumn(TAP_CL, "J&F", "J&F-Mean").cell(lbox, rows) is None  # only the contra row
    assert ZERO_SHOT.present(rows) and not TAP_CL.present(rows) and not ZERO_SHOT.present([GSAM])
    with pytest.raises(ValueError, match="not rows the tables know"):
        Comparison("zero-shot", "ZS")
