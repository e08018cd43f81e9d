"""Loading the modules users drop into a repository folder (methods in ``baselines/``, dataset kinds in
``dataset_kinds/``), and naming why one failed, so that one broken module is reported instead of hiding everything
else."""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType


def load_module_file(path: Path, package: str) -> ModuleType:
    """Import the file ``path`` as module ``<package>.<stem>``.

    The module is in ``sys.modules`` while it runs (dataclasses and pickling look a module up there); a module
    that raises is taken out again, so a corrected file is imported afresh.
    """
    module_name = f"{package}.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def describe_import_error(error: BaseException) -> str:
    """``Type: message (file:line)`` of the innermost frame: enough to find the fault without a traceback."""
    last = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    where = f" ({Path(last.filename).name}:{last.lineno})" if last else ""
    return f"{type(error).__name__}: {error}{where}"


def plugin_files(folder: Path | None) -> list[Path]:
    """The ``*.py`` modules of ``folder`` in name order, without private ones (``_*.py``); none for a missing
    folder."""
    if folder is None or not folder.is_dir():
        return []
    return [path for path in sorted(folder.glob("*.py")) if not path.name.startswith("_")]
