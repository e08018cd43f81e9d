"""Breakdowns beyond the paper's tables: figures by expression kind, and the two Ref-DAVIS17 protocols side by side.

* ``by_kind``: SynRVOS tags each expression appearance / location / motion (docs/synthetic_benchmark.md); J&F and Box
  per kind show where a per-frame prompter fails (motion needs more than one frame) and where TAP-CL helps, and
  "Δ J&F <kind> vs Grounded-SAM" the paired difference of each row from the zero-shot grounder per kind
  (:mod:`~groprompt.reporting.differences`), where fine-tuning gains (the look-alikes: location, shared
  descriptions).
* ``by_kind_contra``: one row, GroPrompt (L_box + L_contra), and "Δ J&F <kind> vs L_box" per kind: what TAP-CL
  adds, per kind. A table of its own because in ``by_kind`` those columns would be blank on every other row.
* ``refdavis_protocols``: the official assignment protocol next to the strict one (docs/method_spec.md §8); a gap
  between them is prompts that segment another object of the video, which the assignment re-labels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from groprompt.data.registry import DatasetKind
from groprompt.reporting.differences import TAP_CL, ZERO_SHOT, DifferenceColumn, difference_notes, present_columns
from groprompt.reporting.intervals import Estimate
from groprompt.reporting.results import MethodRuns, group_counts, not_in_paper_notes, ordered
from groprompt.reporting.table6 import INTERVAL_NOTE, SEEDS
from groprompt.reporting.tables import Column, Table

KIND = "kind"
"""The grouping of the by-kind tables (``summary_by_kind.csv``)."""
KIND_MEASURES = {"J&F": "J&F-Mean", "Box": "Box"}
PROTOCOL_MEASURES = {"J&F": "J&F-Mean", "J": "J-Mean", "F": "F-Mean"}
PROTOCOLS = ("assignment", "strict")


def _method_rows(rows: Sequence[MethodRuns], headers: dict[tuple[str, str], str],
                 estimate: Callable[[MethodRuns, str, str], Estimate | None],
                 differences: Sequence[DifferenceColumn] = (), among: Sequence[MethodRuns] | None = None
                 ) -> tuple[list[Column], list[dict]]:
    """The columns (Method, Seeds, one per header, one per difference) and one row per method of a breakdown, whose
    header of (group, measure) holds ``estimate(row, group, measure)``; the differences' reference rows are looked
    up ``among`` these rows (default: ``rows``)."""
    among = rows if among is None else among
    columns = [Column("Method"), SEEDS, *(Column(header, "estimate") for header in headers.values()),
               *(Column(difference.name, "estimate", signed=True) for difference in differences)]
    body = [{"Method": row.label, "Seeds": len(row.runs)}
            | {header: estimate(row, group, name) for (group, name), header in headers.items()}
            | {difference.name: difference.cell(row, among) for difference in differences} for row in rows]
    return columns, body


def _kind_rows(rows: Sequence[MethodRuns], dataset: DatasetKind) -> list[MethodRuns]:
    """The rows on ``dataset`` whose evaluations have expression kinds, in the paper's order."""
    return ordered([row for row in rows if row.dataset == dataset.key and group_counts([row], KIND)])


def build_by_kind(rows: Sequence[MethodRuns], dataset: DatasetKind) -> Table | None:
    """J&F and Box per method and expression kind on ``dataset``, and each row's paired difference in J&F from
    Grounded-SAM per kind (where that row is there); None if no evaluation has kinds."""
    rows = _kind_rows(rows, dataset)
    counts = group_counts(rows, KIND)
    if not counts:
        return None
    headers = {(kind, name): f"{name} {kind} (n={count})" for kind, count in counts.items() for name in KIND_MEASURES}
    differences = present_columns(rows, [DifferenceColumn(ZERO_SHOT, "J&F", KIND_MEASURES["J&F"], kind)
                                         for kind in counts])
    columns, body = _method_rows(rows, headers, lambda row, kind, name: row.estimate(KIND_MEASURES[name], kind=kind),
                                 differences)
    caption = (f"J&F and box-prompt IoU (Box) by expression kind on {dataset.caption}; ×100, computed by this "
               "harness (not in the paper). n: expressions of the kind.")
    return Table("by_kind", "Breakdown by expression kind", caption, columns, body,
                 [INTERVAL_NOTE, *difference_notes(body, differences), *not_in_paper_notes(r.key for r in rows)],
                 formats=("csv", "md"))


def build_by_kind_contra(rows: Sequence[MethodRuns], dataset: DatasetKind) -> Table | None:
    """GroPrompt (L_box + L_contra)'s paired difference in J&F from GroPrompt (L_box) per expression kind on
    ``dataset``; None unless both rows are there with kinds."""
    rows = _kind_rows(rows, dataset)
    counts = group_counts(rows, KIND)
    differences = present_columns(rows, [DifferenceColumn(TAP_CL, "J&F", KIND_MEASURES["J&F"], kind)
                                         for kind in counts])
    if not differences:
        return None
    compared = [row for row in rows if TAP_CL.applies(row)]
    columns, body = _method_rows(compared, {}, lambda row, kind, name: None, differences, among=rows)
    caption = (f"What TAP-CL adds, by expression kind, on {dataset.caption}: J&F of GroPrompt (L_box + L_contra) "
               f"minus that of GroPrompt (L_box), ×100, computed by this harness (not in the paper). Expressions "
               f"per kind: {', '.join(f'{kind} {count}' for kind, count in counts.items())}.")
    return Table("by_kind_contra", "TAP-CL by expression kind", caption, columns, body,
                 difference_notes(body, differences), formats=("csv", "md"))


def build_protocols(rows: Sequence[MethodRuns], dataset: DatasetKind) -> Table | None:
    """J&F, J, F under the assignment and the strict protocol; None if no evaluation on ``dataset`` has both."""
    rows = ordered([row for row in rows if row.dataset == dataset.key and set(PROTOCOLS) <= set(row.protocols)])
    if not rows:
        return None
    headers = {(protocol, name): f"{name} ({protocol})" for name in PROTOCOL_MEASURES for protocol in PROTOCOLS}
    columns, body = _method_rows(rows, headers,
                                 lambda row, protocol, name: row.estimate(PROTOCOL_MEASURES[name], protocol=protocol))
    caption = (f"Ref-DAVIS17 protocols on {dataset.caption}; ×100, computed by this harness. assignment: the "
               "official DAVIS-2017 unsupervised evaluation (predictions matched to objects by maximum J&F, per "
               "expression set, mean of the sets), the paper's protocol; strict: each prediction scored against "
               "its own object only. A gap between them counts prompts that landed on another object.")
    return Table("refdavis_protocols", "Ref-DAVIS17 protocols", caption, columns, body,
                 [INTERVAL_NOTE, *not_in_paper_notes(row.key for row in rows)],
                 formats=("csv", "md"))
