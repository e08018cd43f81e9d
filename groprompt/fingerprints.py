"""Content fingerprints of what a step reads, recorded in its run identity (``groprompt infer``'s done markers,
``groprompt train``'s epoch checkpoints) so that a rerun continues an output folder only if its inputs are the same.

* :func:`path_digest`: a checkpoint file, or a folder (a Hugging Face checkpoint, a tokenizer), by the bytes of
  its files: a file copied, touched or restored from a backup keeps its digest, and a file rewritten with other
  weights in the same second and size does not. Reading a 2.4 GB SAM ViT-H file takes seconds, which every start
  of a step would pay, so the digest of a file of at least :data:`MEMO_MIN_BYTES` is remembered (:func:`file_digest`)
  and read again only when the file's status changes.
* :func:`dataset_digest`: a split as its reader sees it (video and frame names, frame sizes, object ids, every
  expression's id, text and object) plus the bytes of the dataset's metadata files (``.json``, ``.txt``,
  ``.csv``, ``.yaml`` up to three folders deep: meta.json, meta_expressions.json, synrvos.json, A2D's and JHMDB's
  annotation lists). Frame and mask pixels are not read: that would cost a pass over the whole dataset, and a
  regenerated or edited dataset changes its metadata files (SynRVOS records its seed and settings in
  synrvos.json). A metadata file of another split counts too, so editing it starts this split's run over.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from groprompt.data.model import Dataset
from groprompt.file_memo import FileMemo, cache_folder, recall, stamp

_METADATA_SUFFIXES = (".json", ".txt", ".csv", ".yaml", ".yml")
_METADATA_DEPTH = 3
"""Folder levels searched for metadata files: the root, its sub-folders, and theirs (meta_expressions/<split>/)."""
_BLOCK = 1 << 20
MEMO_MIN_BYTES = 64 << 20
"""Files from this size on have their digest remembered; reading a smaller one costs less than the memo."""
MEMO_ENV = "GROPROMPT_DIGEST_MEMO"
"""Environment variable naming the memo file (default ``$XDG_CACHE_HOME/groprompt/file-digests.json``, with
``~/.cache`` for an unset ``XDG_CACHE_HOME``)."""
_MEMO_KIND = "file-digests"


def path_digest(path: str | Path) -> str:
    """A 32-hex-digit blake2b digest of a file (:func:`file_digest`), or of a folder's files (their relative names
    and digests, in sorted order, recursively); ``"missing"`` for a path that does not exist."""
    path = Path(path)
    if path.is_file():
        return file_digest(path)
    if not path.is_dir():
        return "missing"
    digest = hashlib.blake2b(digest_size=16)
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}\0{file_digest(file)}\0".encode())
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """The blake2b digest of a file's bytes, remembered for a file of at least :data:`MEMO_MIN_BYTES`.

    The memo (:data:`MEMO_ENV`; a :class:`groprompt.file_memo.FileMemo`) maps a file's resolved path to its digest
    and status when hashed: size, modification and status-change times (ns), inode and device. The status-change
    time cannot be set by a user and moves with every write, so a remembered digest is reused only for the very
    bytes it was computed from; a touched, renamed or copied file is read once more (same digest). A memo that
    cannot be read or written (a read-only home), or is corrupt, only costs the reading.
    """
    status = path.stat()
    if status.st_size < MEMO_MIN_BYTES:
        return _hash_file(path)
    key = str(path.resolve())
    memo = FileMemo(_memo_file(), _MEMO_KIND)
    found = recall(memo.read(), key, status)
    if found is not None and len(found) == 1 and isinstance(found[0], str):
        return found[0]
    digest = _hash_file(path)
    if stamp(path.stat()) == stamp(status):  # a file that changed while it was read is not remembered
        memo.add({key: [*stamp(status), digest]})  # entries of files that are gone are dropped
    return digest


def dataset_digest(dataset: Dataset) -> str:
    """A 32-hex-digit digest of ``dataset`` as read (names, frames, sizes, expressions) and of its metadata files
    (module docstring)."""
    digest = hashlib.blake2b(digest_size=16)
    view = [[video.name, list(video.frame_names), list(video.size), list(video.object_ids),
             [[e.exp_id, e.text, e.obj_id, e.kind, e.expression_set,
               *([list(e.referents)] if len(e.referents) > 1 else [])]  # one referent: digests as before
              for e in video.expressions]]
            for video in dataset.videos]
    digest.update(json.dumps([dataset.name, dataset.split, view]).encode())
    for file in _metadata_files(Path(dataset.root)):
        digest.update(f"{file.relative_to(dataset.root).as_posix()}\0".encode())
        _update_with_file(digest, file)
    return digest.hexdigest()


def _metadata_files(root: Path) -> list[Path]:
    found: list[Path] = []
    folders = [root] if root.is_dir() else []
    for _ in range(_METADATA_DEPTH):
        below: list[Path] = []
        for folder in folders:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir():
                        below.append(Path(entry.path))
                    elif entry.is_file() and entry.name.lower().endswith(_METADATA_SUFFIXES):
                        found.append(Path(entry.path))
        folders = below
    return sorted(found)


def _update_with_file(digest, path: Path) -> None:
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
        digest.update(b"\0")


def _hash_file(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    _update_with_file(digest, path)
    return digest.hexdigest()


def _memo_file() -> Path:
    configured = os.environ.get(MEMO_ENV)
    return Path(configured) if configured else cache_folder() / "file-digests.json"
