"""Tables of a J&F evaluation: per-object rows, the set summary and the summary by expression kind (§8).

``per_object.csv`` holds one row per (set, protocol, video, object or expression), values in ``[0, 1]``, with the
columns ``kind`` and ``Box`` where the evaluation has them (:data:`~groprompt.evaluation.runner.OPTIONAL_COLUMNS`).
``summary.csv`` holds, per (set, protocol), the DAVIS summary ×100 of
:func:`groprompt.metrics.summarize_objects` (means over objects; ``J&F-Mean = (J-Mean + F-Mean) / 2``) with the
number of objects, frames and missing frames, and ``Box`` (×100 mean over expressions of their box IoU, Table 6)
where boxes were scored; then, per protocol, a row with set ``mean``: the measures averaged over the expression
sets (for Ref-DAVIS17 the paper's figure; for one-set layouts equal to that set's row) and the counts summed, so
consumers always read the headline figure from the ``mean`` row.
``summary_by_kind.csv`` (where expressions have kinds) holds the same measures per expression kind.
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
KIND_COLUMNS = ("kind", "protocol", "expressions", *MEASURES)
"""Columns of ``summary_by_kind.csv`` (followed by ``Box`` where boxes were scored)."""


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
    """``per_object.csv``, ``summary.csv`` and, where expressions have kinds, ``summary_by_kind.csv``."""
    per_object = per_object_table(rows)
    tables = {"per_object.csv": per_object, "summary.csv": set_summary_table(per_object, plan)}
    by_kind = kind_summary_table(per_object)
    if by_kind is not None:
        tables["summary_by_kind.csv"] = by_kind
    return tables


def jf_report(plan: JFPlan, tables: dict[str, pd.DataFrame]) -> list[str]:
    """What ``groprompt evaluate`` prints of :func:`jf_tables`: the summary, the missing frames, the kinds."""
    table = tables["summary.csv"]
    lines = [f"layout {plan.layout}: {len(plan.jobs)} videos, {len(plan.sets)} expression set(s); J, F, J&F x100",
             printable(table)]
    mean = table[table["set"] == MEAN_SET].iloc[0]
    if mean["missing_frames"]:
        lines.append(f"{int(mean['missing_frames'])} of {int(mean['frames'])} prediction frames were missing and "
                     "scored as empty masks (--allow-missing)")
    if "summary_by_kind.csv" in tables:
        lines += ["by expression kind:",
                  printable(tables["summary_by_kind.csv"])]
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


def kind_summary_table(per_object: pd.DataFrame) -> pd.DataFrame | None:
    """The summary ×100 per (expression kind, protocol), kinds in sorted order; None if no row has a kind.

    Rows without a kind (a video whose expressions lack one) are left out.
    """
    if "kind" not in per_object.columns or per_object["kind"].isna().all():
        return None
    with_box = BOX in per_object.columns
    records = []
    for protocol in per_object["protocol"].unique():
        rows = per_object[per_object["protocol"] == protocol]
        for kind in sorted(rows["kind"].dropna().unique()):
            part = rows[rows["kind"] == kind]
            records.append({"kind": kind, "protocol": protocol, "expressions": len(part)}
                           | _measures(part, with_box))
    return pd.DataFrame(records, columns=[*KIND_COLUMNS, *([BOX] if with_box else [])])
