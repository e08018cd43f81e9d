"""Dataset readers by name: ``open_dataset("refdavis", root, "valid")``.

Every reader has the signature ``reader(root, split, *, dataset_name=..., **options) -> Dataset``. A dataset
written in another reader's layout registers that reader under its own name (SynRVOS uses the Ref-YouTube-VOS
reader), so no reader special-cases it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

from groprompt.data.a2d import load_a2d
from groprompt.data.jhmdb import load_jhmdb
from groprompt.data.model import Dataset
from groprompt.data.refdavis import load_refdavis
from groprompt.data.refytvos import load_refytvos
from groprompt.errors import GroPromptError

Reader = Callable[..., Dataset]

READERS: dict[str, Reader] = {
    "refytvos": load_refytvos,
    "refdavis": load_refdavis,
    "a2d": load_a2d,
    "jhmdb": load_jhmdb,
    "synrvos": load_refytvos,
}
"""Dataset kind -> reader."""


def open_dataset(kind: str, root: str | Path, split: str, **options: object) -> Dataset:
    """Read ``split`` of the dataset of ``kind`` at ``root``; unknown kinds and options are errors listing the valid.

    The dataset is named ``kind`` unless ``dataset_name`` is among the options.
    """
    reader = READERS.get(kind)
    if reader is None:
        raise GroPromptError(f"unknown dataset kind {kind!r} (known: {', '.join(sorted(READERS))})",
                             fix="use one of the known kinds")
    accepted = [name for name, parameter in inspect.signature(reader).parameters.items()
                if parameter.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise GroPromptError(f"dataset kind {kind!r} has no option(s) {unknown} (options: {', '.join(accepted)})",
                             dataset=kind, fix="remove or correct the option")
    options.setdefault("dataset_name", kind)
    return reader(root, split, **options)
