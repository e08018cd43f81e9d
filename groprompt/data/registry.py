"""Benchmarks by kind: each :class:`DatasetKind` says how to read a benchmark, which of its splits are scored, how
it is evaluated and which of the paper's tables it feeds. ``open_dataset("refdavis", root, "valid")`` reads one.

Every reader has the signature ``reader(root, split, *, dataset_name=..., **options) -> Dataset``. A dataset
written in another reader's layout declares that reader under its own kind (SynRVOS uses the Ref-YouTube-VOS
reader), so no reader special-cases it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from groprompt.data.a2d import load_a2d
from groprompt.data.jhmdb import load_jhmdb
from groprompt.data.model import Dataset
from groprompt.data.refdavis import load_refdavis
from groprompt.data.refytvos import load_refytvos
from groprompt.errors import GroPromptError

Reader = Callable[..., Dataset]

EVALUATIONS = {
    "per-expression": "jf",
    "expression-sets": "jf",
    "referring": "referring",
}
"""How ``groprompt evaluate`` scores a kind (docs/method_spec.md §8) -> the family of measures it reports:

* ``per-expression``: J, F, J&F and box IoU of each expression against its own object (Ref-YouTube-VOS layout);
* ``expression-sets``: Ref-DAVIS17's protocol: the per-expression masks merged into the four expression sets,
  each scored with the DAVIS-2017 assignment (and strict) protocol, the four averaged;
* ``referring``: P@0.5..0.9, overall and mean IoU over the annotated samples (A2D-/JHMDB-Sentences).

``jf`` kinds can be the study's own dataset (Table 6, the by-kind tables and the figure); ``referring`` ones feed
only their benchmark table."""


@dataclass(frozen=True)
class DatasetKind:
    """One benchmark kind: everything the harness, the workflow and the reports need to know about it.

    Attributes:
        key: the kind's name, as ``--dataset-kind`` and the workflow config's ``kind`` spell it.
        name: how tables and captions name the benchmark.
        reader: ``reader(root, split, *, dataset_name=..., **options) -> Dataset``.
        evaluation: a key of :data:`EVALUATIONS`, or None if ``groprompt evaluate`` cannot score it.
        unscored_splits: splits without public ground truth (an evaluation server scores them).
        table: the paper's benchmark table it feeds (``table1``, ``table2``, ``table3``), or None.
        synthetic: a generated benchmark; every caption of its tables says so (docs/method_spec.md §9).
    """

    key: str
    name: str
    reader: Reader
    evaluation: str | None
    unscored_splits: tuple[str, ...] = ()
    table: str | None = None
    synthetic: bool = False

    def __post_init__(self) -> None:
        if self.evaluation is not None and self.evaluation not in EVALUATIONS:
            raise GroPromptError(f"dataset kind {self.key!r}: unknown evaluation {self.evaluation!r}",
                                 fix=f"use one of {', '.join(EVALUATIONS)} or None")

    @property
    def family(self) -> str | None:
        """``jf`` (J, F, J&F, Box) or ``referring`` (P@K, overall and mean IoU); None if not scored."""
        return EVALUATIONS.get(self.evaluation) if self.evaluation else None

    @property
    def caption(self) -> str:
        """How captions name the dataset."""
        return f"{self.name} (synthetic), not Ref-DAVIS17" if self.synthetic else self.name

    def scores(self, split: str) -> bool:
        """Whether ``groprompt evaluate`` can score ``split`` of this kind."""
        return self.evaluation is not None and split not in self.unscored_splits


BUILTIN_KINDS: tuple[DatasetKind, ...] = (
    DatasetKind("synrvos", "SynRVOS", load_refytvos, "per-expression", synthetic=True),
    DatasetKind("refytvos", "Ref-YouTube-VOS", load_refytvos, "per-expression", unscored_splits=("valid", "test"),
                table="table1"),
    DatasetKind("refdavis", "Ref-DAVIS17", load_refdavis, "expression-sets", table="table1"),
    DatasetKind("a2d", "A2D-Sentences", load_a2d, "referring", table="table2"),
    DatasetKind("jhmdb", "JHMDB-Sentences", load_jhmdb, "referring", table="table3"),
)

KINDS: dict[str, DatasetKind] = {kind.key: kind for kind in BUILTIN_KINDS}
"""Dataset kind key -> :class:`DatasetKind`."""


def dataset_kind(key: str) -> DatasetKind:
    """The :class:`DatasetKind` named ``key``; a named error listing the known ones."""
    kind = KINDS.get(key)
    if kind is None:
        raise GroPromptError(f"unknown dataset kind {key!r} (known: {', '.join(sorted(KINDS))})",
                             fix="use one of the known kinds")
    return kind


def open_dataset(kind: str, root: str | Path, split: str, **options: object) -> Dataset:
    """Read ``split`` of the dataset of ``kind`` at ``root``; unknown kinds and options are errors listing the valid.

    The dataset is named ``kind`` unless ``dataset_name`` is among the options.
    """
    reader = dataset_kind(kind).reader
    accepted = [name for name, parameter in inspect.signature(reader).parameters.items()
                if parameter.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise GroPromptError(f"dataset kind {kind!r} has no option(s) {unknown} (options: {', '.join(accepted)})",
                             dataset=kind, fix="remove or correct the option")
    options.setdefault("dataset_name", kind)
    return reader(root, split, **options)
