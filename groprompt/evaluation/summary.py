"""Tables of a J&F evaluation: per-object rows, the set summary and the summaries by group of expressions (§8).

``per_object.csv`` holds one row per (set, protocol, video, object or expression), values in ``[0, 1]``, with the
columns ``kind`` and ``Box`` where the evaluation has them (:data:`~groprompt.evaluation.runner.OPTIONAL_COLUMNS`).
``summary.csv`` holds, per (set, protocol), the DAVIS summary ×100 of
:func:`groprompt.metrics.summarize_objects` (means over objects; ``J&F-Mean = (J-Mean + F-Mean) / 2``) with the
number of objects, frames and missing frames, and ``Box`` (×100 mean over expressions of their box IoU, Table 6)
where boxes were scored; then, per protocol, a row with set ``mean``: the measures averaged over the expression
sets (for Ref-DAVIS17 the paper's figure; for one-set layouts equal to that set's row) and the counts summed, so
consumers always read the headline figure from the ``mean`` row.
``summary_by_<grouping>.csv`` holds the same measures per value of the column ``<grouping>`` of ``per_object.csv``
(:data:`GROUPINGS`), where some row has one: ``summary_by_kind.csv`` per expression kind (SynRVOS), and
``summary_by_referents.csv`` for single- and multi-object expressions, where some expression of the split refers to
several objects (MeViS: then ``per_object.csv`` has the column ``referents``, :func:`referent_groups`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import pandas as pd

from groprompt.evaluation.runner import OPTIONAL_COLUMNS, ROW_COLUMNS
from groprompt.metrics import SUMMARY_COLUMNS as MEASURES
from groprompt.metrics import ObjectStatistics, summarize_objects

MEAN_SET = "mean"
BOX = "Box"
COUNTS = ("objects", "frames", "missing_frames")
SUMMARY_COLUMNS = ("set", "protocol", *COUNTS, *MEASURES)
"""Columns of ``summary.csv`` (followed by ``Box`` where boxes were scored)."""
GROUPINGS = {"kind": "expression kind", "referents": "referents (single-object / multi-object)"}
"""Columns of ``per_object.csv`` the measures are broken down by, each into ``summary_by_<column>.csv`` whose
columns are ``(<column>, "protocol", "expressions", *MEASURES)``, then ``Box`` where boxes were scored -> how
``groprompt evaluate`` titles its breakdown."""
GROUP_FILES = tuple(f"summary_by_{grouping}.csv" for grouping in GROUPINGS)
SINGLE_OBJECT, MULTI_OBJECT = "single-object", "multi-object"
REFERENT_GROUPS = (SINGLE_OBJECT, MULTI_OBJECT)
"""The values of the column ``referents``, in the order the breakdown lists them."""


class JFPlan(Protocol):
    """What the tables need of a J&F plan (a :class:`~groprompt.evaluation.layouts.EvaluationPlan`, which builds
    its tables with this module)."""

    layout: str
    sets: tuple[str, ...]
    protocols: tuple[str, ...]
    jobs: Sequence[Any]

    def frames(self, set_name: str) -> int:
        """Prediction frames that ``set_name`` scores."""
        ...

    def missing_frames(self, set_name: str) -> int:
        """Frames of ``set_name`` with no prediction file."""
        ...


def printable(table: pd.DataFrame) -> str:
    """A table as ``groprompt evaluate`` prints it: no index, two decimals."""
    return table.to_string(index=False, float_format=lambda value: f"{value:.2f}")


def jf_tables(plan: JFPlan, rows: Sequence[dict]) -> dict[str, pd.DataFrame]:
    """``per_object.csv``, ``summary.csv`` and the ``summary_by_<grouping>.csv`` of the groupings the rows have."""
    per_object = per_object_table(rows)
    groups = referent_groups(per_object)
    if groups is not None:
        per_object["referents"] = groups
    tables = {"per_object.csv": per_object, "summary.csv": set_summary_table(per_object, plan)}
    for grouping, name in zip(GROUPINGS, GROUP_FILES, strict=True):
        table = group_summary_table(per_object, grouping)
        if table is not None:
            tables[name] = table
    return tables


def jf_report(plan: JFPlan, tables: dict[str, pd.DataFrame]) -> list[str]:
    """What ``groprompt evaluate`` prints of :func:`jf_tables`: the summary, the missing frames, the breakdowns."""
    table = tables["summary.csv"]
    lines = [f"layout {plan.layout}: {len(plan.jobs)} videos, {len(plan.sets)} expression set(s); J, F, J&F x100",
             printable(table)]
    mean = table[table["set"] == MEAN_SET].iloc[0]
    if mean["missing_frames"]:
        lines.append(f"{int(mean['missing_frames'])} of {int(mean['frames'])} prediction frames were missing and "
                     "scored as empty masks (--allow-missing)")
    for (grouping, title), name in zip(GROUPINGS.items(), GROUP_FILES, strict=True):
        if name in tables:
            lines += [f"by {title}:", printable(tables[name])]
    return lines


def per_object_table(rows: Sequence[dict]) -> pd.DataFrame:
    """The per-object rows as a DataFrame with columns :data:`~groprompt.evaluation.runner.ROW_COLUMNS`, then
    those of :data:`~groprompt.evaluation.runner.OPTIONAL_COLUMNS` that some row has."""
    optional = [name for name in OPTIONAL_COLUMNS if any(name in row for row in rows)]
    table = pd.DataFrame(list(rows), columns=[*ROW_COLUMNS, *optional])
    return table.astype({"pred_id": "Int64"})


def _statistics(part: pd.DataFrame, measure: str) -> list[ObjectStatistics]:
    columns = [f"{measure}-Mean", f"{measure}-Recall", f"{measure}-Decay"]
    return [ObjectStatistics(*values) for values in part[columns].itertuples(index=False)]


def _measures(part: pd.DataFrame, with_box: bool) -> dict[str, float]:
    """The DAVIS summary ×100 of some per-object rows (nan if none), and their mean box IoU ×100 if scored."""
    record = (summarize_objects(_statistics(part, "J"), _statistics(part, "F")) if len(part)
              else dict.fromkeys(MEASURES, math.nan))
    if with_box:
        record[BOX] = 100 * float(part[BOX].mean()) if len(part) else math.nan
    return record


def set_summary_table(per_object: pd.DataFrame, plan: JFPlan) -> pd.DataFrame:
    """The summary ×100 per (set, protocol of the plan), then one ``mean`` row per protocol (mean over sets).

    A set with no object (ground truth without objects) has nan measures.
    """
    with_box = BOX in per_object.columns
    measures = [*MEASURES, BOX] if with_box else list(MEASURES)
    records = []
    for protocol in plan.protocols:
        set_records = []
        for set_name in plan.sets:
            part = per_object[(per_object["set"] == set_name) & (per_object["protocol"] == protocol)]
            record = {"set": set_name, "protocol": protocol, "objects": len(part),
                      "frames": plan.frames(set_name), "missing_frames": plan.missing_frames(set_name)}
            set_records.append(record | _measures(part, with_box))
        mean = {"set": MEAN_SET, "protocol": protocol}
        mean |= {name: sum(r[name] for r in set_records) for name in COUNTS}
        mean |= {name: sum(r[name] for r in set_records) / len(set_records) for name in measures}
        records += [*set_records, mean]
    return pd.DataFrame(records, columns=[*SUMMARY_COLUMNS, *measures[len(MEASURES):]])


def referent_groups(per_object: pd.DataFrame) -> pd.Categorical | None:
    """Per row, ``single-object`` or ``multi-object`` (an expression whose ``object_id`` joins several ids with
    ``+``, :func:`~groprompt.evaluation.runner.score_video`), ordered as :data:`REFERENT_GROUPS`; None where no
    row refers to several objects (the split has nothing to break down)."""
    several = per_object["object_id"].astype(str).str.contains("+", regex=False)
    if not several.any():
        return None
    return pd.Categorical([MULTI_OBJECT if value else SINGLE_OBJECT for value in several],
                          categories=REFERENT_GROUPS)


def group_summary_table(per_object: pd.DataFrame, grouping: str) -> pd.DataFrame | None:
    """The summary ×100 per (value of the column ``grouping``, protocol), values in sorted order (a categorical
    column's in the order of its categories); None if no row has a value.

    Rows without a value (a video whose expressions lack a kind) are left out.
    """
    if grouping not in per_object.columns or per_object[grouping].isna().all():
        return None
    with_box = BOX in per_object.columns
    records = []
    for protocol in per_object["protocol"].unique():
        rows = per_object[per_object["protocol"] == protocol]
        for value in rows[grouping].dropna().drop_duplicates().sort_values():
            part = rows[rows[grouping] == value]
            records.append({grouping: value, "protocol": protocol, "expressions": len(part)}
                           | _measures(part, with_box))
    return pd.DataFrame(records, columns=[grouping, "protocol", "expressions", *MEASURES,
                                          *([BOX] if with_box else [])])
