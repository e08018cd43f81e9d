"""Tables 1-3 of the paper, in its layout, for whichever real benchmarks were evaluated (docs/method_spec.md §8, §9).

* Table 1: Ref-YouTube-VOS and Ref-DAVIS17 side by side, J&F, J, F;
* Table 2: A2D-Sentences, Table 3: JHMDB-Sentences: P@0.5 .. P@0.9, overall IoU, mean IoU.

Rows: for each method in the paper's order, the paper's row where it has one (Grounded-SAM and GroPrompt, marked
"reported" in the Source column), then ours (marked "computed"); other baselines of ours last. A table is made
only when at least one method was evaluated on one of its datasets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from groprompt.reporting.reported import reported_rows
from groprompt.reporting.results import (
    DATASETS,
    JF_MEASURES,
    REFERRING_MEASURES,
    MethodRuns,
    paper_order,
    row_label,
)
from groprompt.reporting.table6 import INTERVAL_NOTE
from groprompt.reporting.tables import Column, Table

COMPUTED = "computed"


@dataclass(frozen=True)
class BenchmarkTable:
    """One of the paper's benchmark tables: its datasets (column groups) and measures (header -> summary column)."""

    name: str
    title: str
    datasets: tuple[str, ...]
    measures: dict[str, str]
    what: str


BENCHMARK_TABLES = (
    BenchmarkTable("table1", "Table 1", ("refytvos", "refdavis"),
                   {name: JF_MEASURES[name] for name in ("J&F", "J", "F")},
                   "referring video object segmentation on the validation splits of Ref-YouTube-VOS and "
                   "Ref-DAVIS17: J&F, J (region similarity), F (contour accuracy)"),
    BenchmarkTable("table2", "Table 2", ("a2d",), REFERRING_MEASURES,
                   "A2D-Sentences: precision at IoU thresholds 0.5-0.9, overall IoU and mean IoU"),
    BenchmarkTable("table3", "Table 3", ("jhmdb",), REFERRING_MEASURES,
                   "JHMDB-Sentences: precision at IoU thresholds 0.5-0.9, overall IoU and mean IoU"),
)


def _header(spec: BenchmarkTable, dataset: str, measure: str) -> str:
    return f"{DATASETS[dataset].name} {measure}" if len(spec.datasets) > 1 else measure


def build_benchmark_table(spec: BenchmarkTable, rows: Sequence[MethodRuns]) -> Table | None:
    """``spec`` from the rows evaluated on its datasets, with the paper's rows; None if none was evaluated."""
    ours = [row for row in rows if row.dataset in spec.datasets]
    if not ours:
        return None
    headers = {(d, m): _header(spec, d, m) for d in spec.datasets for m in spec.measures}
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
    evaluated = ", ".join(DATASETS[d].name for d in spec.datasets if any(row.dataset == d for row in ours))
    caption = (f"Paper {spec.title}, {spec.what}; ×100. Rows marked reported are the paper's figures; rows marked "
               f"computed are this harness's evaluation on {evaluated} (blank where not evaluated).")
    return Table(spec.name, spec.title, caption, columns, body, [INTERVAL_NOTE])


def build_benchmark_tables(rows: Sequence[MethodRuns]) -> list[Table]:
    """Tables 1-3, those whose datasets were evaluated."""
    tables = [build_benchmark_table(spec, rows) for spec in BENCHMARK_TABLES]
    return [table for table in tables if table is not None]
