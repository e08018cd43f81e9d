"""Reader of the Ref-YouTube-VOS 2021 on-disk layout (docs/datasets.md), also used for Ref-DAVIS17 and SynRVOS.

Layout::

    <root>/<split>/JPEGImages/<video>/<frame>.jpg
    <root>/<split>/Annotations/<video>/<frame>.png    palette PNG: value = object id, 0 background, 255 void
    <root>/<split>/meta.json                          {"videos": {<video>: {"objects": {"<id>": {"frames": [...]}}}}}
    <root>/meta_expressions/<split>/meta_expressions.json
        {"videos": {<video>: {"expressions": {"<exp_id>": {"exp": str, "obj_id": "<id>"}}, "frames": [...]}}}

Decisions (the layout leaves them open):

* A split has ground truth exactly when ``<split>/Annotations`` exists (Ref-YouTube-VOS train, both Ref-DAVIS17
  splits, SynRVOS); then ``meta.json`` is required and declares each video's object ids. Ref-YouTube-VOS valid
  and test have no annotations (``Video.annotations`` is None) and their expressions carry no ``obj_id``
  (``Expression.obj_id`` is None there).
* Only frames that have a PNG are annotated. A frame that ``meta.json`` lists for an object must have its PNG.
* ``valid`` is the split the evaluation server scores (202 videos): the valid videos minus those listed in
  ``meta_expressions/test``, when that file exists (the 2021 release lists valid and test videos together).
* ``test``: frames from ``<root>/test/JPEGImages``, or from ``valid/JPEGImages`` where the release ships them.
* An expression entry may carry a ``kind`` key (SynRVOS writes one; the real data never has it); it becomes
  ``Expression.kind``. No other key is read, so the reader stays the real format's reader.
* A video with no expressions is kept (its frames and masks are still data) and a warning names it; it adds
  nothing to ``Dataset.expressions()``.
* Validation happens when loading (:mod:`groprompt.data.validation`), so before any model loads: JSON structure,
  every name that becomes part of a path (video names, frame names, expression ids must be plain names,
  :mod:`groprompt.safe_names`; all of a file's names are checked before any frame is read), every expression's
  sentence (not empty or blank, with a letter or digit), the header and end of every listed frame JPEG (readable,
  complete, every frame of a video the size of its first), every PNG that ``meta.json`` promises, and every
  annotation PNG's header, size and label ids (0, 255 void, or an object ``meta.json`` declares for the video).
  Reading the ids decodes the annotation PNGs once; a progress bar shows when loading takes more than two seconds.
  The files are checked for the whole split at once before its videos (``FileChecks``: in parallel, and each
  unchanged file once, remembered across opens by its path and status).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from groprompt.data.model import VOID_LABEL, Dataset, Expression, FrameAnnotation, Video
from groprompt.data.reading import expect, read_json, require
from groprompt.data.validation import (
    FileChecks,
    check_expression_text,
    check_frames,
    check_label_ids,
    check_label_maps,
    check_mask_size,
    split_scope,
)
from groprompt.errors import GroPromptError
from groprompt.masks import read_label_png
from groprompt.safe_names import check_name


class LabelMapSource:
    """Ground truth from one palette PNG per annotated frame (an :class:`~groprompt.data.model.AnnotationSource`).

    Args:
        pngs: frame index -> label PNG, for the annotated frames only.
        object_ids: the ids ``meta.json`` declares; any other non-zero, non-void label value is an error.
        size: ``(H, W)`` every label map must have.
    """

    def __init__(self, pngs: Mapping[int, Path], object_ids: tuple[int, ...], size: tuple[int, int], *,
                 dataset: str, video: str) -> None:
        self._pngs = dict(pngs)
        self._object_ids = frozenset(object_ids)
        self._size = size
        self._dataset = dataset
        self._video = video

    @property
    def pngs(self) -> Mapping[int, Path]:
        """Frame index -> the label PNG this source reads, for the annotated frames."""
        return self._pngs

    def annotated(self, frame_index: int) -> bool:
        return frame_index in self._pngs

    def read(self, frame_index: int) -> FrameAnnotation:
        """Masks ``{obj_id: (H, W) bool}`` of the objects present, and the void mask (label 255) if any."""
        path = self._pngs.get(frame_index)
        if path is None:
            raise GroPromptError("this frame has no annotation PNG", dataset=self._dataset, video=self._video,
                                 frame=frame_index, fix="read only frames for which annotated() is true")
        labels = read_label_png(path)  # checked when loading; checked again in case the file changed since
        where = {"dataset": self._dataset, "video": self._video, "path": path}
        check_mask_size(labels.shape, self._size, **where)
        values = [int(value) for value in np.unique(labels) if value not in (0, VOID_LABEL)]
        check_label_ids(values, self._object_ids, **where)
        void = labels == VOID_LABEL
        return FrameAnnotation(masks={value: labels == value for value in values}, void=void if void.any() else None)


@dataclass(frozen=True)
class _GroundTruth:
    """An annotated split's ``Annotations/`` folder and its ``meta.json``: video -> {obj_id: listed frames}."""

    annotations_dir: Path
    meta_file: Path
    objects: Mapping[str, Mapping[int, tuple[str, ...]]]


@dataclass(frozen=True)
class _Split:
    """Where one split's files are; ``truth`` is None for a split without ground truth."""

    dataset: str
    name: str
    expressions_file: Path
    frames_dir: Path
    truth: _GroundTruth | None


def load_refytvos(root: str | Path, split: str, *, dataset_name: str = "refytvos") -> Dataset:
    """Read one split of a dataset in the Ref-YouTube-VOS layout (see the module docstring for the rules).

    Args:
        root: the folder holding ``meta_expressions/`` and the split folders.
        split: ``train``, ``valid``, ``test``, or any split that ``meta_expressions/`` has (SynRVOS: ``pretrain``).
        dataset_name: the name the videos and errors carry.
    """
    root = Path(root)
    expressions_file = root / "meta_expressions" / split / "meta_expressions.json"
    if not expressions_file.exists():
        listing = root / "meta_expressions"
        known = sorted(p.name for p in listing.iterdir() if p.is_dir()) if listing.is_dir() else []
        raise GroPromptError(
            f"no expressions file for split {split!r} (splits found: {', '.join(known) or 'none'})",
            dataset=dataset_name, path=expressions_file,
            fix="check the dataset root and the split name; the root must contain meta_expressions/<split>/",
        )
    entries = read_video_entries(expressions_file, dataset_name)
    if split == "valid":
        entries = _without_test_videos(root, entries, dataset_name)
    annotations_dir = root / split / "Annotations"
    truth = None
    if annotations_dir.is_dir():
        meta_file = root / split / "meta.json"
        truth = _GroundTruth(annotations_dir, meta_file, _read_objects(meta_file, dataset_name))
    layout = _Split(dataset_name, split, expressions_file, _frames_dir(root, split, dataset_name), truth)
    checks = FileChecks(split_scope(root, split), description=f"checking {dataset_name} {split} files")
    checks.prefetch(_split_files(layout, entries))
    progress = tqdm(sorted(entries), desc=f"checking {dataset_name} {split}", unit="video", leave=False, delay=2)
    videos = tuple(_load_video(layout, name, entries[name], checks) for name in progress)
    return Dataset(name=dataset_name, split=split, root=root, videos=videos,
                   expressions_file=expressions_file)


def read_video_entries(path: Path, dataset: str) -> dict:
    """The ``videos`` mapping of a ``meta_expressions.json`` or ``meta.json`` file, checked to be a mapping whose
    names (videos, and their frames and expression ids where the file lists them) are plain names
    (:func:`~groprompt.safe_names.check_name`): all of the file's names, before any of its videos is read."""
    data = read_json(path, dataset=dataset)
    expect(isinstance(data, dict) and isinstance(data.get("videos"), dict),
           'expected a JSON object with a "videos" object', path=path, dataset=dataset)
    for video, entry in data["videos"].items():
        check_name(video, "video name", path=path, dataset=dataset)
        if not isinstance(entry, dict):
            continue  # the entry's structure is checked where it is read
        frames, expressions = entry.get("frames"), entry.get("expressions")
        for frame in frames if isinstance(frames, list) else ():
            check_name(str(frame), "frame name", path=path, dataset=dataset, video=video)
        for exp_id in expressions if isinstance(expressions, dict) else ():
            check_name(str(exp_id), "expression id", path=path, dataset=dataset, video=video)
    return data["videos"]


def _without_test_videos(root: Path, entries: dict, dataset: str) -> dict:
    """The server's valid split: valid videos minus the test videos, when the test expressions are present."""
    test_file = root / "meta_expressions" / "test" / "meta_expressions.json"
    if not test_file.exists():
        return entries
    test_videos = set(read_video_entries(test_file, dataset))
    return {name: entry for name, entry in entries.items() if name not in test_videos}


def _frames_dir(root: Path, split: str, dataset: str) -> Path:
    frames_dir = root / split / "JPEGImages"
    if split == "test" and not frames_dir.is_dir():
        frames_dir = root / "valid" / "JPEGImages"  # the 2021 release ships the test videos' frames in valid
    return require(frames_dir, f"frame folder of split {split!r}", dataset=dataset)


def _read_objects(meta_file: Path, dataset: str) -> dict[str, dict[int, tuple[str, ...]]]:
    """``meta.json`` as ``video -> {obj_id: frames the object is annotated in}`` (empty tuple where not listed)."""
    require(meta_file, "meta.json (object ids of an annotated split)", dataset=dataset,
            fix="an annotated split needs <split>/meta.json declaring each video's objects")
    objects = {}
    for video, entry in read_video_entries(meta_file, dataset).items():
        expect(isinstance(entry, dict) and isinstance(entry.get("objects"), dict),
               'expected an "objects" object', path=meta_file, dataset=dataset, video=video)
        declared = {}
        for obj_id, info in entry["objects"].items():
            expect(str(obj_id).isdigit() and 0 < int(obj_id) < VOID_LABEL,
                   f"object id {obj_id!r} is not an integer in 1..254", path=meta_file, dataset=dataset, video=video)
            frames = info.get("frames", []) if isinstance(info, dict) else None
            expect(isinstance(frames, list), f'object {obj_id}: expected an object with an optional "frames" list',
                   path=meta_file, dataset=dataset, video=video)
            declared[int(obj_id)] = tuple(str(frame) for frame in frames)
        objects[video] = declared
    return objects


def _split_files(layout: _Split, entries: Mapping[str, object]) -> list[tuple[str, bool]]:
    """Every listed frame JPEG and every annotation PNG of those frames that exists, as ``(path, label_ids)`` for
    :meth:`FileChecks.prefetch`, spelled as :func:`_load_video` spells them. A malformed entry or a missing folder
    is passed over here: loading its video raises the error."""
    files: list[tuple[str, bool]] = []
    frames_dir = str(layout.frames_dir)
    png_root = str(layout.truth.annotations_dir) if layout.truth is not None else None
    for name in sorted(entries):
        entry = entries[name]
        frames = entry.get("frames") if isinstance(entry, dict) else None
        if not isinstance(frames, list):
            continue
        frames = [str(frame) for frame in frames]
        files += [(f"{frames_dir}{os.sep}{name}{os.sep}{frame}.jpg", False) for frame in frames]
        png_dir = f"{png_root}{os.sep}{name}" if png_root is not None else None
        if png_dir is not None and os.path.isdir(png_dir):
            on_disk = set(os.listdir(png_dir))
            files += [(f"{png_dir}{os.sep}{frame}.png", True) for frame in frames if f"{frame}.png" in on_disk]
    return files


def _load_video(layout: _Split, name: str, entry: object, checks: FileChecks) -> Video:
    dataset, source = layout.dataset, layout.expressions_file
    frame_names, frame_paths, size = read_video_frames(entry, layout.frames_dir, name, dataset=dataset,
                                                       source=source, checks=checks)
    expressions = _video_expressions(entry["expressions"], name, source, dataset, layout.truth is not None)
    if layout.truth is None:
        object_ids = tuple(sorted({e.obj_id for e in expressions if e.obj_id is not None}))
        annotations = None
    else:
        objects = _declared_objects(layout.truth, layout, name, expressions)
        object_ids = tuple(sorted(objects))
        annotations = _label_maps(layout.truth, dataset, name, frame_names, objects, size, checks)
    if not expressions:
        warnings.warn(f"{dataset} {layout.name}: video {name} has no expressions in {source}; it is kept for its "
                      "frames and masks but has no expression to evaluate", stacklevel=3)
    return Video(dataset=dataset, split=layout.name, name=name, frame_names=frame_names, frame_paths=frame_paths,
                 size=size, object_ids=object_ids, expressions=expressions, annotations=annotations)


def read_video_frames(entry: object, frames_dir: Path, name: str, *, dataset: str, source: Path,
                      checks: FileChecks) -> tuple[tuple[str, ...], tuple[Path, ...], tuple[int, int]]:
    """The frames of video ``name``'s ``meta_expressions.json`` entry (``source``), checked: the entry an object
    with a ``"frames"`` list and an ``"expressions"`` object, some frames, none twice, each a JPEG in
    ``frames_dir/<name>/`` whose header and end pass (``checks``), one size. Returns the frame names, their paths
    and the video's ``(H, W)``. Shared by the readers of layouts that list frames so (this one and MeViS)."""
    expect(isinstance(entry, dict) and isinstance(entry.get("frames"), list)
           and isinstance(entry.get("expressions"), dict),
           'expected an object with a "frames" list and an "expressions" object', path=source, dataset=dataset,
           video=name)
    frame_names = tuple(str(frame) for frame in entry["frames"])
    if not frame_names:
        raise GroPromptError("video lists no frames", dataset=dataset, video=name, path=source,
                             fix="restore the video's frame list, or remove the video from this file")
    expect(len(set(frame_names)) == len(frame_names), "a frame is listed twice", path=source, dataset=dataset,
           video=name)
    video_dir = require(frames_dir / name, "frame folder of this video", dataset=dataset, video=name)
    on_disk = set(os.listdir(video_dir))
    for frame in frame_names:
        if f"{frame}.jpg" not in on_disk:
            raise GroPromptError("listed frame is missing", dataset=dataset, video=name, frame=frame,
                                 path=video_dir / f"{frame}.jpg", fix="re-extract the dataset's frames")
    frame_paths = tuple(video_dir / f"{frame}.jpg" for frame in frame_names)
    return frame_names, frame_paths, check_frames(frame_paths, dataset=dataset, video=name, checks=checks)


def _declared_objects(truth: _GroundTruth, layout: _Split, name: str,
                      expressions: tuple[Expression, ...]) -> Mapping[int, tuple[str, ...]]:
    """The video's objects from meta.json; every expression must refer to one of them."""
    if name not in truth.objects:
        raise GroPromptError("video is missing from meta.json", dataset=layout.dataset, video=name,
                             path=truth.meta_file, fix="declare the video's objects in meta.json")
    objects = truth.objects[name]
    for expression in expressions:
        if expression.obj_id not in objects:
            raise GroPromptError(
                f"expression refers to object {expression.obj_id}, which meta.json does not declare "
                f"(declared: {sorted(objects)})", dataset=layout.dataset, video=name,
                expression=expression.exp_id, path=layout.expressions_file,
                fix="fix the expression's obj_id, or declare the object in meta.json",
            )
    return objects


def _label_maps(truth: _GroundTruth, dataset: str, name: str, frame_names: tuple[str, ...],
                objects: Mapping[int, tuple[str, ...]], size: tuple[int, int], checks: FileChecks) -> LabelMapSource:
    """The annotated frames of a video, each PNG checked; every frame that meta.json lists for an object must have
    its PNG."""
    png_dir = truth.annotations_dir / name
    require(png_dir, "annotation folder of this video", dataset=dataset, video=name)
    on_disk = set(os.listdir(png_dir))
    listed = set(frame_names)
    for obj_id, frames in objects.items():
        for frame in frames:
            if frame in listed and f"{frame}.png" not in on_disk:
                raise GroPromptError(f"annotation PNG of a frame where meta.json says object {obj_id} is present "
                                     "is missing", dataset=dataset, video=name, frame=frame,
                                     path=png_dir / f"{frame}.png", fix="re-extract the dataset's annotations")
    pngs = {index: png_dir / f"{frame}.png" for index, frame in enumerate(frame_names) if f"{frame}.png" in on_disk}
    check_label_maps(pngs.values(), size, objects, dataset=dataset, video=name, declared_in=truth.meta_file,
                     checks=checks)
    return LabelMapSource(pngs, tuple(objects), size, dataset=dataset, video=name)


def read_meta_expressions(path: str | Path, *, dataset: str, with_truth: bool) -> dict[str, tuple[Expression, ...]]:
    """video -> its expressions, from a ``meta_expressions.json`` alone (no frames or masks are read), checked as
    :func:`load_refytvos` checks them; ``with_truth``: the split has ground truth, so every entry needs its
    ``obj_id``. Used where only the expressions matter (``groprompt evaluate --expressions``)."""
    path = Path(path)
    result = {}
    for video, entry in read_video_entries(path, dataset).items():
        expect(isinstance(entry, dict) and isinstance(entry.get("expressions"), dict),
               'expected an object with an "expressions" object', path=path, dataset=dataset, video=video)
        result[str(video)] = _video_expressions(entry["expressions"], str(video), path, dataset, with_truth)
    return result


def _video_expressions(entries: Mapping, video: str, path: Path, dataset: str,
                       with_truth: bool) -> tuple[Expression, ...]:
    return tuple(_expression(path, dataset, with_truth, video, str(exp_id), raw) for exp_id, raw in entries.items())


def _expression(path: Path, dataset: str, with_truth: bool, video: str, exp_id: str, raw: object) -> Expression:
    """One ``meta_expressions.json`` entry; ``obj_id`` may be absent only on splits without ground truth."""
    where = {"path": path, "dataset": dataset, "video": video, "expression": exp_id}
    expect(isinstance(raw, dict) and isinstance(raw.get("exp"), str), 'expected an object with an "exp" string',
           **where)
    check_expression_text(raw["exp"], **where)
    obj_id = raw.get("obj_id")
    if obj_id is None:
        expect(not with_truth, 'expression has no "obj_id" on a split with ground truth', **where)
    else:
        expect(str(obj_id).isdigit(), f"obj_id {obj_id!r} is not a non-negative integer", **where)
        obj_id = int(obj_id)
    kind = raw.get("kind")
    expect(kind is None or isinstance(kind, str), f"kind {kind!r} is not a string", **where)
    return Expression(exp_id=exp_id, text=raw["exp"], obj_id=obj_id, kind=kind)
