"""Atomic file output: a killed run never leaves a half-written file that a rerun would trust.

Everything the harness writes goes to a temporary name beside the target and is renamed into place when complete
(``os.replace`` is atomic on POSIX within one file system).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from groprompt.errors import GroPromptError


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` if the block succeeds.

    The temporary file keeps the target's suffix, so writers that infer a format from it (PIL, pandas, torch)
    behave as for the target. On an exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    # mkstemp creates 0600; the finished file should have the permissions of any other file written here.
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(target: str | Path, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file beside ``target`` for writing; rename it onto ``target`` when closed without error."""
    if not mode.startswith(("w", "x")):
        raise ValueError(f"atomic_open writes whole files; mode {mode!r} is not a write mode")
    with atomic_path(target) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle


def atomic_write_text(target: str | Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically (UTF-8)."""
    with atomic_open(target, "w", encoding="utf-8") as handle:
        handle.write(text)


def atomic_torch_save(obj: object, target: str | Path) -> None:
    """``torch.save`` to ``target`` atomically, with bytes that depend on ``obj`` only.

    Saving through a file handle rather than the temporary path matters: given a path, torch names the archive's
    inner folder after the file name, so the same object would give different bytes on every write.
    """
    import torch

    with atomic_open(target, "wb") as handle:
        torch.save(obj, handle)


def check_writable(folder: str | Path, what: str) -> None:
    """Refuse, before any work, a folder the run could not write into: ``folder`` itself if it exists, else the
    nearest existing folder above it (where it would be created). Creates nothing.

    Args:
        folder: the output, cache or score folder.
        what: how the user names it, e.g. ``"output folder (--out)"``.

    Raises:
        GroPromptError: ``folder`` (or what is in its way) is a file, or the folder is not writable.
    """
    folder = Path(folder)
    existing = folder.absolute()
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise GroPromptError(f"the {what} cannot be created: {existing} is a file, not a folder", path=folder,
                             fix="choose another path, or move the file away")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "it" if existing == folder.absolute() else f"{existing}, where it would be created,"
        raise GroPromptError(f"the {what} is not writable: {where} is read-only for this user", path=folder,
                             fix="choose a folder you can write to, or change its permissions")
