"""Every table of a study, from its evaluation folders and parameter counts, and the folder they are written to.

Which tables a study gets:

* ``table6`` (CSV, Markdown, LaTeX): the methods evaluated on the study's dataset, when it is scored with J&F;
* ``table5``: when a ``groprompt params --json`` file is given;
* ``by_kind`` (CSV, Markdown): when the evaluations have expression kinds (SynRVOS), with each row's paired
  difference from Grounded-SAM per kind;
* ``by_kind_contra`` (CSV, Markdown): GroPrompt (L_box + L_contra) against GroPrompt (L_box) per kind, when both
  rows have kinds;
* ``refdavis_protocols`` (CSV, Markdown): when the evaluations have both the assignment and the strict protocol;
* ``table1`` .. ``table3``: for the rows' dataset kinds that declare one of them
  (:mod:`~groprompt.reporting.benchmarks`);
* ``mevis`` (CSV, Markdown, LaTeX): for the rows on kinds that declare this harness's MeViS table
  (:mod:`~groprompt.reporting.mevis_table`).

Datasets a study generated (SynRVOS in the layout of a kind, ``generated``) are tabulated as their kind, named as
:meth:`~groprompt.data.DatasetKind.generated` names them, so every caption says they are synthetic.

``tables.md`` gathers the Markdown of all of them, in this order, under the study's name.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from groprompt.data.registry import DatasetKind, dataset_kind, dataset_kinds
from groprompt.files import atomic_write_text
from groprompt.reporting.benchmarks import build_benchmark_tables
from groprompt.reporting.breakdowns import build_by_kind, build_by_kind_contra, build_protocols
from groprompt.reporting.mevis_table import NAME as MEVIS_TABLE
from groprompt.reporting.mevis_table import build_mevis_table
from groprompt.reporting.results import MethodRuns
from groprompt.reporting.table5 import build_table5
from groprompt.reporting.table6 import build_table6
from groprompt.reporting.tables import Table, to_markdown, write_table


def build_tables(dataset: str, rows: Sequence[MethodRuns], params: Mapping[str, Any] | None = None,
                 generated: Collection[str] = ()) -> list[Table]:
    """The study's tables (module docstring); ``dataset`` is the study's own dataset (Table 6, breakdowns);
    ``generated``: the kinds whose rows are on SynRVOS generated in the kind's layout."""
    as_generated = {key: dataset_kind(key).generated() for key in generated}

    def study_kind(key: str) -> DatasetKind:
        return as_generated.get(key) or dataset_kind(key)

    info = study_kind(dataset)
    tables: list[Table | None] = []
    if info.family == "jf" and any(row.dataset == dataset for row in rows):
        tables.append(build_table6(rows, info))
    if params is not None:
        tables.append(build_table5(params, rows, info))
    tables += [build_by_kind(rows, info), build_by_kind_contra(rows, info), build_protocols(rows, info)]
    tables += build_benchmark_tables(rows)
    tables.append(build_mevis_table(rows, [study_kind(k.key) for k in dataset_kinds().table_kinds(MEVIS_TABLE)]))
    return [table for table in tables if table is not None]


def write_tables(tables: Sequence[Table], out: str | Path, study: str) -> list[Path]:
    """Write each table in its formats and ``tables.md`` (all of them) into ``out``; returns the paths."""
    out = Path(out)
    paths = [path for table in tables for path in write_table(table, out)]
    index = "\n".join([f"# Tables of the study {study}\n", *(to_markdown(table) for table in tables)])
    atomic_write_text(out / "tables.md", index)
    return [*paths, out / "tables.md"]
