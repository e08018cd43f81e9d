"""Content fingerprints of what a step reads, recorded in its run identity (``groprompt infer``'s done markers,
``groprompt train``'s epoch checkpoints) so that a rerun continues an output folder only if its inputs are the same.

* :func:`path_digest`: a checkpoint file, or a folder (a Hugging Face checkpoint, a tokenizer), by the bytes of
  its files. A 2.5 GB SAM ViT-H file takes about two seconds; sizes and modification times play no part, so a
  file copied, touched or restored from a backup keeps its digest, and a file rewritten with other weights in the
  same second and size does not.
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

_METADATA_SUFFIXES = (".json", ".txt", ".csv", ".yaml", ".yml")
_METADATA_DEPTH = 3
"""Folder levels searched for metadata files: the root, its sub-folders, and theirs (meta_expressions/<split>/)."""
_BLOCK = 1 << 20


def path_digest(path: str | Path) -> str:
    """A 32-hex-digit blake2b digest of a file's bytes, or of a folder's files (relative names and bytes, in
    sorted order, recursively); ``"missing"`` for a path that does not exist."""
    path = Path(path)
    digest = hashlib.blake2b(digest_size=16)
    if path.is_file():
        _update_with_file(digest, path)
    elif path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{file.relative_to(path).as_posix()}\0".encode())
            _update_with_file(digest, file)
    else:
        return "missing"
    return digest.hexdigest()


def dataset_digest(dataset: Dataset) -> str:
    """A 32-hex-digit digest of ``dataset`` as read (names, frames, sizes, expressions) and of its metadata files
    (module docstring)."""
    digest = hashlib.blake2b(digest_size=16)
    view = [[video.name, list(video.frame_names), list(video.size), list(video.object_ids),
             [[e.exp_id, e.text, e.obj_id, e.kind, e.expression_set] for e in video.expressions]]
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
