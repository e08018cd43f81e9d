"""Reader of MeViS (Ding et al., ICCV 2023: motion expressions, one of which may refer to several objects).

Layout (the official release, github.com/henghuiding/MeViS)::

    <root>/<split>/JPEGImages/<video>/<frame>.jpg      split: train, valid_u, valid
    <root>/<split>/meta_expressions.json
        {"videos": {<video>: {"expressions": {"<exp_id>": {"exp": str, "obj_id": [int, ...],
                                                             "anno_id": [int, ...]}}, "frames": [...]}}}
    <root>/<split>/mask_dict.json                       train and valid_u only
        {"<anno_id>": [COCO RLE {"size": [H, W], "counts": str} or null, one per frame of the video]}

Decisions (the layout leaves them open):

* **Objects.** An expression's ``obj_id`` and ``anno_id`` lists are aligned: ``obj_id`` numbers a video's objects
  from 0, ``anno_id`` names the object's mask track in ``mask_dict.json``. The object's label (the key of
  ``FrameAnnotation.masks``, ``Expression.obj_id`` / ``obj_ids``, the value in written label maps) is
  ``obj_id + 1``, since label 0 is the background; so ``obj_id`` is at most 253. Within a video each ``obj_id`` has
  one ``anno_id`` and each ``anno_id`` one ``obj_id``, in every expression. An expression with one object has
  ``Expression.obj_id`` set; one with several has ``obj_ids`` (and ``obj_id`` None). The video's objects are those
  its expressions refer to.
* **Ground truth.** A split has ground truth exactly when ``mask_dict.json`` is there; ``train`` and ``valid_u``
  must have it. Every frame is annotated: a null entry, or an RLE that decodes to an empty mask, is an object
  absent from the frame. ``valid`` has none (the benchmark's server scores it): its expressions carry no object,
  and any ``obj_id`` or ``anno_id`` there is not read.
* An expression may carry a ``kind`` key (SynRVOS written in this layout does; the real data never has it).
* **Not read**: an expression that refers to no object (``obj_id: []``, MeViS v2's no-target expressions).
* **Checked when the split opens**, each defect one error naming the file and the entry: the JSON structure; every
  name that becomes part of a path (video names, frame names, expression ids: plain names,
  :mod:`groprompt.safe_names`, all of a file's names before any frame is read); every sentence (a letter or digit);
  every listed frame JPEG's header and end, one size per video (:class:`~groprompt.data.validation.FileChecks`,
  remembered for unchanged files); the ids as above; for every object an expression refers to, its track in
  ``mask_dict.json``: one entry per frame, each null or an RLE of the frames' size whose counts cover it exactly
  (:func:`~groprompt.masks.rle_runs`), and some frame not null. Checking the counts of a whole ``mask_dict.json``
  takes seconds (MeViS train holds about 600,000 RLEs), so when they pass it is remembered by the status of both
  JSON files (:mod:`groprompt.file_memo`, in the folder of the frame checks' memo, and, as theirs, only from
  :data:`~groprompt.data.validation.MEMO_MIN_FILES` RLEs on): an unchanged split checks only the sizes. Masks are decoded when a frame's ground truth is read (:class:`MaskDictSource`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from groprompt.data.model import VOID_LABEL, Dataset, Expression, FrameAnnotation, Video
from groprompt.data.reading import expect, read_json, require
from groprompt.data.refytvos import read_video_entries, read_video_frames
from groprompt.data.validation import (
    MEMO_MIN_FILES,
    FileChecks,
    check_expression_text,
    memo_folder,
    split_scope,
)
from groprompt.errors import GroPromptError
from groprompt.file_memo import FileMemo, recall, stamp
from groprompt.masks import decode_rle, rle_runs

SPLITS_WITH_TRUTH = ("train", "valid_u")
"""Splits whose ``mask_dict.json`` the release ships (``valid`` is scored by the benchmark's server)."""

MAX_OBJ_ID = VOID_LABEL - 2
"""The largest ``obj_id`` read: its label ``obj_id + 1`` must be an object label (1..254)."""

_MEMO_KIND = "mevis-rle-counts/1"
"""The memo entries' kind (:func:`_counts_checked`): a change of what the counts check checks must change it."""


class MaskDictSource:
    """Ground truth from the RLE tracks of ``mask_dict.json`` (an :class:`~groprompt.data.model.AnnotationSource`),
    decoded frame by frame when read.

    Args:
        tracks: label -> the object's RLE (or None) per frame, checked when the split opened.
        anno_ids: label -> its ``anno_id``, named in errors.
        frame_names: the video's frames, named in errors.
    """

    def __init__(self, tracks: Mapping[int, Sequence[dict | None]], anno_ids: Mapping[int, str],
                 frame_names: Sequence[str], *, dataset: str, video: str, path: Path) -> None:
        self._tracks = dict(tracks)
        self._anno_ids = dict(anno_ids)
        self._frame_names = tuple(frame_names)
        self._dataset, self._video, self._path = dataset, video, path

    def annotated(self, frame_index: int) -> bool:
        return 0 <= frame_index < len(self._frame_names)

    def read(self, frame_index: int) -> FrameAnnotation:
        """Masks ``{label: (H, W) bool}`` of the objects present in the frame (a non-empty mask); no void."""
        if not self.annotated(frame_index):
            raise GroPromptError(f"frame index {frame_index} is outside the video", dataset=self._dataset,
                                 video=self._video, fix="read only frames for which annotated() is true")
        masks = {}
        for label, track in self._tracks.items():
            rle = track[frame_index]
            if rle is None:
                continue
            try:
                mask = decode_rle(rle)
            except ValueError as error:  # checked when the split opened: the file changed since
                raise GroPromptError(f"the mask of anno_id {self._anno_ids[label]} cannot be decoded ({error})",
                                     dataset=self._dataset, video=self._video, frame=self._frame_names[frame_index],
                                     path=self._path, fix="re-download mask_dict.json") from None
            if mask.any():
                masks[label] = mask
        return FrameAnnotation(masks=masks)


@dataclass(frozen=True)
class _Split:
    """Where one split's files are; ``masks`` (the parsed ``mask_dict.json``) is None without ground truth."""

    dataset: str
    name: str
    expressions_file: Path
    frames_dir: Path
    mask_file: Path
    masks: Mapping[str, object] | None
    check_counts: bool


def load_mevis(root: str | Path, split: str, *, dataset_name: str = "mevis") -> Dataset:
    """Read one split of MeViS (see the module docstring for the layout and the rules).

    Args:
        root: the folder holding the split folders.
        split: ``train``, ``valid_u``, ``valid``, or any split folder laid out alike.
        dataset_name: the name the videos and errors carry.
    """
    root = Path(root)
    expressions_file = root / split / "meta_expressions.json"
    if not expressions_file.is_file():
        known = sorted(p.parent.name for p in root.glob("*/meta_expressions.json")) if root.is_dir() else []
        raise GroPromptError(
            f"no expressions file for split {split!r} (splits found: {', '.join(known) or 'none'})",
            dataset=dataset_name, path=expressions_file,
            fix="check the dataset root and the split name; the root must contain <split>/meta_expressions.json",
        )
    entries = read_video_entries(expressions_file, dataset_name)
    frames_dir = require(root / split / "JPEGImages", f"frame folder of split {split!r}", dataset=dataset_name)
    mask_file = root / split / "mask_dict.json"
    if split in SPLITS_WITH_TRUTH:
        require(mask_file, f"mask_dict.json of split {split!r}", dataset=dataset_name,
                fix="the release ships mask_dict.json with train and valid_u: extract it into the split folder")
    masks = None
    if mask_file.exists():
        masks = read_json(mask_file, dataset=dataset_name)
        expect(isinstance(masks, dict), "expected a JSON object of anno_id -> per-frame masks", path=mask_file,
               dataset=dataset_name)
    memo = _counts_memo()
    check_counts = masks is not None and not _counts_checked(memo, mask_file, expressions_file)
    layout = _Split(dataset_name, split, expressions_file, frames_dir, mask_file, masks, check_counts)
    checks = FileChecks(split_scope(root, split), description=f"checking {dataset_name} {split} files")
    checks.prefetch(_frame_files(frames_dir, entries))
    progress = tqdm(sorted(entries), desc=f"checking {dataset_name} {split}", unit="video", leave=False, delay=2)
    videos = tuple(_load_video(layout, name, entries[name], checks) for name in progress)
    if check_counts and memo is not None and _entries(masks) >= MEMO_MIN_FILES:  # fewer: cheaper to check again
        memo.add({str(mask_file.resolve()): [*stamp(mask_file.stat()), *stamp(expressions_file.stat())]})
    return Dataset(name=dataset_name, split=split, root=root, videos=videos,
                   expressions_file=expressions_file)


def _counts_memo() -> FileMemo | None:
    folder = memo_folder()
    return FileMemo(folder / "mevis-mask-dicts.json", _MEMO_KIND) if folder is not None else None


def _entries(masks: Mapping[str, object]) -> int:
    """How many per-frame entries the tracks of ``mask_dict.json`` hold."""
    return sum(len(track) for track in masks.values() if isinstance(track, list))


def _counts_checked(memo: FileMemo | None, mask_file: Path, expressions_file: Path) -> bool:
    """Whether the RLE counts of every track the expressions refer to passed, for these very two files."""
    if memo is None:
        return False
    found = recall(memo.read(), str(mask_file.resolve()), mask_file.stat())
    return found is not None and found == stamp(expressions_file.stat())


def _frame_files(frames_dir: Path, entries: Mapping[str, object]) -> list[tuple[str, bool]]:
    """Every listed frame JPEG, spelled as :func:`~groprompt.data.refytvos.read_video_frames` spells it, for
    :meth:`FileChecks.prefetch` (a malformed entry is passed over: loading its video raises the error)."""
    files = []
    for name in sorted(entries):
        entry = entries[name]
        frames = entry.get("frames") if isinstance(entry, dict) else None
        if isinstance(frames, list):
            files += [(str(frames_dir / name / f"{frame}.jpg"), False) for frame in frames]
    return files


def _load_video(layout: _Split, name: str, entry: object, checks: FileChecks) -> Video:
    dataset, source = layout.dataset, layout.expressions_file
    frame_names, frame_paths, size = read_video_frames(entry, layout.frames_dir, name, dataset=dataset,
                                                       source=source, checks=checks)
    with_truth = layout.masks is not None
    parsed = [_expression(layout, name, str(exp_id), raw, with_truth) for exp_id, raw in entry["expressions"].items()]
    expressions = tuple(expression for expression, _ in parsed)
    annotations = None
    object_ids: tuple[int, ...] = ()
    if with_truth:
        anno_ids = _object_tracks(layout, name, parsed)
        tracks = {label: _track(layout, layout.masks, name, anno_id, frame_names, size)
                  for label, anno_id in anno_ids.items()}
        object_ids = tuple(sorted(anno_ids))
        annotations = MaskDictSource(tracks, anno_ids, frame_names, dataset=dataset, video=name,
                                     path=layout.mask_file)
    if not expressions:
        warnings.warn(f"{dataset} {layout.name}: video {name} has no expressions in {source}; it is kept for its "
                      "frames but has no expression to evaluate", stacklevel=3)
    return Video(dataset=dataset, split=layout.name, name=name, frame_names=frame_names, frame_paths=frame_paths,
                 size=size, object_ids=object_ids, expressions=expressions, annotations=annotations)


def _expression(layout: _Split, video: str, exp_id: str, raw: object,
                with_truth: bool) -> tuple[Expression, tuple[str, ...]]:
    """One ``meta_expressions.json`` entry and its ``anno_id`` s (as ``mask_dict.json`` keys; none without ground
    truth)."""
    where = {"path": layout.expressions_file, "dataset": layout.dataset, "video": video, "expression": exp_id}
    expect(isinstance(raw, dict) and isinstance(raw.get("exp"), str), 'expected an object with an "exp" string',
           **where)
    check_expression_text(raw["exp"], **where)
    kind = raw.get("kind")
    expect(kind is None or isinstance(kind, str), f"kind {kind!r} is not a string", **where)
    if not with_truth:
        return Expression(exp_id=exp_id, text=raw["exp"], obj_id=None, kind=kind), ()
    obj_ids, anno_ids = raw.get("obj_id"), raw.get("anno_id")
    expect(isinstance(obj_ids, list) and isinstance(anno_ids, list),
           'expected "obj_id" and "anno_id" lists on a split with ground truth', **where)
    if not obj_ids:
        raise GroPromptError("expression refers to no object (obj_id is empty): MeViS v2's no-target expressions "
                             "are not read", fix="read the ICCV 2023 release, or remove this expression", **where)
    expect(len(obj_ids) == len(anno_ids), f"obj_id {obj_ids} and anno_id {anno_ids} differ in length", **where)
    expect(all(_is_count(obj) and int(obj) <= MAX_OBJ_ID for obj in obj_ids),
           f"obj_id {obj_ids} holds a value that is not an integer in 0..{MAX_OBJ_ID}", **where)
    expect(all(_is_count(anno) for anno in anno_ids), f"anno_id {anno_ids} holds a value that is not an integer",
           **where)
    labels = tuple(int(obj) + 1 for obj in obj_ids)
    expect(len(set(labels)) == len(labels), f"obj_id {obj_ids} names an object twice", **where)
    expression = Expression(exp_id=exp_id, text=raw["exp"], obj_id=labels[0] if len(labels) == 1 else None,
                            kind=kind, obj_ids=labels if len(labels) > 1 else None)
    return expression, tuple(str(int(anno)) for anno in anno_ids)


def _is_count(value: object) -> bool:
    """A non-negative integer, as a JSON number or a string of digits."""
    return (isinstance(value, int) and not isinstance(value, bool) and value >= 0) or \
        (isinstance(value, str) and value.isascii() and value.isdigit())


def _object_tracks(layout: _Split, video: str,
                   parsed: Sequence[tuple[Expression, tuple[str, ...]]]) -> dict[int, str]:
    """label -> anno_id of the video's objects; each label has one anno_id and each anno_id one label."""
    anno_of: dict[int, str] = {}
    label_of: dict[str, int] = {}
    for expression, anno_ids in parsed:
        for label, anno_id in zip(expression.referents, anno_ids, strict=True):
            other_anno, other_label = anno_of.setdefault(label, anno_id), label_of.setdefault(anno_id, label)
            if other_anno != anno_id:
                problem = f"obj_id {label - 1} has anno_id {anno_id} here but {other_anno} in another expression"
            elif other_label != label:
                problem = f"anno_id {anno_id} has obj_id {label - 1} here but {other_label - 1} in another expression"
            else:
                continue
            raise GroPromptError(problem, dataset=layout.dataset, video=video, expression=expression.exp_id,
                                 path=layout.expressions_file,
                                 fix="each object of a video has one mask track: correct the obj_id / anno_id lists")
    return anno_of


def _track(layout: _Split, masks: Mapping[str, object], video: str, anno_id: str, frame_names: Sequence[str],
           size: tuple[int, int]) -> list[dict | None]:
    """The checked RLE track of ``anno_id`` in ``masks`` (``mask_dict.json``): one entry per frame, each null or an
    RLE of the frames' ``size`` (its counts checked too, unless remembered), some frame not null."""
    where = {"dataset": layout.dataset, "video": video, "path": layout.mask_file}
    fix = "re-download mask_dict.json; its track must list one mask (or null) per frame of the video"
    track = masks.get(anno_id)
    if track is None:
        raise GroPromptError(f"anno_id {anno_id}, which an expression of the video names, has no masks", fix=fix,
                             **where)
    if not isinstance(track, list) or len(track) != len(frame_names):
        found = f"{len(track)} entries" if isinstance(track, list) else f"a {type(track).__name__}"
        raise GroPromptError(f"anno_id {anno_id} has {found}; the video has {len(frame_names)} frames", fix=fix,
                             **where)
    for frame, rle in zip(frame_names, track):
        if rle is None:
            continue
        if not (isinstance(rle, dict) and isinstance(rle.get("counts"), str)):
            raise GroPromptError(f"the mask of anno_id {anno_id} is not a COCO RLE with a compressed counts string",
                                 frame=frame, fix=fix, **where)
        if rle.get("size") != list(size):
            raise GroPromptError(f"the mask of anno_id {anno_id} is {rle.get('size')} but the video's frames are "
                                 f"{list(size)} (height, width)", frame=frame,
                                 fix="masks must have the size of their frames", **where)
        if layout.check_counts:
            try:
                rle_runs(rle)
            except ValueError as error:
                raise GroPromptError(f"the mask of anno_id {anno_id} is malformed ({error})", frame=frame, fix=fix,
                                     **where) from None
    if all(rle is None for rle in track):
        raise GroPromptError(f"anno_id {anno_id} has no mask in any frame (every entry is null)", fix=fix, **where)
    return track

