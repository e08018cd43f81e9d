"""Tables of an evaluation: per-object rows and the global summary (method_spec.md §8).

``per_object.csv`` holds one row per (set, protocol, video, object or expression), values in ``[0, 1]``.
``summary.csv`` holds, per (set, protocol), the DAVIS summary ×100 of
:func:`groprompt.metrics.summarize_objects` (means over objects; ``J&F-Mean = (J-Mean + F-Mean) / 2``) with the
number of objects, frames and missing frames; then, per protocol, a row with set ``mean``: the measures averaged
over the expression sets (for Ref-DAVIS17 the paper's figure; for one-set layouts equal to that set's row) and the
counts summed, so consumers always read the headline figure from the ``mean`` row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from groprompt.evaluation.layouts import EvaluationPlan
from groprompt.evaluation.runner import ROW_COLUMNS
from groprompt.metrics import SUMMARY_COLUMNS as MEASURES
from groprompt.metrics import ObjectStatistics, summarize_objects

MEAN_SET = "mean"
COUNTS = ("objects", "frames", "missing_frames")
SUMMARY_COLUMNS = ("set", "protocol", *COUNTS, *MEASURES)
"""Columns of ``summary.csv``."""


def per_object_table(rows: Sequence[dict]) -> pd.DataFrame:
    """The per-object rows as a DataFrame with columns :data:`~groprompt.evaluation.runner.ROW_COLUMNS`."""
    table = pd.DataFrame(list(rows), columns=list(ROW_COLUMNS))
    return table.astype({"pred_id": "Int64"})


def _statistics(part: pd.DataFrame, measure: str) -> list[ObjectStatistics]:
    columns = [f"{measure}-Mean", f"{measure}-Recall", f"{measure}-Decay"]
    return [ObjectStatistics(*values) for values in part[columns].itertuples(index=False)]


def summary_table(per_object: pd.DataFrame, plan: EvaluationPlan, protocols: Sequence[str]) -> pd.DataFrame:
    """The summary ×100 per (set, protocol), then one ``mean`` row per protocol (mean over sets).

    A set with no object (ground truth without objects) has nan measures.
    """
    records = []
    for protocol in protocols:
        set_records = []
        for set_name in plan.sets:
            part = per_object[(per_object["set"] == set_name) & (per_object["protocol"] == protocol)]
            record = {"set": set_name, "protocol": protocol, "objects": len(part),
                      "frames": plan.frames(set_name), "missing_frames": plan.missing_frames(set_name)}
            record |= (summarize_objects(_statistics(part, "J"), _statistics(part, "F")) if len(part)
                       else dict.fromkeys(MEASURES, math.nan))
            set_records.append(record)
        mean = {"set": MEAN_SET, "protocol": protocol}
        mean |= {name: sum(r[name] for r in set_records) for name in COUNTS}
        mean |= {name: sum(r[name] for r in set_records) / len(set_records) for name in MEASURES}
        records += [*set_records, mean]
    return pd.DataFrame(records, columns=list(SUMMARY_COLUMNS))
