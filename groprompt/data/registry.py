"""Benchmarks by kind: each :class:`DatasetKind` says how to read a benchmark, which of its splits are scored, how
it is evaluated and which of the paper's tables it feeds. ``open_dataset("refdavis", root, "valid")`` reads one.

A benchmark is one declaration. The harness, the workflow (through ``groprompt datasets --json``) and the reports
all read the kinds from here, so adding a benchmark edits nothing else. Kinds are found in three places
(:func:`dataset_kinds`), in this order:

1. the harness itself (:data:`BUILTIN_KINDS`);
2. the Python entry-point group ``groprompt.dataset_kinds`` (a package of yours:
   ``[project.entry-points."groprompt.dataset_kinds"] mine = "my_package.kinds:MINE"``, naming a DatasetKind);
3. every ``*.py`` module of the folder ``dataset_kinds/`` of the working directory, or of the folder the
   environment variable ``GROPROMPT_DATASET_KINDS`` names (the workflow sets it to the folder next to its
   Snakefile, so every step it runs sees the same kinds): each DatasetKind at a module's top level is registered.

A module that fails to import, declares no kind, or takes a key already taken is reported (``groprompt datasets``
lists it) and the other kinds stay available.

Every reader has the signature ``reader(root, split, *, dataset_name=..., **options) -> Dataset``. A dataset
written in another reader's layout declares that reader under its own kind (SynRVOS uses the Ref-YouTube-VOS
reader), so no reader special-cases it.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from pathlib import Path

from groprompt.data.a2d import load_a2d
from groprompt.data.jhmdb import load_jhmdb
from groprompt.data.mevis import load_mevis
from groprompt.data.model import Dataset
from groprompt.data.refdavis import load_refdavis
from groprompt.data.refytvos import load_refytvos
from groprompt.errors import GroPromptError
from groprompt.plugins import describe_import_error, load_module_file, plugin_files
from groprompt.safe_names import check_video_names, name_problem

Reader = Callable[..., Dataset]

EVALUATIONS = {
    "per-expression": "jf",
    "expression-sets": "jf",
    "referring": "referring",
}
"""How ``groprompt evaluate`` scores a kind (docs/method_spec.md §8) -> the family of measures it reports:

* ``per-expression``: J, F, J&F and box IoU of each expression against its own object, or the union of its objects
  where it refers to several (MeViS);
* ``expression-sets``: Ref-DAVIS17's protocol: the per-expression masks merged into the four expression sets,
  each scored with the DAVIS-2017 assignment (and strict) protocol, the four averaged;
* ``referring``: P@0.5..0.9, overall and mean IoU over the annotated samples (A2D-/JHMDB-Sentences).

``jf`` kinds can be the study's own dataset (Table 6, the by-kind tables and the figure); ``referring`` ones feed
only their benchmark table."""

PAPER_TABLES = {"table1": "jf", "table2": "referring", "table3": "referring"}
"""The paper's benchmark tables a kind can feed -> the family of measures their columns hold (Table 1: J&F, J, F;
Tables 2 and 3: P@K, overall and mean IoU); each kind of a table is one column group, in discovery order."""
HARNESS_TABLES = {"mevis": "jf"}
"""This harness's benchmark tables, for benchmarks the paper does not report -> their family of measures (``mevis``:
J&F, J, F and J&F of single- and multi-object expressions, :mod:`groprompt.reporting.mevis_table`)."""
TABLES = PAPER_TABLES | HARNESS_TABLES
"""Every benchmark table a kind can feed (:attr:`DatasetKind.table`)."""

ENTRY_POINT_GROUP = "groprompt.dataset_kinds"
FOLDER_VARIABLE = "GROPROMPT_DATASET_KINDS"
DEFAULT_FOLDER = "dataset_kinds"
KEY = re.compile(r"[a-z0-9][a-z0-9_-]*")
"""A kind's key: it names the kind on command lines, in paths and before the ``:`` of ``groprompt tables --rows``."""


@dataclass(frozen=True)
class DatasetKind:
    """One benchmark kind: everything the harness, the workflow and the reports need to know about it.

    Attributes:
        key: the kind's name, as ``--dataset-kind`` and the workflow config's ``kind`` spell it (:data:`KEY`).
        name: how tables and captions name the benchmark.
        reader: ``reader(root, split, *, dataset_name=..., **options) -> Dataset``.
        evaluation: a key of :data:`EVALUATIONS`, or None if ``groprompt evaluate`` cannot score it.
        unscored_splits: splits without public ground truth (an evaluation server scores them).
        table: the benchmark table it feeds (a key of :data:`TABLES`: one of the paper's, or of this harness's
            for a benchmark the paper does not report), or None.
        synthetic: a generated benchmark; every caption of its tables says so (docs/method_spec.md §9).
        submission_folder: the folder of its evaluation server's archive (``groprompt infer --submission``) that
            holds ``<video>/<exp_id>/<frame>.png``: ``Annotations`` for Ref-YouTube-VOS's server, ``""`` for an
            archive with the video folders at its root (MeViS's).
        synrvos_layout: the ``groprompt synrvos --layout`` that writes SynRVOS as a dataset of this kind
            (``refytvos`` for synrvos, ``mevis`` for mevis), which a workflow dataset of the kind may ``generate``;
            None where SynRVOS has no layout of the kind.
        stands_in_for: the benchmark a synthetic kind stands in for, which its captions say it is not.
    """

    key: str
    name: str
    reader: Reader
    evaluation: str | None
    unscored_splits: tuple[str, ...] = ()
    table: str | None = None
    synthetic: bool = False
    submission_folder: str = "Annotations"
    synrvos_layout: str | None = None
    stands_in_for: str = "Ref-DAVIS17"

    def __post_init__(self) -> None:
        def invalid(problem: str, fix: str) -> GroPromptError:
            return GroPromptError(f"dataset kind {self.key!r}: {problem}", fix=fix)

        if not isinstance(self.key, str) or not KEY.fullmatch(self.key):
            raise invalid("the key must be lower-case letters, digits, _ and -, starting with a letter or digit",
                          "rename the key, e.g. 'mybench'")
        if not callable(self.reader):
            raise invalid(f"reader {self.reader!r} is not callable",
                          "pass the reader function, reader(root, split, *, dataset_name) -> Dataset")
        if self.evaluation is not None and self.evaluation not in EVALUATIONS:
            raise invalid(f"unknown evaluation {self.evaluation!r}", f"use one of {', '.join(EVALUATIONS)} or None")
        if not isinstance(self.unscored_splits, tuple) or not all(isinstance(s, str) for s in self.unscored_splits):
            raise invalid("unscored_splits must be a tuple of split names", "e.g. unscored_splits=('test',)")
        if self.submission_folder and name_problem(self.submission_folder) is not None:
            raise invalid(f"submission_folder {self.submission_folder!r} is not a plain folder name "
                          f"({name_problem(self.submission_folder)})",
                          "name one folder, e.g. 'Annotations', or '' for the archive's root")
        if self.table is not None and self.table not in TABLES:
            raise invalid(f"unknown table {self.table!r}", f"use one of {', '.join(TABLES)} or None")
        if self.table is not None and TABLES[self.table] != self.family:
            fitting = [table for table, family in TABLES.items() if family == self.family]
            raise invalid(f"{self.table} holds {TABLES[self.table]} measures, but evaluation "
                          f"{self.evaluation!r} gives {self.family or 'none'}",
                          f"use table {' or '.join(fitting)}, or None" if fitting else "use table=None")

    @property
    def family(self) -> str | None:
        """``jf`` (J, F, J&F, Box) or ``referring`` (P@K, overall and mean IoU); None if not scored."""
        return EVALUATIONS.get(self.evaluation) if self.evaluation else None

    @property
    def caption(self) -> str:
        """How captions name the dataset."""
        return f"{self.name} (synthetic), not {self.stands_in_for}" if self.synthetic else self.name

    def generated(self) -> DatasetKind:
        """This kind as SynRVOS generated in its layout (:attr:`synrvos_layout`): read, scored and tabulated as this
        kind, but named "SynRVOS in the <name> layout" and synthetic, not <name>, so every caption says so; the
        kind itself if it is synthetic already. A named error for a kind SynRVOS has no layout of."""
        if self.synthetic:
            return self
        if self.synrvos_layout is None:
            raise GroPromptError(f"dataset kind {self.key!r} cannot be generated: SynRVOS has no layout of it",
                                 fix="name only kinds that groprompt datasets lists with a SynRVOS layout")
        return replace(self, name=f"SynRVOS in the {self.name} layout", synthetic=True, stands_in_for=self.name)

    def scores(self, split: str) -> bool:
        """Whether ``groprompt evaluate`` can score ``split`` of this kind."""
        return self.evaluation is not None and split not in self.unscored_splits


BUILTIN_KINDS: tuple[DatasetKind, ...] = (
    DatasetKind("synrvos", "SynRVOS", load_refytvos, "per-expression", synthetic=True, synrvos_layout="refytvos"),
    DatasetKind("refytvos", "Ref-YouTube-VOS", load_refytvos, "per-expression", unscored_splits=("valid", "test"),
                table="table1"),
    DatasetKind("refdavis", "Ref-DAVIS17", load_refdavis, "expression-sets", table="table1"),
    DatasetKind("a2d", "A2D-Sentences", load_a2d, "referring", table="table2"),
    DatasetKind("jhmdb", "JHMDB-Sentences", load_jhmdb, "referring", table="table3"),
    DatasetKind("mevis", "MeViS", load_mevis, "per-expression", unscored_splits=("valid",), table="mevis",
                submission_folder="", synrvos_layout="mevis"),
)
"""The harness's own kinds, in the order of the paper's Table 1 columns (Ref-YouTube-VOS, then Ref-DAVIS17), then
the benchmarks the paper does not report (MeViS, with a table of this harness)."""


@dataclass(frozen=True)
class KindFailure:
    """A module or entry point that did not give a dataset kind, and why."""

    name: str
    source: str
    error: str


@dataclass
class KindRegistry:
    """Every dataset kind found, by key in discovery order, where each came from, and what failed to load."""

    kinds: dict[str, DatasetKind] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    failures: list[KindFailure] = field(default_factory=list)

    def add(self, kind: object, source: str, name: str) -> None:
        if not isinstance(kind, DatasetKind):
            self.failures.append(KindFailure(name, source, f"{kind!r} is not a groprompt.data.DatasetKind"))
        elif kind.key in self.kinds:
            self.failures.append(KindFailure(kind.key, source,
                                             f"key {kind.key!r} is already taken by {self.sources[kind.key]}"))
        else:
            self.kinds[kind.key] = kind
            self.sources[kind.key] = source

    def get(self, key: str) -> DatasetKind:
        """The kind ``key``; a named error listing the known kinds and the modules that failed to load."""
        kind = self.kinds.get(key)
        if kind is not None:
            return kind
        failed = "".join(f"; {f.source} failed to load: {f.error}" for f in self.failures)
        raise GroPromptError(f"unknown dataset kind {key!r} (known: {', '.join(sorted(self.kinds))}){failed}",
                             fix="use one of the known kinds, or declare it in a module of dataset_kinds/ "
                                 "(run `groprompt datasets` to list them)")

    def table_kinds(self, table: str) -> list[DatasetKind]:
        """The kinds that feed ``table``, in discovery order (the order of its column groups)."""
        return [kind for kind in self.kinds.values() if kind.table == table]


def kinds_folder() -> Path:
    """The folder of dataset-kind modules: ``$GROPROMPT_DATASET_KINDS``, else ``./dataset_kinds``."""
    return Path(os.environ.get(FOLDER_VARIABLE) or DEFAULT_FOLDER)


def discover_dataset_kinds(folder: str | Path | None) -> KindRegistry:
    """Find every dataset kind: built-in, entry points of :data:`ENTRY_POINT_GROUP`, and ``folder/*.py`` (none
    when ``folder`` is None or missing)."""
    registry = KindRegistry()
    for kind in BUILTIN_KINDS:
        registry.add(kind, f"groprompt ({__name__})", kind.key)
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            registry.add(entry_point.load(), f"entry point {entry_point.value}", entry_point.name)
        except Exception as error:  # one broken package must not hide the other kinds
            registry.failures.append(KindFailure(entry_point.name, entry_point.value, describe_import_error(error)))
    for path in plugin_files(Path(folder) if folder is not None else None):
        try:
            module = load_module_file(path, "groprompt_dataset_kinds")
        except Exception as error:
            registry.failures.append(KindFailure(path.stem, str(path), describe_import_error(error)))
            continue
        # A module may import a kind it builds on (a built-in one, say): only kinds new to the registry count.
        known = {id(kind) for kind in registry.kinds.values()}
        declared = [value for value in vars(module).values()
                    if isinstance(value, DatasetKind) and id(value) not in known]
        if not declared:
            registry.failures.append(KindFailure(path.stem, str(path), "declares no DatasetKind at module level"))
        for kind in declared:
            registry.add(kind, str(path), kind.key)
    return registry


@functools.cache
def _discovered(folder: str) -> KindRegistry:
    return discover_dataset_kinds(folder)


def dataset_kinds() -> KindRegistry:
    """The kinds this process sees (:func:`kinds_folder`), discovered once per folder."""
    return _discovered(str(kinds_folder().resolve()))


def dataset_kind(key: str) -> DatasetKind:
    """The :class:`DatasetKind` named ``key``; a named error listing the known ones."""
    return dataset_kinds().get(key)


def open_dataset(kind: str, root: str | Path, split: str, **options: object) -> Dataset:
    """Read ``split`` of the dataset of ``kind`` at ``root``; unknown kinds and options are errors listing the valid.

    The dataset is named ``kind`` unless ``dataset_name`` is among the options. The names the reader gives (videos,
    frames, expression ids) become parts of output paths, so each must be a plain name
    (:mod:`groprompt.safe_names`): the built-in readers check them in the files they read, and here every
    reader's result is checked again, a user's reader included, before any step works with it.
    """
    reader = dataset_kind(kind).reader
    accepted = [name for name, parameter in inspect.signature(reader).parameters.items()
                if parameter.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise GroPromptError(f"dataset kind {kind!r} has no option(s) {unknown} (options: {', '.join(accepted)})",
                             dataset=kind, fix="remove or correct the option")
    options.setdefault("dataset_name", kind)
    dataset = reader(root, split, **options)
    for video in dataset.videos:
        check_video_names(video, path=dataset.root)
    return dataset
