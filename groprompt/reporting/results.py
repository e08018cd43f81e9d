"""What the tables read: the evaluation folders of each method's runs, on datasets named by their kind
(:func:`groprompt.data.dataset_kind`: its name, family of measures, caption).

Tables know nothing of how a metric is computed (docs/architecture.md): they read the files ``groprompt evaluate``
writes (``summary.csv``, ``per_object.csv``, and each ``summary_by_<grouping>.csv``: the figures per value of the
column ``<grouping>`` of ``per_object.csv``, such as ``kind`` or ``referents``; see
:mod:`groprompt.evaluation.summary`) and take the headline figure from the ``mean`` row of the headline protocol:
``assignment`` (Ref-DAVIS17, the paper's protocol), else ``expression`` (per-expression layout), else ``strict``. A
summary without ``set`` and ``protocol`` columns (one row, e.g. A2D-Sentences' P@K, overall IoU and mean IoU under
the names of :func:`groprompt.metrics.referring_segmentation_scores`) is read as that one row.

A *method row* is one method on one dataset with one evaluation folder per seed; its cells are
:class:`~groprompt.reporting.intervals.Estimate` s (§9: t-interval over seeds, video bootstrap for one run). A
run's seed is read from its folder's name, ``seed<N>`` as the workflow names them
(``work/<study>/eval/<dataset>/<split>/groprompt/<variant>/seed<N>``), so that two rows' seeds can be paired
(:mod:`~groprompt.reporting.differences`); a method without a training seed (Grounded-SAM) has a folder without one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from groprompt.data.registry import dataset_kind
from groprompt.errors import GroPromptError
from groprompt.reporting.intervals import Estimate, bootstrap_interval, t_interval

JF_MEASURES = {"Box": "Box", "J&F": "J&F-Mean", "J": "J-Mean", "F": "F-Mean"}
"""Table header -> column of ``summary.csv`` (and of ``per_object.csv``, where the bootstrap reads it)."""
REFERRING_MEASURES = {"P@0.5": "P@0.5", "P@0.6": "P@0.6", "P@0.7": "P@0.7", "P@0.8": "P@0.8", "P@0.9": "P@0.9",
                      "Overall IoU": "overall IoU", "Mean IoU": "mean IoU"}

PAPER_ROWS = {
    "grounded-sam": "Grounded-SAM",
    "groprompt-lbox": "GroPrompt (L_box)",
    "groprompt-lbox-contra": "GroPrompt (L_box + L_contra)",
    "gt-box-sam": "GT box + SAM",
}
"""Row keys of the paper's Table 6 methods (docs/method_spec.md §7) -> their labels, in the paper's order. Any other
key is a baseline not in the paper, labelled with :data:`NOT_IN_PAPER` and listed after these."""
DETECTOR_LOSS_ROW = "groprompt-detector-loss"
"""The row of the plain fine-tuning baseline: the workflow's training variant ``detector_loss`` (``objective:
detector``, docs/method_spec.md §2), named like the GroPrompt variants ``groprompt-<variant>``."""
BASELINE_ROWS = {
    DETECTOR_LOSS_ROW: "Fine-tuned Grounding DINO (detector loss)",
    "grounded-sam-2": "Grounded-SAM-2",
    "gt-box-sam2": "GT box + SAM 2",
    "sam3": "SAM 3",
}
"""Labels of the harness's baselines beyond the paper (docs/method_spec.md §2's plain fine-tuning, §10, §11); a
user's baseline is labelled by its key."""
NOT_IN_PAPER = " †"
"""Appended to the label of every row the paper does not have; the tables' notes say what it means."""
NOT_IN_PAPER_NOTE = ("†: not in the paper; a baseline of this harness or of yours (docs/method_spec.md §2, §7, "
                     "§10-§11). Its Box, for a method that segments itself (SAM 2, SAM 3), is the tight box of its "
                     "mask.")

HEADLINE_PROTOCOLS = ("assignment", "expression", "strict")
SEED_FOLDER = re.compile(r"seed[-_]?(\d+)", re.IGNORECASE)
"""The name of a seed's evaluation folder: ``seed0``, ``seed_1``, ``Seed-2``."""
SUMMARY_FILE, PER_OBJECT_FILE = "summary.csv", "per_object.csv"
GROUP_FILE = re.compile(r"summary_by_([a-z][a-z0-9_]*)\.csv")
"""A breakdown's file, ``summary_by_<grouping>.csv`` (``summary_by_kind.csv``, ``summary_by_referents.csv``)."""


def row_label(key: str) -> str:
    """The label of row ``key``: the paper's name for its rows, otherwise the baseline's marked :data:`NOT_IN_PAPER`."""
    return PAPER_ROWS[key] if key in PAPER_ROWS else BASELINE_ROWS.get(key, key) + NOT_IN_PAPER


def not_in_paper_notes(keys: Iterable[str]) -> list[str]:
    """The note explaining :data:`NOT_IN_PAPER`, if any of the row ``keys`` carries the mark."""
    return [NOT_IN_PAPER_NOTE] if any(key not in PAPER_ROWS for key in keys) else []


def normalise_key(key: str) -> str:
    """A row key as the tables spell it: lower case, ``_`` and ``/`` as ``-``, so the workflow's run names
    (``groprompt/lbox_contra``, ``gt-box-sam``) are keys as they are."""
    return key.strip().lower().replace("_", "-").replace("/", "-")


def _read_csv(path: Path, *groupings: str) -> pd.DataFrame:
    """A CSV of an evaluation folder, its names and the values of ``groupings`` (columns) read as text."""
    names = dict.fromkeys(("set", "video", "object_id", "expression", *groupings), str)
    try:
        # Names as text, so that object 1 reads "1" in every file (not 1.0 where a column has a gap): rows of
        # two runs are paired on them.
        return pd.read_csv(path, dtype=names)
    except (OSError, ValueError) as error:
        raise GroPromptError(f"cannot read this CSV ({error})", path=path,
                             fix="rerun groprompt evaluate into this folder") from None


@dataclass(frozen=True)
class Evaluation:
    """The files of one evaluation folder (one method, one seed, one dataset split).

    Attributes:
        summary: ``summary.csv``; per_object: ``per_object.csv`` (None if absent: no bootstrap then);
        groups: per grouping (``kind``, ``referents``), its ``summary_by_<grouping>.csv``, where the folder has it.

    A *group* is one value of a grouping, given to :meth:`figure` and :meth:`rows` as a keyword named after the
    grouping: ``kind="motion"``, ``referents="multi-object"`` (a None value stands for no group).
    """

    folder: Path
    summary: pd.DataFrame
    per_object: pd.DataFrame | None = None
    groups: Mapping[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def seed(self) -> int | None:
        """The run's training seed, from its folder's name (:data:`SEED_FOLDER`); None if the name has none."""
        match = SEED_FOLDER.fullmatch(self.folder.name)
        return int(match.group(1)) if match else None

    @property
    def protocols(self) -> tuple[str, ...]:
        if "protocol" not in self.summary.columns:
            return ()
        return tuple(dict.fromkeys(self.summary["protocol"].astype(str)))

    @property
    def headline_protocol(self) -> str | None:
        """``assignment``, else ``expression``, else ``strict``, else the first; None for a one-row summary."""
        found = self.protocols
        return next((p for p in HEADLINE_PROTOCOLS if p in found), found[0] if found else None)

    def figure(self, column: str, protocol: str | None = None, **group: str | None) -> float | None:
        """The headline figure of ``column`` (×100 as in the file), of the ``group`` if one is given (class
        docstring); None if the file has no such column or group."""
        protocol = protocol or self.headline_protocol
        chosen = _group(group)
        if chosen is not None:
            grouping, value = chosen
            table = self.groups.get(grouping)
            if table is None or column not in table.columns:
                return None
            row = table[(table[grouping] == value) & (table["protocol"] == protocol)]
        else:
            table = self.summary
            if column not in table.columns:
                return None
            row = table if protocol is None else table[(table["set"] == "mean") & (table["protocol"] == protocol)]
        if row.empty:
            return None
        return float(row[column].iloc[0])

    def rows(self, protocol: str | None = None, **group: str | None) -> pd.DataFrame | None:
        """The per-object rows of ``protocol`` (default: the headline one), of the ``group`` if one is given."""
        if self.per_object is None:
            return None
        rows = self.per_object[self.per_object["protocol"] == (protocol or self.headline_protocol)]
        chosen = _group(group)
        if chosen is not None:
            grouping, value = chosen
            rows = rows[rows[grouping] == value] if grouping in rows.columns else rows.iloc[:0]
        return rows

    def group_counts(self, grouping: str) -> dict[str, int]:
        """Expressions per value of ``grouping``, in the order of its file (none if the folder lacks it)."""
        table = self.groups.get(grouping)
        if table is None:
            return {}
        return {str(value): int(count) for value, count in zip(table[grouping], table["expressions"], strict=True)}


def _group(group: Mapping[str, str | None]) -> tuple[str, str] | None:
    """The ``(grouping, value)`` of a group given as keywords (:class:`Evaluation`), or None for no group."""
    given = [(grouping, value) for grouping, value in group.items() if value is not None]
    if len(given) > 1:
        raise ValueError(f"give at most one group, not {dict(given)}")
    return given[0] if given else None


def read_evaluation(folder: str | Path) -> Evaluation:
    """Read an evaluation folder; a named error if it or its ``summary.csv`` is missing or malformed."""
    folder = Path(folder)
    if not (folder / SUMMARY_FILE).is_file():
        raise GroPromptError("evaluation folder has no summary.csv", path=folder,
                             fix="pass the --out folder of groprompt evaluate")
    summary = _read_csv(folder / SUMMARY_FILE)
    if ("set" in summary.columns) != ("protocol" in summary.columns):
        raise GroPromptError("summary.csv has one of the columns set and protocol but not both",
                             path=folder / SUMMARY_FILE, fix="rerun groprompt evaluate into this folder")
    if "set" in summary.columns and not (summary["set"] == "mean").any():
        raise GroPromptError("summary.csv has no row with set 'mean' (the headline figures)",
                             path=folder / SUMMARY_FILE, fix="rerun groprompt evaluate into this folder")
    if "set" not in summary.columns and len(summary) != 1:
        raise GroPromptError(f"a summary.csv without set/protocol columns must have one row, it has {len(summary)}",
                             path=folder / SUMMARY_FILE, fix="write one row of figures")
    groupings = {match.group(1): path for path in sorted(folder.glob("summary_by_*.csv"))
                 if (match := GROUP_FILE.fullmatch(path.name))}
    groups = {grouping: _read_csv(path, grouping) for grouping, path in groupings.items()}
    for grouping, table in groups.items():
        if not {grouping, "protocol", "expressions"} <= set(table.columns):
            raise GroPromptError(f"summary_by_{grouping}.csv lacks the columns {grouping}, protocol and expressions",
                                 path=groupings[grouping], fix="rerun groprompt evaluate into this folder")
    per_object = None
    if (folder / PER_OBJECT_FILE).is_file():
        per_object = _read_csv(folder / PER_OBJECT_FILE, *groups)
        if not {"set", "protocol", "video"} <= set(per_object.columns):
            raise GroPromptError("per_object.csv lacks the columns set, protocol and video",
                                 path=folder / PER_OBJECT_FILE, fix="rerun groprompt evaluate into this folder")
    return Evaluation(folder, summary, per_object, groups)


@dataclass(frozen=True)
class MethodRuns:
    """One row of a table: a method on a dataset, one :class:`Evaluation` per seed."""

    key: str
    dataset: str
    runs: tuple[Evaluation, ...]

    @property
    def label(self) -> str:
        return row_label(self.key)

    @property
    def protocols(self) -> tuple[str, ...]:
        return self.runs[0].protocols

    def figures(self, column: str, *, protocol: str | None = None, **group: str | None) -> list[float] | None:
        """The figure of ``column`` (a summary column, ×100; of the ``group`` if one is given, :class:`Evaluation`)
        of each run, in the order of :attr:`runs`. None if no run has the column; a named error if some runs have
        it and others not."""
        values = [run.figure(column, protocol, **group) for run in self.runs]
        if all(value is None for value in values):
            return None
        if any(value is None for value in values):
            lacking = self.runs[values.index(None)].folder
            raise GroPromptError(f"{column!r} is in some evaluations of {self.label!r} but not in this one",
                                 path=lacking, fix="evaluate every seed the same way (e.g. all with --boxes)")
        return values

    def estimate(self, column: str, *, protocol: str | None = None, **group: str | None) -> Estimate | None:
        """The cell of ``column`` (a summary column, ×100; of the ``group`` if one is given, :class:`Evaluation`):
        t-interval over seeds, or for one run the video bootstrap from ``per_object.csv`` (a plain figure where
        that file lacks the column). None if no run has the column; a named error if some runs have it and others
        not."""
        values = self.figures(column, protocol=protocol, **group)
        if values is None:
            return None
        if len(values) > 1:
            return t_interval(values)
        rows = self.runs[0].rows(protocol, **group)
        if rows is None or column not in rows.columns or rows.empty or math.isnan(values[0]):
            return Estimate(values[0])
        interval = bootstrap_interval(rows, column)
        return Estimate(values[0], interval.low, interval.high, interval.method, resamples=interval.resamples)


def group_counts(rows: Sequence[MethodRuns], grouping: str) -> dict[str, int]:
    """Expressions per value of ``grouping`` (``kind``, ``referents``), from the first evaluation that has the
    value, in the order of the evaluations' files (kinds sorted; single-object before multi-object)."""
    counts: dict[str, int] = {}
    for run in (run for row in rows for run in row.runs):
        for value, count in run.group_counts(grouping).items():
            counts.setdefault(value, count)
    return counts


def parse_row(spec: str, default_dataset: str) -> tuple[str, str, list[Path]]:
    """``[KIND:]KEY=DIR[,DIR...]`` -> ``(dataset kind, normalised key, folders)``; a named error if malformed."""
    key, sep, folders = spec.partition("=")
    dataset, colon, name = key.partition(":")
    if not colon:
        dataset, name = default_dataset, key
    name = normalise_key(name)
    paths = [Path(part) for part in folders.split(",") if part.strip()]
    if not sep or not name or not paths:
        raise GroPromptError(f"malformed row {spec!r}",
                             fix="write rows as [KIND:]KEY=EVAL_DIR[,EVAL_DIR...], one folder per seed, e.g. "
                                 "groprompt-lbox=eval/lbox/seed0,eval/lbox/seed1")
    dataset_kind(dataset)
    return dataset, name, paths


def read_rows(specs: Sequence[str], default_dataset: str) -> list[MethodRuns]:
    """Read every row's evaluation folders (all of them before any table is made); duplicates are errors."""
    rows, seen = [], set()
    for spec in specs:
        dataset, key, folders = parse_row(spec, default_dataset)
        if (dataset, key) in seen:
            raise GroPromptError(f"row {key!r} on {dataset} is given twice",
                                 fix="give each method once, with all its seeds' folders separated by commas")
        seen.add((dataset, key))
        runs = tuple(read_evaluation(folder) for folder in folders)
        protocols = {run.headline_protocol for run in runs}
        if len(protocols) > 1:
            raise GroPromptError(f"the seeds of {row_label(key)!r} were evaluated with different protocols "
                                 f"({sorted(map(str, protocols))})", path=folders[0],
                                 fix="evaluate every seed with the same layout and protocol")
        rows.append(MethodRuns(key, dataset, runs))
    return rows


def paper_order(key: str) -> int:
    """Sort key of a row key: the paper's rows in the paper's order (:data:`PAPER_ROWS`), then all others (a
    stable sort keeps those in the order given)."""
    return list(PAPER_ROWS).index(key) if key in PAPER_ROWS else len(PAPER_ROWS)


def ordered(rows: Sequence[MethodRuns]) -> list[MethodRuns]:
    """``rows`` sorted by :func:`paper_order` of their keys."""
    return sorted(rows, key=lambda row: paper_order(row.key))
