"""What was computed from a file, remembered by the file's status, so that an unchanged file is not read again.

Two users: checkpoint digests (:mod:`groprompt.fingerprints`) and the header checks of a split's frames and masks
(:mod:`groprompt.data.validation`). Each keeps its memo files under the user's cache folder
(:func:`cache_folder`), or where its environment variable says.

* **Key**: a file's path; an entry holds the file's status when it was read (:func:`stamp`: size, modification
  and status-change times in ns, inode, device) and what was computed from it. The status-change time cannot be set
  by a user and moves with every write, so an entry is used only for the very bytes it was computed from; a touched,
  rewritten, renamed or restored file is read again.
* **A memo file** is two lines: a JSON header (format, kind, entry count and the blake2b digest of the second line)
  and the entries as one JSON object. A file that is missing, unreadable, of another format or kind, or whose
  second line does not match its digest (truncated, edited, half-written by a tool other than this one) reads as
  empty: everything is computed again, never trusted on doubt.
* **Several processes** read and write the same memo: each write goes to a temporary file renamed into place
  (:func:`groprompt.files.atomic_open`), so a reader sees one whole version or another. Two writers racing
  may lose one's new entries, which only costs computing them again later. A memo that cannot be written (a
  read-only home) only costs the computing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from groprompt.files import atomic_open

FORMAT = "groprompt-file-memo/1"
STAMP_FIELDS = 5
"""Leading fields of every entry: the :func:`stamp` of the file it was computed from."""


def cache_folder() -> Path:
    """``$XDG_CACHE_HOME/groprompt``, with ``~/.cache`` for an unset ``XDG_CACHE_HOME``."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "groprompt"


def stamp(status: os.stat_result) -> list[int]:
    """A file's status as an entry records it: size, modification and status-change times (ns), inode, device."""
    return [status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino, status.st_dev]


def recall(entries: Mapping[str, list], key: str, status: os.stat_result) -> list | None:
    """What ``entries`` remembers for ``key`` (the fields after the stamp), if it was computed from a file of this
    ``status``; None otherwise (not remembered, changed since, or a malformed entry)."""
    found = entries.get(key)
    if not isinstance(found, list) or len(found) < STAMP_FIELDS or found[:STAMP_FIELDS] != stamp(status):
        return None
    return found[STAMP_FIELDS:]


class FileMemo:
    """One memo file of one ``kind`` of entries (module docstring).

    Args:
        path: the memo file (its folder is created when first written).
        kind: what its entries hold, e.g. ``"file-digests"``; a memo file of another kind reads as empty.
    """

    def __init__(self, path: str | Path, kind: str) -> None:
        self.path = Path(path)
        self.kind = kind

    def read(self) -> dict[str, list]:
        """The entries, or ``{}`` when the file is missing, unreadable or in doubt."""
        try:
            data = self.path.read_bytes()
        except OSError:
            return {}
        head, newline, body = data.partition(b"\n")
        try:
            header = json.loads(head)
            if not (isinstance(header, dict) and newline and header.get("format") == FORMAT
                    and header.get("kind") == self.kind and header.get("blake2b") == _digest(body)):
                return {}
            entries = json.loads(body)
        except ValueError:
            return {}
        if not isinstance(entries, dict) or len(entries) != header.get("entries"):
            return {}
        return entries

    def write(self, entries: Mapping[str, list]) -> bool:
        """Replace the memo with ``entries`` (atomically); False if it could not be written."""
        body = json.dumps(entries, separators=(",", ":")).encode()
        header = json.dumps({"format": FORMAT, "kind": self.kind, "entries": len(entries),
                             "blake2b": _digest(body)}).encode()
        with contextlib.suppress(OSError):
            with atomic_open(self.path, "wb") as handle:
                handle.write(header + b"\n" + body)
            return True
        return False

    def add(self, new: Mapping[str, list]) -> bool:
        """Add ``new`` to the entries on disk (read again just before: other processes write too), dropping those of
        files that are gone (keys are paths)."""
        entries = {key: value for key, value in self.read().items() if os.path.exists(key)}
        entries.update(new)
        return self.write(entries)


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()
