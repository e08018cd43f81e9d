"""Masks on disk: palette PNG label maps and pycocotools RLE.

Palette PNGs (DAVIS / Ref-YouTube-VOS) store one label per pixel: 0 background, object ids, 255 void. RLE is
COCO's compressed format (pycocotools encodes it; :func:`decode_rle` decodes and checks it) with ``counts``
decoded to ``str`` so it can live in JSON.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as coco_mask

from groprompt.errors import GroPromptError
from groprompt.files import atomic_path

DAVIS_PALETTE = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128, 128, 0, 128, 0, 128, 128, 128, 128, 128]
"""The first colours of the DAVIS palette (the rest default to grey levels); only the indices carry meaning."""


def _palette() -> list[int]:
    palette = list(DAVIS_PALETTE)
    palette += [value for index in range(len(palette) // 3, 256) for value in (index, index, index)]
    return palette


def read_label_png(path: str | Path) -> np.ndarray:
    """Read a palette (or grey-level) PNG as an ``(H, W) uint8`` label map; a named error if unreadable.

    An RGB PNG is refused: its colours are not labels, and guessing a mapping would corrupt the ground truth.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            if image.mode in ("P", "L"):
                return np.array(image, dtype=np.uint8)
            if image.mode == "1":
                return np.array(image, dtype=np.uint8)
            mode = image.mode
    except FileNotFoundError:
        raise GroPromptError("mask file is missing", path=path, fix="check the folder is complete") from None
    except OSError as error:
        raise GroPromptError(f"mask file cannot be read ({error})", path=path,
                             fix="rewrite this PNG; it is truncated or not a PNG") from None
    raise GroPromptError(
        f"mask PNG has mode {mode}; expected a palette (P) or grey-level (L) image whose values are object ids",
        path=path,
        fix="save masks as palette PNGs (value = object id, 0 = background)",
    )


def write_label_png(path: str | Path, labels: np.ndarray) -> None:
    """Write an ``(H, W)`` integer label map (values 0..255) as a palette PNG, atomically."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"label map must be 2-D, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError("label values must lie in 0..255")
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette(_palette())
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def encode_rle(mask: np.ndarray) -> dict:
    """Encode an ``(H, W)`` boolean mask as pycocotools RLE: ``{"size": [H, W], "counts": str}``."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: dict) -> np.ndarray:
    """Decode COCO compressed RLE ``{"size": [H, W], "counts": str or bytes}`` to an ``(H, W)`` boolean mask.

    The format (pycocotools ``maskApi.c``, ``rleFrString``): the mask is read in column-major order as runs of
    alternately 0 and 1, starting with 0 (a mask that starts with 1 has a first run of 0). Each run is written in
    groups of 5 bits, low bits first, one character per group, ``chr(48 + group)``, with ``0x20`` set on every
    group but the last and ``0x10`` of the last the sign; from the fourth run on, the value stored is the difference
    from the run two before.

    Decoded here, in numpy, rather than by pycocotools, because this checks what pycocotools does not: a counts
    string that is empty or too short for ``H * W`` pixels decodes there to uninitialised memory, silently.

    Raises:
        ValueError: a malformed RLE (:func:`rle_runs`).
    """
    (height, width), runs = rle_runs(rle)
    values = np.arange(runs.size, dtype=np.uint8) & 1
    return np.repeat(values, runs).astype(bool).reshape(width, height).T


def rle_runs(rle: dict) -> tuple[tuple[int, int], np.ndarray]:
    """The ``(H, W)`` and the run lengths of a COCO compressed RLE (format: :func:`decode_rle`), checked without
    building the mask.

    Raises:
        ValueError: a malformed size or counts (a character outside ``'0'..'o'``, a truncated last run, a negative
            run, runs that do not add up to ``H * W``), saying which.
    """
    size, counts = rle.get("size"), rle.get("counts")
    if not (isinstance(size, (list, tuple)) and len(size) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in size)):
        raise ValueError(f"RLE size {size!r} is not [height, width]")
    height, width = size
    if isinstance(counts, str):
        if not counts.isascii():
            raise ValueError("RLE counts hold a character outside '0'..'o'")
        counts = counts.encode("ascii")
    if not isinstance(counts, bytes):
        raise ValueError(f"RLE counts are a {type(counts).__name__}, not a compressed string (uncompressed RLE, "
                         "a list of runs, is not read)")
    runs = _runs(np.frombuffer(counts, dtype=np.uint8).astype(np.int64) - 48)
    if runs.sum() != height * width:
        raise ValueError(f"RLE runs cover {int(runs.sum())} pixels, not height x width = {height * width}")
    return (height, width), runs


def _runs(codes: np.ndarray) -> np.ndarray:
    """The run lengths of a compressed counts string given as ``character - 48`` codes (:func:`decode_rle`)."""
    if codes.size == 0 or codes.min() < 0 or codes.max() > 63:
        raise ValueError("RLE counts are empty" if codes.size == 0 else
                         "RLE counts hold a character outside '0'..'o'")
    last = (codes & 0x20) == 0  # the last group of each run
    if not last[-1]:
        raise ValueError("RLE counts end inside a run (truncated)")
    starts = np.flatnonzero(np.concatenate(([True], last[:-1])))
    position = np.arange(codes.size) - np.repeat(starts, np.diff(np.append(starts, codes.size)))
    values = np.add.reduceat((codes & 0x1F) << (5 * position), starts)
    groups = np.diff(np.append(starts, codes.size))
    values -= np.where(codes[last] & 0x10, 1 << (5 * groups), 0)  # the sign bit of the last group
    runs = values.copy()  # from the fourth run on, each is stored as its difference from the run two before
    runs[1::2] = np.cumsum(values[1::2])
    runs[2::2] = np.cumsum(values[2::2])
    if (runs < 0).any():
        raise ValueError("RLE counts give a negative run")
    return runs
