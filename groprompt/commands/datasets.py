"""``groprompt datasets``: list every dataset kind (built-in, entry points, ``dataset_kinds/`` modules), with what
each declares, and the modules that failed to load.

``--json`` prints the same for programs (the workflow validates its config and picks tables from it)::

    {"kinds": [{"key", "name", "reader" (module:function), "evaluation", "family", "unscored_splits", "table",
                "synthetic", "submission_folder", "source"}, ...],
     "failures": [{"name", "source", "error"}, ...]}
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from groprompt.data.registry import DatasetKind, KindRegistry

NAME = "datasets"
HELP = ("List the dataset kinds (built-in, entry points, dataset_kinds/ modules): reader, evaluation, unscored "
        "splits, paper table; and any module that failed to load.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Kind modules are read from ./dataset_kinds, or from the folder the environment variable "
                     "GROPROMPT_DATASET_KINDS names (the workflow sets it to the folder next to its Snakefile).")
    parser.add_argument("--json", action="store_true",
                        help="print the kinds and load failures as JSON (for the workflow)")


def run(args: argparse.Namespace) -> int:
    from groprompt.data.registry import dataset_kinds, kinds_folder

    registry = dataset_kinds()
    if args.json:
        print(json.dumps(_as_json(registry), indent=2))
        return 0
    width = max((len(key) for key in registry.kinds), default=0)
    for key, kind in registry.kinds.items():
        splits = f"; unscored splits: {', '.join(kind.unscored_splits)}" if kind.unscored_splits else ""
        table = f"; feeds {kind.table}" if kind.table else ""
        synthetic = " (synthetic)" if kind.synthetic else ""
        print(f"{key:<{width}}  {kind.name}{synthetic}: reader {_reader(kind)}, evaluation "
              f"{kind.evaluation or 'none'}{splits}{table}")
    for failure in registry.failures:
        print(f"! {failure.name} ({failure.source}) failed to load: {failure.error}")
    print(f"(kind modules are read from {kinds_folder()}/)")
    return 0


def _reader(kind: DatasetKind) -> str:
    return f"{kind.reader.__module__}:{kind.reader.__qualname__}"


def _as_json(registry: KindRegistry) -> dict:
    kinds = [
        {"key": key, "name": kind.name, "reader": _reader(kind), "evaluation": kind.evaluation,
         "family": kind.family, "unscored_splits": list(kind.unscored_splits), "table": kind.table,
         "synthetic": kind.synthetic, "submission_folder": kind.submission_folder, "source": registry.sources[key]}
        for key, kind in registry.kinds.items()
    ]
    failures = [{"name": f.name, "source": f.source, "error": f.error} for f in registry.failures]
    return {"kinds": kinds, "failures": failures}
