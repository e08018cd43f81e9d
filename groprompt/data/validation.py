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
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from groprompt.data.model import VOID_LABEL
from groprompt.errors import GroPromptError

TAIL_BYTES = 64
"""How many bytes at the end of an image file must hold its end marker (a few encoders pad after it)."""

END_MARKERS = {"JPEG": b"\xff\xd9", "PNG": b"IEND"}
"""Format -> the bytes a complete file of that format ends with (JPEG EOI marker, PNG IEND chunk type)."""

LABEL_MODES = ("P", "L", "1")
"""PIL modes of a label-map PNG: 8-bit palette or grey level (and 1-bit, ids 0/1); RGB or 16-bit PNGs are not."""


@dataclass(frozen=True)
class ImageHeader:
    """What :func:`_read_header` found: format, mode, ``(H, W)``, and the label ids when asked for."""

    format: str | None
    mode: str
    size: tuple[int, int]
    ids: frozenset[int] | None


def _read_header(path: Path, what: str, *, dataset: str | None, video: str | None,
                 label_ids: bool = False) -> ImageHeader:
    """Open ``path`` (header only, unless ``label_ids``: then the pixels of a label-mode image are counted) and check
    that its end marker is there."""
    where = {"dataset": dataset, "video": video, "path": path}
    try:
        with Image.open(path) as image:
            with open(path, "rb") as handle:
                handle.seek(max(path.stat().st_size - TAIL_BYTES, 0))
                tail = handle.read()
            marker = END_MARKERS.get(image.format or "")
            if marker is not None and marker not in tail:  # checked before decoding: the clearer message
                raise GroPromptError(f"{what} is truncated (a complete {image.format} file ends with {marker!r})",
                                     fix="re-extract or re-download this file; the copy that wrote it was "
                                         "interrupted", **where)
            ids = _present_ids(image) if label_ids and image.mode in LABEL_MODES else None
            width, height = image.size
            return ImageHeader(image.format, image.mode, (height, width), ids)
    except FileNotFoundError:
        raise GroPromptError(f"{what} is missing", fix="check that the dataset folder is complete", **where) from None
    except OSError as error:  # PIL's UnidentifiedImageError and decoding errors included
        raise GroPromptError(f"{what} cannot be read ({error})", fix="re-extract or re-download this file",
                             **where) from None


def _present_ids(image: Image.Image) -> frozenset[int]:
    """The label values present in a ``P``/``L``/``1`` image (decodes its pixels)."""
    counts = image.histogram()
    if image.mode == "1":  # PIL counts 1-bit pixels in bins 0 and 255; read_label_png reads them as 0 and 1
        return frozenset(value for value, count in ((0, counts[0]), (1, counts[255])) if count)
    return frozenset(value for value, count in enumerate(counts) if count)


def check_frames(paths: Sequence[Path], *, dataset: str, video: str) -> tuple[int, int]:
    """Check every frame image of a video from its header and end; return the video's ``(H, W)``.

    Raises a :class:`GroPromptError` naming the file if a frame is missing, unreadable, truncated, or of another size
    than the video's first frame.
    """
    size = None
    for path in paths:
        found = _read_header(path, "frame file", dataset=dataset, video=video).size
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
                     video: str, declared_in: Path) -> None:
    """Check every label-map PNG of a video: readable, complete, 8-bit ``P``/``L``, of the frames' ``size``, and
    holding only 0, void (255) and the ``object_ids`` that ``declared_in`` (``meta.json``) declares."""
    for path in paths:
        header = check_label_png(path, "annotation PNG", dataset=dataset, video=video, label_ids=True)
        check_mask_size(header.size, size, dataset=dataset, video=video, path=path)
        check_label_ids(header.ids, object_ids, dataset=dataset, video=video, path=path, declared_in=declared_in)


def check_label_png(path: Path, what: str, *, dataset: str | None = None, video: str | None = None,
                    label_ids: bool = False) -> ImageHeader:
    """Check one label-map PNG (ground truth or prediction) from its header and end: readable, complete, a PNG,
    8-bit ``P``/``L`` (or 1-bit); with ``label_ids`` its label values are read too (that decodes the pixels).
    ``what`` names the file in errors ("annotation PNG", "mask PNG")."""
    header = _read_header(path, what, dataset=dataset, video=video, label_ids=label_ids)
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
