"""Up-front checks of a split's inputs, run by every reader while it loads the split, hence before any model loads.

Each problem is a :class:`~groprompt.errors.GroPromptError` naming the dataset, the video (and expression) and the
file, and saying what to do. What is read, and what it costs:

* **Frame images** (JPEG, PNG): the header, which PIL parses without decoding pixels (format, mode, size), and the
  last :data:`TAIL_BYTES` bytes: a complete JPEG ends with its EOI marker ``FF D9`` and a complete PNG with its
  ``IEND`` chunk, so a truncated or unreadable file is caught without decoding it. Every frame of a video must have
  the size of its first. Not caught up front: a file complete in length whose compressed data is corrupt inside;
  finding that means decoding every frame, about as costly as a pass of inference's frame reading.
* **Label-map PNGs**: the same header and end checks, mode ``P`` or ``L`` (8-bit; a 1-bit ``1`` PNG reads as ids
  0/1), the size of the video's frames, and the set of label ids, which needs the pixels: PIL decodes the PNG and
  counts its values in C (:meth:`PIL.Image.Image.histogram`). Every id must be 0 (background), :data:`VOID_LABEL`
  (void, DAVIS convention) or an object that ``meta.json`` declares for the video.
* **Expressions**: the sentence must have a letter or a digit (so it is neither empty, nor blank, nor punctuation
  only).

A split's files are checked once per unchanged file (:class:`FileChecks`): a reader hands every frame and mask of
the split to :meth:`FileChecks.prefetch` before it checks its videos one by one. What a file's own check found
(format, mode, size, label ids) is remembered by the file's path and status (size, modification and status-change
times, inode, device: :mod:`groprompt.file_memo`, the mechanism of the checkpoint digests), so a second open of an
unchanged split reads no image; a new, touched or rewritten file is checked again, in a pool of threads (reading
and PNG decoding release the GIL). Only files that passed are remembered; the checks across files (one size per
video, label ids that ``meta.json`` declares) are made again at every open from what is remembered, so an edited
``meta.json`` is checked against every mask. The memo of a split is one file in the folder :data:`MEMO_ENV` names
(default ``$XDG_CACHE_HOME/groprompt/validated-files/``, ``~/.cache`` for an unset ``XDG_CACHE_HOME``; ``off``: no
memo), written atomically; several jobs may read and write it at once, and one that is unreadable or corrupt is
ignored (every file is checked again). A split of fewer than :data:`MEMO_MIN_FILES` files is not remembered.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from groprompt.data.model import VOID_LABEL
from groprompt.errors import GroPromptError
from groprompt.file_memo import FileMemo, cache_folder, recall, stamp

TAIL_BYTES = 64
"""How many bytes at the end of an image file must hold its end marker (a few encoders pad after it)."""

END_MARKERS = {"JPEG": b"\xff\xd9", "PNG": b"IEND"}
"""Format -> the bytes a complete file of that format ends with (JPEG EOI marker, PNG IEND chunk type)."""

LABEL_MODES = ("P", "L", "1")
"""PIL modes of a label-map PNG: 8-bit palette or grey level (and 1-bit, ids 0/1); RGB or 16-bit PNGs are not."""

MEMO_ENV = "GROPROMPT_VALIDATION_MEMO"
"""Environment variable naming the folder of the split memos (module docstring); ``off`` turns the memo off."""
MEMO_MIN_FILES = 1000
"""Splits from this many files on have their checks remembered; checking fewer costs less than a memo file."""
THREADS_ENV = "GROPROMPT_CHECK_THREADS"
"""Environment variable: threads that check files (default ``min(32, CPUs + 4)``; 1 checks in the caller)."""
_MEMO_KIND = f"image-checks/1/{TAIL_BYTES}"
"""The memo entries' kind: a change of what :func:`_inspect` checks must change it, so old entries are not used."""
_CHUNK = 64
"""Files per task of the thread pool."""


@dataclass(frozen=True)
class ImageHeader:
    """What :func:`_read_header` found: format, mode, ``(H, W)``, and the label ids when asked for."""

    format: str | None
    mode: str
    size: tuple[int, int]
    ids: frozenset[int] | None


def _read_header(path: Path, what: str, *, dataset: str | None, video: str | None, label_ids: bool = False,
                 checks: FileChecks | None = None) -> ImageHeader:
    """Check ``path``'s header and end (and count the label ids of a label-mode image when ``label_ids``): what
    ``checks`` found if it has the file, else read now. Raises the named error of a missing, unreadable or truncated
    file."""
    found = checks.result(path, label_ids) if checks is not None else None
    return _header_or_raise(found or _inspect(str(path), label_ids), path, what, dataset=dataset, video=video)


def _inspect(path: str, label_ids: bool) -> tuple:
    """Open ``path`` (header only, unless ``label_ids``: then the pixels of a label-mode image are counted) and check
    that its end marker is there. Returns ``("ok", stamp or None, format, mode, H, W, sorted ids or None)`` (the
    stamp is None when the file changed while it was read) or a defect: ``("missing",)``, ``("truncated", format,
    marker)``, ``("unreadable", message)``. Raises nothing the checks expect, so it can run in any thread."""
    try:
        before = os.stat(path)
        with Image.open(path) as image:
            with open(path, "rb") as handle:
                handle.seek(max(before.st_size - TAIL_BYTES, 0))
                tail = handle.read()
            marker = END_MARKERS.get(image.format or "")
            if marker is not None and marker not in tail:  # checked before decoding: the clearer message
                return ("truncated", image.format, marker)
            ids = sorted(_present_ids(image)) if label_ids and image.mode in LABEL_MODES else None
            width, height = image.size
            found = ("ok", image.format, image.mode, height, width, ids)
        unchanged = stamp(os.stat(path)) == stamp(before)
    except FileNotFoundError:
        return ("missing",)
    except OSError as error:  # PIL's UnidentifiedImageError and decoding errors included
        return ("unreadable", str(error))
    return (found[0], stamp(before) if unchanged else None, *found[1:])


def _header_or_raise(found: tuple, path: Path, what: str, *, dataset: str | None, video: str | None) -> ImageHeader:
    if found[0] == "ok":
        file_format, mode, height, width, ids = found[2:]
        return _header(file_format, mode, height, width, None if ids is None else tuple(ids))
    where = {"dataset": dataset, "video": video, "path": path}
    if found[0] == "missing":
        raise GroPromptError(f"{what} is missing", fix="check that the dataset folder is complete", **where)
    if found[0] == "truncated":
        raise GroPromptError(f"{what} is truncated (a complete {found[1]} file ends with {found[2]!r})",
                             fix="re-extract or re-download this file; the copy that wrote it was interrupted",
                             **where)
    raise GroPromptError(f"{what} cannot be read ({found[1]})", fix="re-extract or re-download this file", **where)


@functools.lru_cache(maxsize=4096)
def _header(file_format: str | None, mode: str, height: int, width: int, ids: tuple[int, ...] | None) -> ImageHeader:
    """One :class:`ImageHeader` per distinct finding (the frames of a dataset share a few)."""
    return ImageHeader(file_format, mode, (height, width), None if ids is None else frozenset(ids))


class FileChecks:
    """The checks of each file of one split on its own (readable, complete, format, mode, size, label ids), done for
    all of the split's files at once before its videos are checked one by one: remembered for unchanged files,
    the rest in a thread pool (module docstring).

    A reader builds one per split opening, calls :meth:`prefetch` with every file, then passes it as ``checks`` to
    :func:`check_frames` and :func:`check_label_maps`, which raise the error of the first defect in the order the
    video's checks meet them, as without prefetching. A file not prefetched is read when asked for.

    Args:
        scope: names the split (:func:`split_scope`); one memo file per scope.
        description: the progress bar's label while files are checked.

    Attributes:
        remembered: files whose result came from the memo at the last :meth:`prefetch`.
        checked: files read at the last :meth:`prefetch`.
    """

    def __init__(self, scope: str, *, description: str = "checking files") -> None:
        self.scope = scope
        self.description = description
        self.remembered = 0
        self.checked = 0
        self._results: dict[tuple[str, bool], tuple] = {}

    def prefetch(self, files: Iterable[tuple[Path | str, bool]]) -> None:
        """Check ``(path, label_ids)`` files: from the memo when the file is unchanged since it passed, else read
        (in parallel); then remember every file that passed. Later lookups (:meth:`result`) must spell each path as
        here (``str(path)``; a path spelled otherwise is read when asked for)."""
        keys = list(dict.fromkeys((os.fspath(path), bool(label_ids)) for path, label_ids in files))
        memo = _memo(self.scope) if len(keys) >= MEMO_MIN_FILES else None
        folders = memo.read() if memo is not None else {}  # absolute folder -> {file name: entry}
        absolute = _Absolute()
        todo, hits = [], []
        for key in keys:
            folder, name = absolute(key[0])
            remembered = folders.get(folder)
            found = _recall(remembered, key[0], name, key[1]) if remembered.__class__ is dict else None
            if found is None:
                todo.append(key)
            else:
                self._results[key] = ("ok", None, *found)
                hits.append((folder, name))
        self.remembered, self.checked = len(hits), len(todo)
        results = _inspect_all(todo, self.description)
        if memo is None or (not todo and len(hits) == _count(folders)):
            self._results.update(zip(todo, results))
            return
        kept: dict[str, dict[str, list]] = {}
        for folder, name in hits:
            kept.setdefault(folder, {})[name] = folders[folder][name]
        for key, found in zip(todo, results):
            self._results[key] = found
            if found[0] == "ok" and found[1] is not None:
                folder, name = absolute(key[0])
                entries = kept.setdefault(folder, {})
                if key[1] or name not in entries:  # the entry with label ids serves both
                    entries[name] = [*found[1], *found[2:]]
        memo.write(kept)

    def result(self, path: Path | str, label_ids: bool) -> tuple | None:
        """What :meth:`prefetch` found for ``path`` (a label-id check serves a header check too), or None."""
        key = os.fspath(path)
        return self._results.get((key, label_ids)) or (None if label_ids else self._results.get((key, True)))


def split_scope(root: str | Path, split: str) -> str:
    """The :class:`FileChecks` scope of split ``split`` of the dataset at ``root``."""
    return f"{Path(root).resolve()}\0{split}"


def memo_folder() -> Path | None:
    """The folder of the split memos (:data:`MEMO_ENV`, module docstring); None when the memo is off."""
    configured = os.environ.get(MEMO_ENV)
    if configured == "off":
        return None
    return Path(configured) if configured else cache_folder() / "validated-files"


def _memo(scope: str) -> FileMemo | None:
    folder = memo_folder()
    if folder is None:
        return None
    name = hashlib.blake2b(scope.encode(), digest_size=16).hexdigest()
    return FileMemo(folder / f"{name}.json", _MEMO_KIND)


def _recall(entries: dict[str, list], path: str, name: str, label_ids: bool) -> list | None:
    """The remembered ``[format, mode, H, W, ids]`` of file ``name`` (at ``path``) if it is unchanged; None on any
    doubt (not remembered, changed, malformed, or without the label ids asked for)."""
    try:
        found = recall(entries, name, os.stat(path))
    except OSError:
        return None
    if found is None or len(found) != 5:
        return None
    file_format, mode, height, width, ids = found
    if not (mode.__class__ is str and height.__class__ is int and width.__class__ is int
            and (file_format is None or file_format.__class__ is str)):
        return None
    if ids is None:
        return None if label_ids and mode in LABEL_MODES else found
    return found if ids.__class__ is list else None


class _Absolute:
    """``path -> (absolute folder, file name)``, each folder made absolute once (the memo's keys)."""

    def __init__(self) -> None:
        self._cwd = os.getcwd()
        self._folders: dict[str, str] = {}

    def __call__(self, path: str) -> tuple[str, str]:
        folder, _, name = path.rpartition(os.sep)
        absolute = self._folders.get(folder)
        if absolute is None:
            absolute = self._folders[folder] = os.path.abspath(os.path.join(self._cwd, folder or os.curdir))
        return absolute, name


def _count(folders: dict) -> int:
    return sum(len(entries) for entries in folders.values() if isinstance(entries, dict))


def _threads() -> int:
    configured = os.environ.get(THREADS_ENV)
    if not configured:
        return min(32, (os.cpu_count() or 1) + 4)
    if not configured.isdigit() or int(configured) < 1:
        raise GroPromptError(f"{THREADS_ENV}={configured!r} is not a number of threads",
                             fix=f"set {THREADS_ENV} to a whole number from 1 (1: check in the calling thread), or "
                                 "unset it")
    return int(configured)


def _inspect_all(keys: Sequence[tuple[str, bool]], description: str) -> list[tuple]:
    """:func:`_inspect` of every ``(path, label_ids)``, in order, in :data:`THREADS_ENV` threads."""
    threads = _threads()
    chunks = [keys[start:start + _CHUNK] for start in range(0, len(keys), _CHUNK)]
    progress = tqdm(total=len(keys), desc=description, unit="file", leave=False, delay=2)

    def check(chunk: Sequence[tuple[str, bool]]) -> list[tuple]:
        found = [_inspect(path, label_ids) for path, label_ids in chunk]
        progress.update(len(chunk))
        return found

    with progress:
        if threads <= 1 or len(chunks) <= 1:
            return [result for chunk in chunks for result in check(chunk)]
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="groprompt-check") as pool:
            return [result for found in pool.map(check, chunks) for result in found]


def _present_ids(image: Image.Image) -> frozenset[int]:
    """The label values present in a ``P``/``L``/``1`` image (decodes its pixels)."""
    counts = image.histogram()
    if image.mode == "1":  # PIL counts 1-bit pixels in bins 0 and 255; read_label_png reads them as 0 and 1
        return frozenset(value for value, count in ((0, counts[0]), (1, counts[255])) if count)
    return frozenset(value for value, count in enumerate(counts) if count)


def check_frames(paths: Sequence[Path], *, dataset: str, video: str,
                 checks: FileChecks | None = None) -> tuple[int, int]:
    """Check every frame image of a video from its header and end (what ``checks`` found, where it has the file);
    return the video's ``(H, W)``.

    Raises a :class:`GroPromptError` naming the file if a frame is missing, unreadable, truncated, or of another size
    than the video's first frame.
    """
    size = None
    for path in paths:
        found = _read_header(path, "frame file", dataset=dataset, video=video, checks=checks).size
        if size is None:
            size = found
        elif found != size:
            raise GroPromptError(
                f"frame is {found[0]}x{found[1]} (height x width) but the video's first frame {paths[0].name} is "
                f"{size[0]}x{size[1]}", dataset=dataset, video=video, path=path,
                fix="every frame of a video must have one size: re-extract this frame, or resize it to the others'",
            )
    if size is None:
        raise GroPromptError("video has no frames", dataset=dataset, video=video,
                             fix="restore the video's frames, or remove the video from the split")
    return size


def check_label_maps(paths: Iterable[Path], size: tuple[int, int], object_ids: Collection[int], *, dataset: str,
                     video: str, declared_in: Path, checks: FileChecks | None = None) -> None:
    """Check every label-map PNG of a video: readable, complete, 8-bit ``P``/``L``, of the frames' ``size``, and
    holding only 0, void (255) and the ``object_ids`` that ``declared_in`` (``meta.json``) declares (each file's own
    checks: what ``checks`` found, where it has the file)."""
    allowed = frozenset(object_ids) | {0, VOID_LABEL}
    for path in paths:
        header = check_label_png(path, "annotation PNG", dataset=dataset, video=video, label_ids=True,
                                 checks=checks)
        if header.size != tuple(size):
            check_mask_size(header.size, size, dataset=dataset, video=video, path=path)
        if not header.ids <= allowed:
            check_label_ids(header.ids, object_ids, dataset=dataset, video=video, path=path, declared_in=declared_in)


def check_label_png(path: Path, what: str, *, dataset: str | None = None, video: str | None = None,
                    label_ids: bool = False, checks: FileChecks | None = None) -> ImageHeader:
    """Check one label-map PNG (ground truth or prediction) from its header and end: readable, complete, a PNG,
    8-bit ``P``/``L`` (or 1-bit); with ``label_ids`` its label values are read too (that decodes the pixels).
    ``what`` names the file in errors ("annotation PNG", "mask PNG")."""
    header = _read_header(path, what, dataset=dataset, video=video, label_ids=label_ids, checks=checks)
    if header.format != "PNG":
        raise GroPromptError(f"{what} is a {header.format}, not a PNG", dataset=dataset, video=video, path=path,
                             fix="save label maps as palette PNGs (lossy formats corrupt the labels)")
    if header.mode not in LABEL_MODES:
        raise GroPromptError(
            f"{what} has mode {header.mode}; expected an 8-bit palette (P) or grey-level (L) image whose values are "
            "object ids", dataset=dataset, video=video, path=path,
            fix="save it as an 8-bit palette PNG (value = object id, 0 background); RGB colours and 16-bit "
                "values are not object ids")
    return header


def check_mask_size(shape: tuple[int, ...], size: tuple[int, int], *, dataset: str, video: str, path: Path) -> None:
    """An annotation of ``shape`` must have its frames' ``(H, W)``."""
    if tuple(shape) != tuple(size):
        raise GroPromptError(
            f"annotation is {shape[0]}x{shape[1]} but the video's frames are {size[0]}x{size[1]} (height x width)",
            dataset=dataset, video=video, path=path, fix="annotations must have the size of their frames",
        )


def check_label_ids(values: Iterable[int], object_ids: Collection[int], *, dataset: str, video: str, path: Path,
                    declared_in: Path | str = "<split>/meta.json") -> None:
    """Every label value of an annotation must be 0, void (255) or an object declared for the video."""
    unknown = sorted(set(values) - set(object_ids) - {0, VOID_LABEL})
    if unknown:
        raise GroPromptError(
            f"label values {unknown} are not objects declared in meta.json (declared: {sorted(object_ids)})",
            dataset=dataset, video=video, path=path, fix=f"declare these objects in {declared_in}, or fix the PNG",
        )


def check_expression_text(text: str, *, dataset: str, video: str, expression: str, path: Path) -> None:
    """A referring expression must say something: a sentence that is empty, blank, or without any letter or digit
    (``"  . "``: the prompter's normalisation, which lower-cases, collapses whitespace and strips trailing periods,
    would leave nothing of it, or only punctuation) is an error naming it."""
    if not text.strip():
        problem = "empty" if not text else "blank"
    elif not any(character.isalnum() for character in text):
        problem = "without a letter or digit"
    else:
        return
    raise GroPromptError(f"expression is {problem} ({text!r})", dataset=dataset, video=video, expression=expression,
                         path=path, fix="write the sentence into this file, or remove the expression")
