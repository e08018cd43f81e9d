"""Paired differences between method rows: each row against Grounded-SAM, TAP-CL against L_box, and the plain
fine-tuning baseline against GroPrompt (§9).

All methods of a study run on the same videos, so the difference of two rows is measured on the same data, and
its interval is made from pairs, not from the two rows' own intervals (which also hold how hard the videos are,
shared by both rows, that cancels in the difference):

* Either row has several runs: the Student t-interval of per-seed differences
  (:func:`~groprompt.reporting.intervals.t_interval`). A single run without a training seed (Grounded-SAM, GT box
  + SAM: their folder is not named ``seed<N>``) is subtracted from each seed's figure of the other row; two rows
  with seeds are paired by seed (:attr:`~groprompt.reporting.results.Evaluation.seed`). Seeds that cannot be paired
  (unknown, repeated, or different sets) give the difference of the rows' means and no interval, with the reason
  in the cell's :attr:`~groprompt.reporting.intervals.Estimate.note`.
* Both rows are single runs: a paired video bootstrap of their ``per_object.csv`` rows
  (:func:`~groprompt.reporting.intervals.paired_bootstrap_interval`); the two runs must cover the same rows.

The difference's figure is the row's summary figure minus the reference's, like the rows' own cells.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from groprompt.errors import GroPromptError
from groprompt.reporting.intervals import BOOTSTRAP_RESAMPLES, Estimate, paired_bootstrap_interval, t_interval
from groprompt.reporting.results import BASELINE_ROWS, DETECTOR_LOSS_ROW, PAPER_ROWS, MethodRuns, row_label

NO_INTERVAL = "no paired interval: "
"""How the note of a difference without an interval begins (in the CSV's ``interval`` column)."""


@dataclass(frozen=True)
class Comparison:
    """Rows compared against one reference row.

    Attributes:
        reference: the reference row's key (a key of :data:`~groprompt.reporting.results.PAPER_ROWS`, or of
            :data:`~groprompt.reporting.results.BASELINE_ROWS`, as every key here).
        short: how column headers name the reference, e.g. ``"Grounded-SAM"`` in ``"Δ J&F vs Grounded-SAM"``.
        compared: the keys of the rows compared; None for every row but the reference.
    """

    reference: str
    short: str
    compared: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        known = {**PAPER_ROWS, **BASELINE_ROWS}
        unknown = [key for key in (self.reference, *(self.compared or ())) if key not in known]
        if unknown:
            raise ValueError(f"comparison keys {unknown} are not rows the tables know ({', '.join(known)})")

    @property
    def label(self) -> str:
        return row_label(self.reference)

    def applies(self, row: MethodRuns) -> bool:
        """Whether ``row`` is compared with the reference (never the reference itself)."""
        return row.key != self.reference and (self.compared is None or row.key in self.compared)

    def reference_row(self, rows: Sequence[MethodRuns]) -> MethodRuns | None:
        return next((row for row in rows if row.key == self.reference), None)

    def present(self, rows: Sequence[MethodRuns]) -> bool:
        """Whether ``rows`` hold the reference and a row compared with it: otherwise the columns are left out."""
        return self.reference_row(rows) is not None and any(self.applies(row) for row in rows)


ZERO_SHOT = Comparison("grounded-sam", "Grounded-SAM")
"""Every row against the zero-shot grounder: what fine-tuning the prompter (or a GT box) adds."""
TAP_CL = Comparison("groprompt-lbox", "L_box", compared=("groprompt-lbox-contra",))
"""GroPrompt (L_box + L_contra) against GroPrompt (L_box): what the contrastive losses add."""
PLAIN_FINE_TUNING = Comparison("groprompt-lbox-contra", "L_box + L_contra", compared=(DETECTOR_LOSS_ROW,))
"""Grounding DINO fine-tuned with its own loss against GroPrompt (L_box + L_contra) on the same boxes: whether
GroPrompt's objective beats the standard one (negative: GroPrompt is better)."""


@dataclass(frozen=True)
class DifferenceColumn:
    """A table column of paired differences: ``measure`` (of ``kind``, if given) of each row minus the reference's.

    Attributes:
        measure: the header's name of the measure, e.g. ``"J&F"``; column: its summary column, e.g. ``"J&F-Mean"``.
        kind: an expression kind (``summary_by_kind.csv``), or None for the headline figure.
    """

    comparison: Comparison
    measure: str
    column: str
    kind: str | None = None

    @property
    def name(self) -> str:
        """The header, e.g. ``"Δ J&F vs Grounded-SAM"`` or ``"Δ J&F motion vs L_box"``."""
        of = f" {self.kind}" if self.kind else ""
        return f"Δ {self.measure}{of} vs {self.comparison.short}"

    def cell(self, row: MethodRuns, rows: Sequence[MethodRuns]) -> Estimate | None:
        """The paired difference of ``row`` from the reference among ``rows``; None where the comparison does not
        apply to ``row`` or the reference is absent."""
        reference = self.comparison.reference_row(rows)
        if reference is None or not self.comparison.applies(row):
            return None
        return paired_difference(row, reference, self.column, kind=self.kind)


def present_columns(rows: Sequence[MethodRuns], columns: Sequence[DifferenceColumn]) -> list[DifferenceColumn]:
    """Those of ``columns`` whose comparison ``rows`` hold (no Grounded-SAM row: no "vs Grounded-SAM" column)."""
    return [column for column in columns if column.comparison.present(rows)]


def _seed_differences(row: MethodRuns, values: Sequence[float], reference: MethodRuns,
                      base: Sequence[float]) -> tuple[list[float], str]:
    """Per-seed differences ``row − reference`` (either has several runs), or ``([], why they cannot be made)``."""
    seeds, base_seeds = [run.seed for run in row.runs], [run.seed for run in reference.runs]
    # A single run without a training seed pairs with every seed of the other row.
    if len(base) == 1 and base_seeds[0] is None:
        return [value - base[0] for value in values], ""
    if len(values) == 1 and seeds[0] is None:
        return [values[0] - value for value in base], ""
    for which, found in ((row, seeds), (reference, base_seeds)):
        if None in found:
            return [], (f"the seeds of {which.label}'s runs are unknown (name the seeds' evaluation folders "
                        "seed0, seed1, ...)")
        if len(set(found)) < len(found):
            return [], f"{which.label} has a seed twice ({sorted(found)})"
    if set(seeds) != set(base_seeds):
        return [], f"the seeds differ ({sorted(seeds)} against {sorted(base_seeds)})"
    by_seed = dict(zip(base_seeds, base, strict=True))
    return [value - by_seed[seed] for seed, value in zip(seeds, values, strict=True)], ""


def _bootstrap_difference(row: MethodRuns, reference: MethodRuns, column: str, difference: float,
                          kind: str | None) -> Estimate:
    """Two single runs: ``difference`` (of their summaries) with the paired video bootstrap's interval."""
    run, base = row.runs[0], reference.runs[0]
    rows, base_rows = run.rows(kind=kind), base.rows(kind=kind)
    for name, frame, evaluation in ((row.label, rows, run), (reference.label, base_rows, base)):
        if frame is None or column not in frame.columns or frame.empty:
            return Estimate(difference, note=f"{NO_INTERVAL}{name} has no per-object rows of {column!r} "
                                             f"({evaluation.folder})")
    interval = paired_bootstrap_interval(rows, base_rows, column, names=(f"{row.label} ({run.folder})",
                                                                         f"{reference.label} ({base.folder})"))
    return replace(interval, mean=difference)


def paired_difference(row: MethodRuns, reference: MethodRuns, column: str, *,
                      kind: str | None = None) -> Estimate | None:
    """The difference ``row − reference`` of ``column`` (a summary column, ×100; of ``kind`` if given) with its
    paired 95% interval (module docstring).

    Returns:
        an :class:`Estimate` marked ``paired`` (t over per-seed differences, or a paired video bootstrap); one
        without an interval, whose ``note`` says why, where seeds or per-object rows cannot be paired; None if
        either row lacks the column or the difference is nan.

    Raises:
        GroPromptError: the rows were evaluated under different protocols, or (two single runs) their per-object
            rows differ.
    """
    protocols = {run.headline_protocol for run in (*row.runs, *reference.runs)}
    if len(protocols) > 1:
        raise GroPromptError(f"{row.label} and {reference.label} were evaluated under different protocols "
                             f"({sorted(map(str, protocols))}); their difference is undefined",
                             path=row.runs[0].folder, fix="evaluate every method with the same layout and protocol")
    values, base = row.figures(column, kind=kind), reference.figures(column, kind=kind)
    if values is None or base is None:
        return None
    difference = sum(values) / len(values) - sum(base) / len(base)
    if math.isnan(difference):
        return None
    if len(values) == 1 and len(base) == 1:
        return _bootstrap_difference(row, reference, column, difference, kind)
    differences, problem = _seed_differences(row, values, reference, base)
    if problem:
        return Estimate(difference, runs=len(values), note=f"{NO_INTERVAL}{problem}")
    return replace(t_interval(differences), paired=True)


def difference_notes(body: Sequence[Mapping[str, object]], columns: Sequence[DifferenceColumn]) -> list[str]:
    """The notes under a table with ``columns``: how their intervals are made, then each row and reference whose
    difference has no interval, with the reason (once per pair)."""
    if not columns:
        return []
    aliases = "; ".join(dict.fromkeys(f"{c.short} is {c.label}" for column in columns
                                      if (c := column.comparison).short != c.label))
    notes = [f"Δ X vs R: the row's figure X minus R's{f' ({aliases})' if aliases else ''}, on the same videos, "
             "with a paired 95% interval. Where a row has several seeds: the Student t-interval of the per-seed "
             "differences (a run without a training seed, as Grounded-SAM's, is subtracted from each seed's figure; "
             "two rows with seeds are paired by seed, read from their evaluation folders' names seed0, seed1, ...). "
             f"Where both rows are single runs: a paired video bootstrap ({BOOTSTRAP_RESAMPLES} resamples, each "
             "drawing the same videos for both rows; percentiles 2.5 and 97.5 of the difference). What the videos' "
             "difficulty adds to both rows cancels, so a paired interval can exclude 0 where the rows' own intervals "
             "overlap."]
    reasons = dict.fromkeys(
        f"No interval for {row['Method']} vs {column.comparison.label}: {cell.note.removeprefix(NO_INTERVAL)}."
        for row in body for column in columns if isinstance(cell := row.get(column.name), Estimate) and cell.note)
    return notes + list(reasons)
