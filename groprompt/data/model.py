"""The one data model every reader produces and every consumer (training, inference, metrics) reads.

A :class:`Video` holds frame paths, its objects and its referring :class:`Expression` s. Ground truth is read
lazily through an :class:`AnnotationSource`, one frame at a time. Training code receives a :class:`BoxOnlyVideo`
instead: the tight boxes of the objects, computed once, and no way to reach a mask — the paper's weak supervision
(boxes only), enforced by construction.

Conventions: frame arrays are ``(H, W, 3) uint8`` RGB; masks are ``(H, W) bool``; boxes are ``(x0, y0, x1, y1)``
float pixels with ``x1``/``y1`` exclusive (a one-pixel object at column 3 has ``x0 = 3, x1 = 4``), ``nan`` rows
where the object is absent from the frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from groprompt.errors import GroPromptError

VOID_LABEL = 255
"""Label-map value of pixels excluded from evaluation (DAVIS convention)."""


@dataclass(frozen=True)
class Expression:
    """One referring expression of a video.

    Attributes:
        exp_id: the expression's id in its dataset (a string, as in ``meta_expressions.json``).
        text: the sentence as the dataset gives it.
        obj_id: the id of the object it refers to (the label value in palette annotations); None where the
            dataset withholds it (Ref-YouTube-VOS valid and test).
        kind: the expression's kind where the dataset has one (SynRVOS: ``appearance``, ``location``, ``motion``).
        expression_set: for Ref-DAVIS17, which of the four sets (annotator x first-frame/full-video) it belongs to.
        obj_ids: every object the expression refers to, where it refers to several (MeViS); None: just ``obj_id``.
            With several referents ``obj_id`` is None, so that code written for one object cannot silently take
            one of them; with one, ``obj_id`` is set and ``obj_ids`` is None or ``(obj_id,)``.
    """

    exp_id: str
    text: str
    obj_id: int | None
    kind: str | None = None
    expression_set: int | None = None
    obj_ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.obj_ids is None:
            return
        problem = None
        if not self.obj_ids:
            problem = "obj_ids is empty"
        elif len(set(self.obj_ids)) != len(self.obj_ids):
            problem = f"obj_ids {self.obj_ids} repeats an object"
        elif len(self.obj_ids) > 1 and self.obj_id is not None:
            problem = f"obj_id {self.obj_id} is set beside several obj_ids {self.obj_ids}"
        elif len(self.obj_ids) == 1 and self.obj_id != self.obj_ids[0]:
            problem = f"obj_ids {self.obj_ids} names one object but obj_id is {self.obj_id}"
        if problem is not None:
            raise GroPromptError(problem, expression=self.exp_id,
                                 fix="give one referent as obj_id (obj_ids None or the same one), several as obj_ids "
                                     "with obj_id None")

    @property
    def referents(self) -> tuple[int, ...]:
        """Every object the expression refers to: ``obj_ids``, else ``(obj_id,)``, else ``()`` (withheld)."""
        if self.obj_ids is not None:
            return self.obj_ids
        return (self.obj_id,) if self.obj_id is not None else ()


@dataclass(frozen=True)
class FrameAnnotation:
    """Ground truth of one frame: a boolean mask per object present, and optionally a void mask.

    Objects absent from the frame are absent from ``masks``.
    """

    masks: Mapping[int, np.ndarray]
    void: np.ndarray | None = None

    def mask(self, obj_id: int, shape: tuple[int, int]) -> np.ndarray:
        """The object's mask, or an all-False mask of ``shape`` where it is absent."""
        found = self.masks.get(obj_id)
        return found if found is not None else np.zeros(shape, dtype=bool)

    def box(self, obj_id: int) -> np.ndarray | None:
        """The tight box (xyxy pixels, exclusive ends) of the object's mask; None where it is absent or empty."""
        mask = self.masks.get(obj_id)
        if mask is None or not mask.any():
            return None
        return tight_box(mask)

    def union_mask(self, obj_ids: tuple[int, ...], shape: tuple[int, int]) -> np.ndarray:
        """``(H, W) bool``: pixels of any of ``obj_ids`` (an expression's referents); all False where none is present."""
        union = np.zeros(shape, dtype=bool)
        for obj_id in obj_ids:
            found = self.masks.get(obj_id)
            if found is not None:
                union |= found
        return union

    def union_box(self, obj_ids: tuple[int, ...], shape: tuple[int, int]) -> np.ndarray | None:
        """The tight box (xyxy pixels, exclusive ends) of :meth:`union_mask`; None where it is empty."""
        union = self.union_mask(obj_ids, shape)
        return tight_box(union) if union.any() else None


class AnnotationSource(Protocol):
    """Reads ground truth lazily. Readers implement it; nothing else touches annotation files."""

    def annotated(self, frame_index: int) -> bool:
        """Whether this frame has ground truth (sparse datasets such as A2D annotate a few frames)."""
        ...

    def read(self, frame_index: int) -> FrameAnnotation:
        """The frame's ground truth; raises :class:`GroPromptError` naming the file if it cannot be read."""
        ...


def tight_box(mask: np.ndarray) -> np.ndarray:
    """The tight box of a boolean mask as ``(x0, y0, x1, y1)`` float pixels (exclusive ends); nan if empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return np.full(4, np.nan)
    cols = np.flatnonzero(mask.any(axis=0))
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=float)


@dataclass(frozen=True)
class BoxOnlyVideo:
    """What box-supervised training may see of a video: frames, expressions and per-object tight boxes.

    It holds no annotation source, so code given a ``BoxOnlyVideo`` cannot read a mask.

    Attributes:
        boxes: ``obj_id -> (T, 4)`` float array, xyxy pixels, nan rows where the object is absent.
        annotated: ``(T,)`` bool, frames that have box ground truth at all.
    """

    dataset: str
    split: str
    name: str
    frame_paths: tuple[Path, ...]
    size: tuple[int, int]
    expressions: tuple[Expression, ...]
    boxes: Mapping[int, np.ndarray]
    annotated: np.ndarray
    frame_reader: object | None = field(default=None, repr=False, compare=False)

    @property
    def num_frames(self) -> int:
        return len(self.frame_paths)

    def read_frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as ``(H, W, 3) uint8`` RGB."""
        if self.frame_reader is not None:
            return self.frame_reader(index)
        return read_rgb(self.frame_paths[index], dataset=self.dataset, video=self.name)

    def present(self, obj_id: int) -> np.ndarray:
        """``(T,)`` bool: frames where the object is present (has a box)."""
        return ~np.isnan(self.boxes[obj_id][:, 0])

    def union_boxes(self, obj_ids: tuple[int, ...]) -> np.ndarray:
        """``(T, 4)`` float: per frame, the tight box of the union of ``obj_ids``' masks (an expression's
        referents), nan rows where none is present. The box of a union is the hull of its parts' tight boxes, so it
        is exact without masks."""
        stacked = np.stack([self.boxes[obj_id] for obj_id in obj_ids])
        union = np.full((self.num_frames, 4), np.nan)
        present = ~np.isnan(stacked[:, :, 0]).all(axis=0)
        union[present, :2] = np.nanmin(stacked[:, present, :2], axis=0)
        union[present, 2:] = np.nanmax(stacked[:, present, 2:], axis=0)
        return union


@dataclass(frozen=True)
class Video:
    """A video of a dataset split with its objects, expressions and (optionally) lazily read ground truth.

    Attributes:
        dataset, split, name: where it comes from.
        frame_names: frame identifiers in temporal order (file stems for image datasets).
        frame_paths: one image file per frame, or, for datasets stored as video files, the container path repeated
            (readers of such datasets override :meth:`read_frame` through ``frame_reader``).
        size: ``(H, W)``.
        object_ids: ids of the annotated objects.
        expressions: the referring expressions, in dataset order.
        annotations: ground-truth source, or None for splits without public ground truth.
    """

    dataset: str
    split: str
    name: str
    frame_names: tuple[str, ...]
    frame_paths: tuple[Path, ...]
    size: tuple[int, int]
    object_ids: tuple[int, ...]
    expressions: tuple[Expression, ...]
    annotations: AnnotationSource | None = field(default=None, repr=False, compare=False)
    frame_reader: object | None = field(default=None, repr=False, compare=False)

    @property
    def num_frames(self) -> int:
        return len(self.frame_names)

    @property
    def has_annotations(self) -> bool:
        return self.annotations is not None

    def read_frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as ``(H, W, 3) uint8`` RGB."""
        if self.frame_reader is not None:
            return self.frame_reader(index)
        return read_rgb(self.frame_paths[index], dataset=self.dataset, video=self.name)

    def annotation(self, index: int) -> FrameAnnotation:
        """Ground truth of frame ``index``; a clear error on a split without ground truth."""
        if self.annotations is None:
            raise GroPromptError(
                "this split has no ground truth",
                dataset=self.dataset,
                video=self.name,
                fix="evaluate on a split with annotations (e.g. train, or Ref-DAVIS17 valid), or write a submission",
            )
        return self.annotations.read(index)

    def annotated_frames(self) -> np.ndarray:
        """``(T,)`` bool: frames with ground truth."""
        if self.annotations is None:
            return np.zeros(self.num_frames, dtype=bool)
        return np.array([self.annotations.annotated(i) for i in range(self.num_frames)], dtype=bool)

    def boxes(self) -> dict[int, np.ndarray]:
        """``obj_id -> (T, 4)`` tight boxes of every object (reads every annotated frame once)."""
        boxes = {obj: np.full((self.num_frames, 4), np.nan) for obj in self.object_ids}
        for index in np.flatnonzero(self.annotated_frames()):
            annotation = self.annotation(int(index))
            for obj, mask in annotation.masks.items():
                if obj in boxes:
                    boxes[obj][index] = tight_box(mask)
        return boxes

    def box_only(self) -> BoxOnlyVideo:
        """The weak-supervision view: boxes computed here, masks unreachable from the result."""
        return BoxOnlyVideo(
            dataset=self.dataset,
            split=self.split,
            name=self.name,
            frame_paths=self.frame_paths,
            size=self.size,
            expressions=self.expressions,
            boxes=self.boxes(),
            annotated=self.annotated_frames(),
            frame_reader=self.frame_reader,
        )


def read_rgb(path: Path, *, dataset: str | None = None, video: str | None = None) -> np.ndarray:
    """Read an image file as ``(H, W, 3) uint8`` RGB, with a named error if it is missing or unreadable."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except FileNotFoundError:
        raise GroPromptError("frame file is missing", dataset=dataset, video=video, path=path,
                             fix="check the dataset folder is complete") from None
    except OSError as error:
        raise GroPromptError(f"frame file cannot be read ({error})", dataset=dataset, video=video, path=path,
                             fix="re-extract or re-download this frame") from None


@dataclass(frozen=True)
class Dataset:
    """The videos of one split of one dataset, in a stable order (sorted by video name unless the dataset fixes one).

    ``expressions_file`` is the file the reader read the expressions from, which messages about an expression name
    (Ref-YouTube-VOS: ``meta_expressions/<split>/meta_expressions.json``, MeViS: ``<split>/meta_expressions.json``);
    None for a reader that does not say.
    """

    name: str
    split: str
    root: Path
    videos: tuple[Video, ...]
    expressions_file: Path | None = None

    def __len__(self) -> int:
        return len(self.videos)

    def __iter__(self):
        return iter(self.videos)

    def video(self, name: str) -> Video:
        """The video called ``name``; a clear error listing a few valid names if there is none."""
        for video in self.videos:
            if video.name == name:
                return video
        known = ", ".join(v.name for v in self.videos[:5])
        raise GroPromptError(
            f"no video called {name!r} in this split (it has {len(self.videos)}: {known}, ...)",
            dataset=self.name,
            path=self.root,
            fix="check the video name and the split",
        )

    def expressions(self) -> list[tuple[Video, Expression]]:
        """Every (video, expression) pair of the split, in order."""
        return [(video, expression) for video in self.videos for expression in video.expressions]
