"""A small table model and its writers: CSV (numbers in separate columns), Markdown and LaTeX (booktabs).

A :class:`Table` is typed columns and rows of cells; the writers decide how a cell looks:

* ``text``: a string (escaped in LaTeX);
* ``number``: a float shown with ``digits`` decimals;
* ``estimate``: an :class:`~groprompt.reporting.intervals.Estimate`, shown as ``mean ± half-width`` (t-interval
  over seeds, symmetric) or ``mean [low, high]`` (video bootstrap, percentile, not symmetric), the mean with its
  sign in a ``signed`` column (differences: ``+7.0 ± 5.0``); the CSV gets the mean, ``<column> CI low`` and
  ``<column> CI high``, and each row an ``interval`` column saying how they were made (paired or not);
* ``params``: a parameter count, shown in millions; the CSV gets the integer.

An empty cell (None, or a nan number) is "–" in Markdown and LaTeX and empty in the CSV. Every file is written
atomically (:mod:`groprompt.files`).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from groprompt.files import atomic_write_text
from groprompt.reporting.intervals import Estimate

Cell = str | float | int | Estimate | None
COLUMN_KINDS = ("text", "number", "estimate", "params")
FORMATS = ("csv", "md", "tex")
EMPTY = "–"


@dataclass(frozen=True)
class Column:
    """A table column: its header, the kind of its cells (:data:`COLUMN_KINDS`), the decimals shown, and whether
    the figure is shown with its sign (a difference: ``+7.0``, ``-1.2``)."""

    name: str
    kind: str = "text"
    digits: int = 1
    signed: bool = False

    def __post_init__(self) -> None:
        if self.kind not in COLUMN_KINDS:
            raise ValueError(f"column kind {self.kind!r} is not one of {COLUMN_KINDS}")


@dataclass
class Table:
    """A captioned table, written as ``<name>.csv`` / ``.md`` / ``.tex`` (those of ``formats``).

    Attributes:
        name: the file stem, e.g. ``"table6"``.
        title: e.g. ``"Table 6"``; caption: one paragraph (it names the dataset).
        rows: one mapping per row from column name to cell; a column a row lacks is empty.
        notes: lines shown under the table (Markdown) and appended to the caption (LaTeX).
    """

    name: str
    title: str
    caption: str
    columns: Sequence[Column]
    rows: list[Mapping[str, Cell]] = field(default_factory=list)
    notes: Sequence[str] = ()
    formats: Sequence[str] = FORMATS

    def cell(self, row: Mapping[str, Cell], column: Column) -> Cell:
        value = row.get(column.name)
        if isinstance(value, float) and math.isnan(value):
            return None
        return value


def _number(value: float, digits: int) -> str:
    return f"{value:.{digits}f}"


def format_params(count: int) -> str:
    """A parameter count as people write it: ``15.27M``, ``3.4K``, ``12``."""
    if count >= 1_000_000:
        return f"{count / 1e6:.2f}M"
    return f"{count / 1e3:.1f}K" if count >= 1_000 else str(count)


def format_cell(value: Cell, column: Column, *, latex: bool = False) -> str:
    """The text of a cell in Markdown (default) or LaTeX."""
    if value is None:
        return "--" if latex else EMPTY
    if column.kind == "estimate" and isinstance(value, Estimate):
        mean = f"{value.mean:+.{column.digits}f}" if column.signed else _number(value.mean, column.digits)
        if not value.has_interval:
            return mean
        if value.method == "t":
            half = _number((value.high - value.low) / 2, column.digits)
            return f"{mean} $\\pm$ {half}" if latex else f"{mean} ± {half}"
        return f"{mean} [{_number(value.low, column.digits)}, {_number(value.high, column.digits)}]"
    if column.kind == "params" and isinstance(value, int):
        return format_params(value)
    if isinstance(value, float):
        return _number(value, column.digits)
    return latex_escape(str(value)) if latex else str(value)


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"$\sim$", "^": r"\textasciicircum{}", "±": r"$\pm$", "×": r"$\times$", "–": "--", "Δ": r"$\Delta$",
}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped (``&`` -> ``\\&``, ``%`` -> ``\\%``, ...)."""
    return "".join(_LATEX_SPECIAL.get(char, char) for char in text)


def _markdown_escape(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(table: Table) -> str:
    """A bold title and caption line, a pipe table (text left-aligned, figures right-aligned), then the notes."""
    lines = [f"**{table.title}.** {_markdown_escape(table.caption)}", ""]
    lines.append("| " + " | ".join(_markdown_escape(c.name) for c in table.columns) + " |")
    lines.append("|" + "|".join(":---" if c.kind == "text" else "---:" for c in table.columns) + "|")
    for row in table.rows:
        cells = [_markdown_escape(format_cell(table.cell(row, c), c)) for c in table.columns]
        lines.append("| " + " | ".join(cells) + " |")
    if table.notes:
        lines.append("")
        lines += [f"{note}  " for note in table.notes[:-1]] + [table.notes[-1]]
    return "\n".join(lines) + "\n"


def to_latex(table: Table) -> str:
    """A ``table`` environment with a booktabs ``tabular``; needs ``\\usepackage{booktabs}``."""
    spec = "".join("l" if c.kind == "text" else "r" for c in table.columns)
    caption = " ".join([table.caption, *table.notes])
    lines = [
        "\\begin{table}[t]",
        "\\centering",
        f"\\caption{{{latex_escape(caption)}}}",
        f"\\label{{tab:{table.name}}}",
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
        " & ".join(latex_escape(c.name) for c in table.columns) + " \\\\",
        "\\midrule",
    ]
    for row in table.rows:
        lines.append(" & ".join(format_cell(table.cell(row, c), c, latex=True) for c in table.columns) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


def csv_header(table: Table) -> list[str]:
    """The CSV's columns: each estimate column becomes three (figure, CI low, CI high), plus ``interval``."""
    header: list[str] = []
    for column in table.columns:
        header.append(column.name)
        if column.kind == "estimate":
            header += [f"{column.name} CI low", f"{column.name} CI high"]
    if any(c.kind == "estimate" for c in table.columns):
        header.append("interval")
    return header


def to_csv(table: Table) -> str:
    """One CSV row per table row; figures unrounded, empty cells empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(csv_header(table))
    for row in table.rows:
        values: list[object] = []
        methods: list[str] = []
        for column in table.columns:
            value = table.cell(row, column)
            if column.kind == "estimate":
                if isinstance(value, Estimate):
                    values += [_csv_number(value.mean), _csv_number(value.low), _csv_number(value.high)]
                    if value.describe() not in methods:
                        methods.append(value.describe())
                else:  # a plain figure (a reported one) or nothing
                    values += [_csv_number(value), "", ""]
            else:
                values.append(_csv_number(value) if isinstance(value, float) else ("" if value is None else value))
        if any(c.kind == "estimate" for c in table.columns):
            values.append("; ".join(methods))
        writer.writerow(values)
    return buffer.getvalue()


def _csv_number(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else repr(float(value))


WRITERS = {"csv": to_csv, "md": to_markdown, "tex": to_latex}


def write_table(table: Table, folder: str | Path) -> list[Path]:
    """Write ``table`` in each of its formats into ``folder``; returns the paths written."""
    paths = []
    for fmt in table.formats:
        path = Path(folder) / f"{table.name}.{fmt}"
        atomic_write_text(path, WRITERS[fmt](table))
        paths.append(path)
    return paths
