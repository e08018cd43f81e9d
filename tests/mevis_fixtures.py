"""A writer of tiny datasets in the official MeViS layout, and the small video the MeViS tests share.

``<root>/<split>/JPEGImages/<video>/<frame>.jpg``, ``<split>/meta_expressions.json`` with ``obj_id`` and
``anno_id`` lists, and ``<split>/mask_dict.json`` of COCO compressed RLE (pycocotools' encoder, null where an
object is absent), as the release lays them out (groprompt/data/mevis.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from datasets_fixtures import frames_from_labels
from groprompt.masks import encode_rle

H, W, T = 12, 16, 4
"""Size and length of :func:`two_birds`."""


@dataclass
class MevisVideo:
    """One video for :func:`write_mevis`.

    Attributes:
        objects: MeViS ``obj_id`` (0-based) -> ``(T, H, W) bool`` masks.
        expressions: ``meta_expressions.json`` entries in order, e.g. ``{"exp": "the birds", "obj_id": [0, 1]}``;
            the writer adds each object's ``anno_id``; their exp ids are ``"0"``, ``"1"``, ...
        empty_rles: ``(obj_id, frame index)`` written as an RLE of an empty mask instead of null.
    """

    name: str
    objects: dict[int, np.ndarray]
    expressions: list[dict]
    empty_rles: set[tuple[int, int]] = field(default_factory=set)

    @property
    def num_frames(self) -> int:
        return len(next(iter(self.objects.values())))

    @property
    def frame_names(self) -> list[str]:
        return [f"{t:05d}" for t in range(self.num_frames)]


def anno_id(video_index: int, obj_id: int) -> int:
    """The ``anno_id`` :func:`write_mevis` gives object ``obj_id`` of its ``video_index``-th video."""
    return 1000 + 10 * video_index + obj_id


def write_mevis(root: Path, split: str, videos: Sequence[MevisVideo], *, with_masks: bool = True) -> Path:
    """Write one split in the MeViS layout; returns ``root``. Without masks (the ``valid`` split) no
    ``mask_dict.json`` is written and the expressions carry no ``obj_id`` / ``anno_id``."""
    root = Path(root)
    expression_videos, mask_dict = {}, {}
    for index, video in enumerate(videos):
        labels = np.zeros(next(iter(video.objects.values())).shape, dtype=np.uint8)
        for obj_id, masks in video.objects.items():
            labels[masks] = obj_id + 1
        for name, frame in zip(video.frame_names, frames_from_labels(labels), strict=True):
            path = root / split / "JPEGImages" / video.name / f"{name}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(frame).save(path, quality=95)
        for obj_id, masks in video.objects.items():
            mask_dict[str(anno_id(index, obj_id))] = [
                encode_rle(mask) if mask.any() or (obj_id, t) in video.empty_rles else None
                for t, mask in enumerate(masks)]
        expressions = {}
        for exp_id, expression in enumerate(video.expressions):
            entry = dict(expression)
            if with_masks:
                entry["anno_id"] = [anno_id(index, obj_id) for obj_id in entry["obj_id"]]
            else:
                entry.pop("obj_id", None)
            expressions[str(exp_id)] = entry
        expression_videos[video.name] = {"expressions": expressions, "frames": video.frame_names}
    _write_json(root / split / "meta_expressions.json", {"videos": expression_videos})
    if with_masks:
        _write_json(root / split / "mask_dict.json", mask_dict)
    return root


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def block(rows: slice, columns: slice) -> np.ndarray:
    mask = np.zeros((H, W), dtype=bool)
    mask[rows, columns] = True
    return mask


EMPTY = np.zeros((H, W), dtype=bool)


def two_birds() -> MevisVideo:
    """Four frames, 12 x 16, three objects:

    * ``obj_id`` 0 (label 1): a 4 x 4 block at rows 2-5, columns 1-4, in frames 0 and 1 only;
    * ``obj_id`` 1 (label 2): a 4 x 4 block at rows 2-5, columns 9-12, in frames 2 and 3 only;
    * ``obj_id`` 2 (label 3): a 2 x 6 bar at rows 8-9, columns 5-10, in every frame but 0, where its mask is an RLE
      that decodes to an empty mask.

    Expressions: ``0`` the bird on the left (obj 0), ``1`` the two birds taking turns (objs 0 and 1, never in the
    same frame), ``2`` the birds and the branch (objs 0, 1 and 2), ``3`` the branch (obj 2).
    """
    left, right, bar = block(slice(2, 6), slice(1, 5)), block(slice(2, 6), slice(9, 13)), block(slice(8, 10),
                                                                                                  slice(5, 11))
    return MevisVideo(
        name="birds",
        objects={0: np.stack([left, left, EMPTY, EMPTY]), 1: np.stack([EMPTY, EMPTY, right, right]),
                 2: np.stack([EMPTY, bar, bar, bar])},
        expressions=[{"exp": "the bird on the left", "obj_id": [0]},
                     {"exp": "the two birds taking turns", "obj_id": [0, 1]},
                     {"exp": "the birds and the branch", "obj_id": [0, 1, 2]},
                     {"exp": "the branch", "obj_id": [2]}],
        empty_rles={(2, 0)},
    )
