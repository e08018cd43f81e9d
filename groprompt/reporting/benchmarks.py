"""Tables 1-3 of the paper, in its layout, for whichever benchmarks were evaluated (docs/method_spec.md §8, §9).

* Table 1: J&F, J, F, one column group per kind that feeds it (Ref-YouTube-VOS, then Ref-DAVIS17);
* Table 2 (A2D-Sentences), Table 3 (JHMDB-Sentences): P@0.5 .. P@0.9, overall IoU, mean IoU.

A table's datasets are the kinds that declare it (``DatasetKind.table``, :mod:`groprompt.data.registry`), in the
order the kinds are found, so a benchmark of yours that declares ``table="table1"`` gets its columns there. Rows:
for each method in the paper's order, the paper's row where it has one (Grounded-SAM and GroPrompt, marked
"reported" in the Source column), then ours (marked "computed"); other baselines of ours last. A table is made
only when at least one method was evaluated on one of its datasets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from groprompt.data.registry import PAPER_TABLES, DatasetKind, dataset_kinds
from groprompt.reporting.reported import reported_rows
from groprompt.reporting.results import (
    JF_MEASURES,
    REFERRING_MEASURES,
    MethodRuns,
    not_in_paper_notes,
    paper_order,
    row_label,
)
from groprompt.reporting.table6 import INTERVAL_NOTE
from groprompt.reporting.tables import Column, Table

COMPUTED = "computed"

MEASURES = {"jf": {name: JF_MEASURES[name] for name in ("J&F", "J", "F")}, "referring": REFERRING_MEASURES}
"""A family of measures (``PAPER_TABLES``) -> the table's headers and the summary columns they read."""


@dataclass(frozen=True)
class BenchmarkTable:
    """One of the paper's benchmark tables: its name (a key of ``PAPER_TABLES``), title, and what it shows, with
    ``{datasets}`` where the names of its kinds go."""

    name: str
    title: str
    what: str

    @property
    def kinds(self) -> list[DatasetKind]:
        """The kinds that feed this table (its column groups, in discovery order)."""
        return dataset_kinds().table_kinds(self.name)

    @property
    def measures(self) -> dict[str, str]:
        return MEASURES[PAPER_TABLES[self.name]]


BENCHMARK_TABLES = (
    BenchmarkTable("table1", "Table 1", "referring video object segmentation on the validation splits of "
                                        "{datasets}: J&F, J (region similarity), F (contour accuracy)"),
    BenchmarkTable("table2", "Table 2", "{datasets}: precision at IoU thresholds 0.5-0.9, overall IoU and mean IoU"),
    BenchmarkTable("table3", "Table 3", "{datasets}: precision at IoU thresholds 0.5-0.9, overall IoU and mean IoU"),
)


def _names(kinds: Sequence[DatasetKind]) -> str:
    """``A``, ``A and B``, ``A, B and C`` (``kinds`` is not empty)."""
    names = [kind.name for kind in kinds]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def build_benchmark_table(spec: BenchmarkTable, rows: Sequence[MethodRuns]) -> Table | None:
    """``spec`` from the rows evaluated on its datasets, with the paper's rows; None if none was evaluated."""
    kinds = {kind.key: kind for kind in spec.kinds}
    ours = [row for row in rows if row.dataset in kinds]
    if not ours:
        return None
    headers = {(key, m): f"{kind.name} {m}" if len(kinds) > 1 else m
               for key, kind in kinds.items() for m in spec.measures}
    columns = [Column("Method"), Column("Source"), *(Column(h, "estimate") for h in headers.values())]
    paper = reported_rows(spec.title)
    body = []
    for key in sorted(dict.fromkeys([row.key for row in ours] + [p.key for p in paper]), key=paper_order):
        quoted = [p for p in paper if p.key == key]
        if quoted:
            cells: dict = {"Method": quoted[0].method, "Source": f"reported ({spec.title} of the paper)"}
            for p in quoted:
                cells |= {headers[(p.dataset, m)]: p.values[m] for m in spec.measures}
            body.append(cells)
        computed = [row for row in ours if row.key == key]
        if computed:
            cells = {"Method": row_label(key), "Source": COMPUTED}
            for row in computed:
                cells |= {headers[(row.dataset, m)]: row.estimate(column) for m, column in spec.measures.items()}
            body.append(cells)
    evaluated = ", ".join(kind.name for key, kind in kinds.items() if any(row.dataset == key for row in ours))
    what = spec.what.format(datasets=_names(list(kinds.values())))
    caption = (f"Paper {spec.title}, {what}; ×100. Rows marked reported are the paper's figures; rows marked "
               f"computed are this harness's evaluation on {evaluated} (blank where not evaluated).")
    return Table(spec.name, spec.title, caption, columns, body,
                 [INTERVAL_NOTE, *not_in_paper_notes(row.key for row in ours)])


def build_benchmark_tables(rows: Sequence[MethodRuns]) -> list[Table]:
    """Tables 1-3, those whose datasets were evaluated."""
    tables = [build_benchmark_table(spec, rows) for spec in BENCHMARK_TABLES]
    return [table for table in tables if table is not None]
