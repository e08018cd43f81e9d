"""The MeViS table, this harness's benchmark table for MeViS (Ding et al., ICCV 2023), which the paper does not
report (docs/method_spec.md §8, §9).

In MeViS an expression may refer to several objects, and it is scored against the union of their masks. The table
has one row per method (the paper's rows in the paper's order, then the baselines), nothing reported: its seeds;
J&F, J, F with the §9 interval; and J&F over the single-object and over the multi-object expressions
(``summary_by_referents.csv``, :mod:`groprompt.evaluation.summary`), n their number, which shows what the union
rule asks of a method that finds one object per frame. Those two columns are there only where the split has
multi-object expressions. The kinds that feed the table (``DatasetKind.table == "mevis"``) each get a column group
where a row was evaluated on them; the caption names them as :attr:`~groprompt.data.DatasetKind.caption` does, so
SynRVOS generated in the MeViS layout reads as synthetic.
"""

from __future__ import annotations

from collections.abc import Sequence

from groprompt.data.registry import DatasetKind
from groprompt.reporting.results import JF_MEASURES, MethodRuns, group_counts, not_in_paper_notes, ordered, row_label
from groprompt.reporting.table6 import INTERVAL_NOTE
from groprompt.reporting.tables import Column, Table

NAME = "mevis"
"""The table's file stem and its key in :data:`groprompt.data.registry.HARNESS_TABLES`."""
REFERENTS = "referents"
"""The grouping of single- and multi-object expressions (``summary_by_referents.csv``)."""
MEASURES = {name: JF_MEASURES[name] for name in ("J&F", "J", "F")}


def _names(kinds: Sequence[DatasetKind]) -> str:
    """The kinds' captions, ``A`` or ``A; B``."""
    return "; ".join(kind.caption for kind in kinds)


def build_mevis_table(rows: Sequence[MethodRuns], kinds: Sequence[DatasetKind]) -> Table | None:
    """The MeViS table of the ``rows`` evaluated on ``kinds`` (those that feed it, each as the study has it: see
    :meth:`~groprompt.data.DatasetKind.generated`); None if no row was evaluated on any of them."""
    evaluated = [kind for kind in kinds if any(row.dataset == kind.key for row in rows)]
    if not evaluated:
        return None
    ours = ordered([row for row in rows if any(row.dataset == kind.key for kind in evaluated)])

    def header(kind: DatasetKind, name: str) -> str:
        return f"{kind.name} {name}" if len(evaluated) > 1 else name

    columns, groups, notes = [Column("Method")], {}, [INTERVAL_NOTE]
    for kind in evaluated:
        groups[kind.key] = {group: header(kind, f"J&F {group} (n={count})") for group, count
                            in group_counts([row for row in ours if row.dataset == kind.key], REFERENTS).items()}
        columns += [Column(header(kind, "Seeds"), "number", digits=0),
                    *(Column(header(kind, name), "estimate") for name in MEASURES),
                    *(Column(name, "estimate") for name in groups[kind.key].values())]
        if not groups[kind.key]:
            notes.append(f"No expression of {kind.name} refers to several objects, so there is no single- and "
                         "multi-object breakdown.")
    body = []
    for key in dict.fromkeys(row.key for row in ours):
        cells: dict = {"Method": row_label(key)}
        for row in (row for row in ours if row.key == key):
            kind = next(kind for kind in evaluated if kind.key == row.dataset)
            cells[header(kind, "Seeds")] = len(row.runs)
            cells |= {header(kind, name): row.estimate(column) for name, column in MEASURES.items()}
            cells |= {name: row.estimate(JF_MEASURES["J&F"], referents=group)
                      for group, name in groups[kind.key].items()}
        body.append(cells)
    caption = (f"Referring video object segmentation on {_names(evaluated)}, a benchmark the paper does not report: "
               "an expression may refer to several objects and is scored against the union of their masks on every "
               "frame (MeViS's rule, docs/method_spec.md §8). J&F, J, F ×100, computed by this harness; J&F "
               "single-object / multi-object: over the expressions that refer to one object / to several, n their "
               "number.")
    return Table(NAME, "MeViS", caption, columns, body, [*notes, *not_in_paper_notes(row.key for row in ours)])
