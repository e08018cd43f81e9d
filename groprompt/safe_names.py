"""Names read from dataset and prediction files never lead outside the folders the harness was given.

A dataset file names things that become parts of paths: a video (``<root>/<split>/JPEGImages/<video>/``,
``<out>/boxes/<video>.csv``), a frame (``<frame>.jpg``), an expression id (``Annotations/<video>/<exp_id>/``).
Such a name must be one plain file name, or a file of somebody else's could make the harness read, overwrite or
delete files anywhere its user can. Two checks, used everywhere:

* :func:`check_name`, the one rule, applied by every reader where its split opens (so a bad name stops the step
  before anything is read or written, with the file and the entry named) and again, through
  :func:`check_video_names`, where a reader's names are used: on every dataset that ``open_dataset`` returns (a
  user's reader included) and by every writer. A plain name is a non-empty string of at most :data:`NAME_BYTES`
  bytes (UTF-8; file systems allow 255, and the harness adds suffixes such as ``.json``) with no path separator
  (``/``, or ``\\``, one on Windows, where a dataset may have been written: so no absolute path either), no
  control character (NUL, newline, DEL, ...), and no leading ``.``: that excludes ``.`` and ``..``, and the hidden
  names the harness keeps for its temporary files and skips when it lists a folder.
* :func:`check_within`, the writers' second line: a path, symbolic links resolved, stays inside its root (the
  output or score folder), so a link planted inside an output folder cannot lead a write out of it. Reads
  are not held to it: a converted Ref-DAVIS17 links its video folders to the DAVIS source on purpose.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from groprompt.errors import GroPromptError

NAME_BYTES = 240
"""Longest name accepted, in UTF-8 bytes: a file system's 255 less room for the suffix the harness appends."""

_FORBIDDEN = re.compile(r"[/\\\x00-\x1f\x7f-\x9f]")
"""Path separators and control characters (C0, DEL, C1)."""

RULE = f"one plain name: no '/' or '\\', no leading '.', no control character, at most {NAME_BYTES} bytes"
"""The rule in words, for messages."""

READER_FIX = (f"each name a dataset's reader gives must be {RULE}; correct the entry of the dataset file it comes "
              "from (or the reader, if it is yours)")
"""The fix of a bad name met where a reader's names are used, far from the file they were read from."""


def name_problem(name: object) -> str | None:
    """Why ``name`` is not a plain name (see the module docstring), or None if it is one."""
    if not isinstance(name, str):
        return f"it is a {type(name).__name__}, not a string"
    if not name:
        return "it is empty"
    found = _FORBIDDEN.search(name)
    if found is not None:
        character = found.group()
        return f"it holds the path separator {character!r}" if character in "/\\" else \
            f"it holds the control character {character!r}"
    if name.startswith("."):
        return "it starts with '.' (a hidden name, or '.' / '..')"
    if len(name.encode("utf-8", "surrogatepass")) > NAME_BYTES:
        return f"it is longer than {NAME_BYTES} bytes"
    return None


def check_name(name: object, what: str, *, path: str | Path | None, dataset: str | None = None,
               video: str | None = None, expression: str | None = None, fix: str | None = None) -> str:
    """Return ``name`` if it is a plain name; else a :class:`GroPromptError` naming ``what`` (``"video name"``,
    ``"expression id"``, ...), the entry, the file ``path`` it was read from, and the fix.

    Args:
        name: the entry as read from the file.
        what: what the name is, as the message words it.
        path: the file the name was read from (or, for a writer, the folder it would have written into).
        dataset, video, expression: where the entry is, named in the message (``video`` only for names inside
            a video: the name checked is given in the message itself).
        fix: what to do, where the default (correct the file) does not apply.
    """
    problem = name_problem(name)
    if problem is None:
        return name
    raise GroPromptError(f"{what} {name!r} is not a plain name: {problem}", dataset=dataset, video=video,
                         expression=expression, path=path,
                         fix=fix or f"each {what} must be {RULE}; correct this entry of the file (re-download the "
                                    "file if it was not edited), or leave the dataset out: a name with a path in it "
                                    "could make the harness read or write outside its folders")


def check_video_names(video: Any, *, path: str | Path) -> None:
    """Check the names a reader gave a :class:`~groprompt.data.model.Video` (its name, frame names and expression
    ids), wherever they are about to become parts of paths; ``path`` is the dataset root or the folder that would
    be written into. The fix names the reader: the file the name came from is the reader's to know."""
    where = {"path": path, "dataset": video.dataset, "fix": READER_FIX}
    check_name(video.name, "video name", **where)
    for frame in video.frame_names:
        check_name(frame, "frame name", video=video.name, **where)
    for expression in video.expressions:
        check_name(expression.exp_id, "expression id", video=video.name, **where)


def check_within(root: str | Path, path: str | Path, what: str, *, dataset: str | None = None,
                 video: str | None = None) -> Path:
    """Return ``path`` if, symbolic links resolved, it lies inside ``root`` (or is ``root``); else a
    :class:`GroPromptError` naming both. ``what`` names the root in the message (``"output folder (--out)"``).
    Neither path needs to exist."""
    resolved_root, resolved = Path(root).resolve(), Path(path).resolve()
    if not resolved.is_relative_to(resolved_root):
        raise GroPromptError(
            f"refusing to write here: the path resolves to {resolved}, outside the {what} {resolved_root}",
            dataset=dataset, video=video, path=path,
            fix=f"remove the symbolic link inside {root} that leads out of it, or correct the name that makes the "
                "path leave it")
    return Path(path)
