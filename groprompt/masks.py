"""Masks on disk: palette PNG label maps and pycocotools RLE.

Palette PNGs (DAVIS / Ref-YouTube-VOS) store one label per pixel: 0 background, object ids, 255 void. RLE is
pycocotools' compressed format with ``counts`` decoded to ``str`` so it can live in JSON.
"""

from __future__ import annotations

import warnings
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
    """Decode RLE (as written by :func:`encode_rle`) to an ``(H, W)`` boolean mask."""
    coded = {"size": list(rle["size"]), "counts": rle["counts"].encode("ascii")
             if isinstance(rle["counts"], str) else rle["counts"]}
    with warnings.catch_warnings():
        # pycocotools 2.0.x on numpy 2 warns about its own array construction; it is harmless and not ours to fix.
        warnings.simplefilter("ignore", DeprecationWarning)
        return coco_mask.decode(coded).astype(bool)
