"""A2D-Sentences reader (docs/datasets.md; evaluation protocol in docs/method_spec.md §8).

Layout::

    <root>/Release/videoset.csv            no header; 9 columns: video, actor-action label, start time, end time,
                                           height, width, total frames, annotated frames, subset (0 train, 1 test)
    <root>/Release/clips320H/<video>.mp4   (``clips320`` and ``CLIPS320`` are accepted too)
    <root>/text_annotations/a2d_annotation.txt          CSV with header video_id,instance_id,query (a comma in an
                                                        unquoted query is kept in it)
    <root>/text_annotations/a2d_missed_videos.txt       videos without instance masks
    <root>/text_annotations/a2d_annotation_with_instances/<video>/<frame:05d>.h5
        "instance": instance ids; "reMask": masks stored transposed, (N, W, H), or (W, H) for a single instance;
        "reBBox": not read (boxes are the masks' tight boxes, as for every dataset of the harness)

Decisions:

* A video is every frame of its mp4. Frame ``i`` (0-based) is named ``f"{i + 1:05d}"``: the 1-based number its h5
  file carries. Only frames with an h5 file are annotated.
* Object ids are instance ids. Each row of ``a2d_annotation.txt`` is one expression; its ``exp_id`` is its
  0-based data-row number in that file (unique and traceable to the file).
* A frame's :class:`~groprompt.data.model.FrameAnnotation` holds every instance of its h5 file, also those no
  sentence refers to; an instance that is not in the file is absent. The evaluation samples (one per annotated
  video, frame and referred instance present there) follow from that.
* A row whose instance id is not an integer is left out with a warning: the release has one (``1 (copy)`` in
  ``T6bNPuKV-wY``), which the community drops as well. Any other malformed row is an error.
* Videos of the split that no sentence describes are not part of A2D-Sentences and are left out, as are the
  missed videos. A described video must have its clip and at least one h5 file.
* Frame count and size come from the mp4 header, opened once per video when loading; no frame is decoded then
  (decoding every clip up front would cost as much as reading the split once more).
* Every video name of ``videoset.csv`` must be a plain name (:mod:`groprompt.safe_names`: it becomes
  ``<video>.mp4`` and a folder name); sentences of videos that are not in it are never read.
* Every h5 file of a described video is opened when loading (HDF5 refuses a truncated file on opening) and its
  keys, instance ids and ``reMask`` shape (one mask of the clip's size per instance) are checked; the masks
  themselves are read when a frame is. A query that is empty or blank is an error naming its row.
* Frames are decoded lazily: the first read of a clip decodes all of it (sequential decoding is the cheap way
  through an mp4) and only the most recently read clip is kept, so memory holds one clip (a 320-pixel-high clip
  of 150 frames is about 70 MB) whatever the size of the dataset. Reading videos one after another is fast;
  alternating between two clips decodes each again.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from tqdm import tqdm

from groprompt.data.model import Dataset, Expression, FrameAnnotation, Video
from groprompt.data.reading import expect, read_csv, read_lines, require
from groprompt.data.validation import check_expression_text
from groprompt.errors import GroPromptError
from groprompt.safe_names import check_name

SPLITS = {"train": 0, "test": 1}
"""Split name -> value of ``videoset.csv``'s subset column."""

CLIP_FOLDERS = ("clips320H", "clips320", "CLIPS320")
"""Names the folder of mp4 clips goes by in the release and in the community's instructions."""

QUERY_COLUMNS = ("video_id", "instance_id", "query")


def load_a2d(root: str | Path, split: str, *, dataset_name: str = "a2d") -> Dataset:
    """Read the ``train`` or ``test`` split of A2D-Sentences (see the module docstring for the rules)."""
    if split not in SPLITS:
        raise GroPromptError(f"A2D-Sentences has no split {split!r} (splits: {', '.join(SPLITS)})",
                             dataset=dataset_name, fix="use split train or test")
    root = Path(root)
    subsets = _read_videoset(root / "Release" / "videoset.csv", dataset_name)
    text_dir = root / "text_annotations"
    missed = {line.strip() for line in read_lines(text_dir / "a2d_missed_videos.txt", dataset=dataset_name)}
    candidates = {name for name, subset in subsets.items() if subset == SPLITS[split] and name not in missed}
    queries = _read_queries(text_dir / "a2d_annotation.txt", candidates, dataset_name)
    clips = _clips_dir(root, dataset_name)
    masks = require(text_dir / "a2d_annotation_with_instances", "instance mask folder", dataset=dataset_name)
    names = sorted(queries)
    videos = tuple(_load_video(name, queries[name], clips, masks, split, dataset_name)
                   for name in tqdm(names, desc=f"{dataset_name} {split}", unit="video", leave=False))
    return Dataset(name=dataset_name, split=split, root=root, videos=videos)


def _read_videoset(path: Path, dataset: str) -> dict[str, int]:
    """``video -> subset`` from ``videoset.csv`` (the release has no header; a header row is tolerated)."""
    rows = read_csv(require(path, "A2D video list", dataset=dataset), dataset=dataset)
    video_column, subset_column, first = 0, 8, 0
    if rows and not rows[0][-1].strip().isdigit():
        header = [cell.strip() for cell in rows[0]]
        expect("subset" in header, 'header row has no "subset" column', path=path, dataset=dataset)
        subset_column, first = header.index("subset"), 1
    subsets = {}
    for number, row in enumerate(rows[first:], start=first + 1):
        expect(len(row) > subset_column and row[subset_column].strip() in ("0", "1"),
               f"row {number} does not have 9 columns ending in subset 0 or 1: {','.join(row)!r}",
               path=path, dataset=dataset)
        name = check_name(row[video_column].strip(), "video name", path=path, dataset=dataset)
        subsets[name] = int(row[subset_column])
    return subsets


def _read_queries(path: Path, videos: set[str], dataset: str) -> dict[str, list[tuple[str, int, str]]]:
    """``video -> [(exp_id, instance_id, query)]`` from ``a2d_annotation.txt``, in file order, for ``videos``."""
    rows = read_csv(require(path, "A2D-Sentences annotation file", dataset=dataset), dataset=dataset)
    expect(bool(rows) and tuple(cell.strip() for cell in rows[0]) == QUERY_COLUMNS,
           f"expected the header {','.join(QUERY_COLUMNS)}", path=path, dataset=dataset)
    queries: dict[str, list[tuple[str, int, str]]] = {}
    for number, row in enumerate(rows[1:]):
        expect(len(row) >= 3, f"data row {number} has {len(row)} fields, expected 3: {','.join(row)!r}",
               path=path, dataset=dataset)
        video, instance = row[0].strip(), row[1].strip()
        query = ",".join(row[2:])  # an unquoted comma stays in the query
        if video not in videos:
            continue
        if not instance.isdigit():
            warnings.warn(f"{path} data row {number}: instance id {instance!r} of video {video} is not an "
                          "integer; the row is left out", stacklevel=3)
            continue
        check_expression_text(query, dataset=dataset, video=video, expression=str(number), path=path)
        queries.setdefault(video, []).append((str(number), int(instance), query.strip()))
    return queries


def _clips_dir(root: Path, dataset: str) -> Path:
    for name in CLIP_FOLDERS:
        if (root / "Release" / name).is_dir():
            return root / "Release" / name
    raise GroPromptError(f"no folder of mp4 clips (looked for Release/{', Release/'.join(CLIP_FOLDERS)})",
                         dataset=dataset, path=root / "Release", fix="extract the A2D release into the root")


def _load_video(name: str, queries: list[tuple[str, int, str]], clips: Path, masks: Path, split: str,
                dataset: str) -> Video:
    clip = require(clips / f"{name}.mp4", "video clip", dataset=dataset, video=name)
    num_frames, size = _clip_header(clip, dataset=dataset, video=name)
    h5_dir = require(masks / name, "instance mask folder of this video", dataset=dataset, video=name,
                     fix="restore its h5 files, or list the video in a2d_missed_videos.txt")
    files = {}
    for entry in os.listdir(h5_dir):
        stem, suffix = os.path.splitext(entry)
        if suffix != ".h5":
            continue
        expect(stem.isdigit() and 1 <= int(stem) <= num_frames,
               f"h5 file is not named by a frame number in 1..{num_frames} (the clip's frames)",
               path=h5_dir / entry, dataset=dataset, video=name)
        files[int(stem) - 1] = h5_dir / entry
        read_h5(h5_dir / entry, size, dataset=dataset, video=name, masks=False)
    if not files:
        raise GroPromptError("video has sentences but no h5 file", dataset=dataset, video=name, path=h5_dir,
                             fix="restore its h5 files, or list the video in a2d_missed_videos.txt")
    expressions = tuple(Expression(exp_id=exp_id, text=text, obj_id=instance) for exp_id, instance, text in queries)
    return Video(
        dataset=dataset, split=split, name=name,
        frame_names=tuple(f"{i + 1:05d}" for i in range(num_frames)),
        frame_paths=(clip,) * num_frames,
        size=size,
        object_ids=tuple(sorted({e.obj_id for e in expressions})),
        expressions=expressions,
        annotations=InstanceMasks(files, size, dataset=dataset, video=name),
        frame_reader=ClipFrames(clip, num_frames),
    )


def _clip_header(path: Path, *, dataset: str, video: str) -> tuple[int, tuple[int, int]]:
    """``(frame count, (H, W))`` of an mp4 from its header (counted by decoding only if the header has no count)."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise GroPromptError("clip has no video stream", dataset=dataset, video=video, path=path,
                                     fix="re-extract this clip")
            stream = container.streams.video[0]
            count = stream.frames or sum(1 for _ in container.decode(stream))
            return count, (stream.codec_context.height, stream.codec_context.width)
    except av.FFmpegError as error:
        raise GroPromptError(f"video clip cannot be read ({error})", dataset=dataset, video=video, path=path,
                             fix="re-extract this clip") from None


@functools.lru_cache(maxsize=1)
def _decode_clip(path: Path) -> np.ndarray:
    """All frames of an mp4 as ``(T, H, W, 3) uint8`` RGB; only the last clip decoded stays cached."""
    import av

    try:
        with av.open(str(path)) as container:
            return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])
    except (av.FFmpegError, ValueError) as error:
        raise GroPromptError(f"video clip cannot be decoded ({error})", path=path,
                             fix="re-extract this clip") from None


class ClipFrames:
    """``Video.frame_reader`` of a clip: ``index -> (H, W, 3) uint8`` RGB, a copy (the decoded clip is shared)."""

    def __init__(self, path: Path, num_frames: int) -> None:
        self.path = path
        self.num_frames = num_frames

    def __call__(self, index: int) -> np.ndarray:
        if not 0 <= index < self.num_frames:
            raise IndexError(f"frame {index} out of range for {self.num_frames} frames of {self.path}")
        frames = _decode_clip(self.path)
        if index >= len(frames):
            raise GroPromptError(f"clip decodes to {len(frames)} frames, fewer than the {self.num_frames} its "
                                 "header declares", path=self.path, frame=index, fix="re-extract this clip")
        return frames[index].copy()


class InstanceMasks:
    """Ground truth from A2D's per-frame h5 files (an :class:`~groprompt.data.model.AnnotationSource`).

    Args:
        files: frame index (0-based) -> its h5 file.
        size: ``(H, W)`` of the clip; the stored masks, once transposed back, must have it.
    """

    def __init__(self, files: Mapping[int, Path], size: tuple[int, int], *, dataset: str, video: str) -> None:
        self._files = dict(files)
        self._size = size
        self._dataset = dataset
        self._video = video

    def annotated(self, frame_index: int) -> bool:
        return frame_index in self._files

    def read(self, frame_index: int) -> FrameAnnotation:
        """Masks ``{instance_id: (H, W) bool}`` of the instances the frame's h5 file holds."""
        path = self._files.get(frame_index)
        if path is None:
            raise GroPromptError("this frame has no h5 annotation", dataset=self._dataset, video=self._video,
                                 frame=frame_index, fix="read only frames for which annotated() is true")
        ids, stored = read_h5(path, self._size, dataset=self._dataset, video=self._video, masks=True)
        return FrameAnnotation(masks={int(obj): mask.T > 0 for obj, mask in zip(ids, stored, strict=True)})


def read_h5(path: Path, size: tuple[int, int], *, dataset: str, video: str,
            masks: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The instance ids ``(N,)`` of an A2D h5 file and, if ``masks``, its stored masks ``(N, W, H)`` (transposed, as
    stored); keys, ids and the masks' shape are checked against the clip's ``size`` either way."""
    import h5py

    where = {"path": path, "dataset": dataset, "video": video}
    try:
        with h5py.File(path, "r") as handle:
            missing = [key for key in ("instance", "reMask") if key not in handle]
            expect(not missing, f"h5 file lacks the key(s) {missing} (has {sorted(handle.keys())})", **where)
            ids = np.asarray(handle["instance"]).reshape(-1)
            shape = handle["reMask"].shape
            stored = np.asarray(handle["reMask"]) if masks else None
    except OSError as error:
        raise GroPromptError(f"h5 file cannot be read ({error})", fix="re-extract this file", **where) from None
    if len(shape) == 2:  # a frame with one instance stores a 2-D mask
        shape = (1, *shape)
        stored = None if stored is None else stored[np.newaxis]
    height, width = size
    expect(shape == (len(ids), width, height),
           f"reMask has shape {shape}; expected ({len(ids)}, {width}, {height}): one transposed "
           f"{height}x{width} mask per instance id", **where)
    expect(bool(np.all(ids == np.round(ids))), f"instance ids {ids.tolist()} are not integers", **where)
    return ids, stored
