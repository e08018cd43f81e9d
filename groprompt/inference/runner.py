"""Run one method over a dataset split: boxes per frame and expression, the frozen segmentor's masks, files.

Per video, frames in order (docs/method_spec.md §6, online): the method is started with a :class:`VideoHeader` (or, if
it declares itself offline, the :class:`Video`, whose ground truth is removed unless the method is an oracle), then
asked for every expression's box on each frame in turn. The segmentor turns a frame's boxes into masks with one
image embedding per frame, shared by all its expressions and, through the embedding cache, by every method and
process that uses the same cache folder. A frame where every box is missing is not embedded at all. A missing box
(None) gives an empty mask (§7). A method's extra boxes for an expression are decoded each alone and their masks
united (:mod:`groprompt.inference.prompts`). Methods with ``outputs_masks`` skip the segmentor.

Three threads overlap the work (docs/architecture.md, "Precision and shared per-frame work"): a loader decodes
the next frames (and reads their cache keys and, for an oracle, their ground truth) while the models run; the main
thread asks the method for each frame's boxes, then hands SAM the frames of a window of ``segmentor.batch_size``
frames at once (one image-encoder call for the window's new frames, one mask-decoder call per frame); a writer
encodes and writes the masks of finished frames. Outputs do not depend on the threads: each frame is written
with what the method and SAM computed for it, in order.

Cache keys: ``<dataset>/<split>/<video>/<frame>@<digest>``, where the digest hashes the bytes of the frame's file
(for a video container, the container's). The names alone would let a regenerated dataset (SynRVOS with another
seed, at the same path) be served the old frames' embeddings; hashing file bytes costs a read of a file that is
decoded anyway, and no decoding.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
import sys
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from groprompt.data.model import Dataset, FrameAnnotation, Video
from groprompt.errors import GroPromptError
from groprompt.files import atomic_write_text
from groprompt.fingerprints import dataset_digest, path_digest
from groprompt.inference.outputs import (
    STAGING,
    SUBMISSION_FOLDER,
    OutputLayout,
    VideoWriter,
    check_identity,
    is_done,
    write_submission,
)
from groprompt.inference.prompts import PromptedBoxes, checked_extra_boxes, flat_prompts, union_per_expression
from groprompt.methods import FrameOutput, Method, VideoHeader
from groprompt.precision import DEFAULT_PRECISION, check_precision

if TYPE_CHECKING:
    from groprompt.segmentation import Segmentor

READ_AHEAD = 8
"""Frames the loader decodes before the main thread needs them."""
WRITE_BEHIND = 16
"""Frames whose masks may wait to be written before the main thread waits for the writer."""


def check_method_fits(method: type[Method] | Method, dataset: Dataset, has_segmentor: bool) -> None:
    """Refuse, before any work, a run that cannot complete: an empty split, an oracle on a split without ground
    truth (or with expressions that name no object, or several to an oracle that reads one), or a box method
    without a segmentor."""
    if not dataset.videos:
        raise GroPromptError(f"split {dataset.split!r} has no videos", dataset=dataset.name, path=dataset.root,
                             fix="check the dataset root and split")
    if method.uses_ground_truth:
        lacking = [video.name for video in dataset if not video.has_annotations]
        if lacking:
            raise GroPromptError(
                f"method {method.name!r} reads the ground truth, but {len(lacking)} videos of this split have none "
                f"(first {lacking[0]})", dataset=dataset.name, path=dataset.root,
                fix="run it on a split with annotations (e.g. train, or Ref-DAVIS17 valid)")
        unbound = [(v.name, e.exp_id) for v, e in dataset.expressions() if not e.referents]
        if unbound:
            raise GroPromptError(f"method {method.name!r} needs each expression's object, but "
                                 f"{len(unbound)} expressions name none", dataset=dataset.name,
                                 video=unbound[0][0], expression=unbound[0][1],
                                 fix="use a split whose expressions carry obj_id")
        several = [(v.name, e.exp_id) for v, e in dataset.expressions() if len(e.referents) > 1]
        if several and not method.several_referents:
            raise GroPromptError(f"method {method.name!r} reads one object per expression, but {len(several)} "
                                 "expressions of this split refer to several", dataset=dataset.name,
                                 video=several[0][0], expression=several[0][1],
                                 fix="run it on a split whose expressions refer to one object each, or make it "
                                     "read Expression.referents and declare several_referents = True")
    if not method.outputs_masks and not has_segmentor:
        raise GroPromptError(f"method {method.name!r} outputs boxes and needs a segmentor",
                             fix="pass --segmentor with a SAM checkpoint")


def run_identity(method_name: str, options: Mapping[str, Any], dataset: Dataset,
                 segmentor: Segmentor | None, files: Mapping[str, Path | None] | None = None,
                 precision: str = DEFAULT_PRECISION) -> dict[str, Any]:
    """What must match for a finished video of an earlier run to be reused (stored in its done marker).

    Besides the names (method, options, dataset, split) and the precision the models ran in, it holds digests of
    what the run reads (:mod:`groprompt.fingerprints`): the dataset's metadata and reader view, the segmentor's
    encoder weights (``segmentor.fingerprint``), every option that is a path (e.g. GroPrompt's ``checkpoint``, a
    retrained prompter) and each of ``files`` (e.g. ``{"segmentor": the SAM checkpoint}``: its mask decoder too).
    """
    read = {**{f"option {key}": value for key, value in options.items() if isinstance(value, Path)},
            **{key: value for key, value in (files or {}).items() if value is not None}}
    return {
        "method": method_name,
        "options": {key: _json_value(value) for key, value in sorted(options.items())},
        "precision": check_precision(precision),
        "dataset": dataset.name,
        "split": dataset.split,
        "segmentor": segmentor.fingerprint if segmentor is not None else None,
        "data_digest": dataset_digest(dataset),
        "file_digests": {key: path_digest(path) for key, path in sorted(read.items())},
    }


def run_inference(method: Method, dataset: Dataset, out: str | Path, *, segmentor: Segmentor | None,
                  options: Mapping[str, Any] | None = None, submission: bool = False,
                  submission_folder: str = SUBMISSION_FOLDER, progress: bool = True,
                  files: Mapping[str, Path | None] | None = None, restart_if_changed: bool = False,
                  precision: str = DEFAULT_PRECISION) -> dict[str, Any]:
    """Run ``method`` over every video of ``dataset`` and write the files of :mod:`groprompt.inference.outputs`.

    Videos already finished by a run of the same identity (:func:`run_identity`: the same method, options,
    split, precision, and digests of the data and checkpoints) are skipped. A folder holding videos of another
    identity is refused, naming the keys that differ, or, with ``restart_if_changed``, emptied first (a note on
    stderr says so). Returns the statistics also written to ``run_stats.json``: the run's identity (method,
    options, precision, dataset, split, segmentor fingerprint, digests), videos (all,
    run, skipped), frames, expressions and expression-frames processed, seconds (total, in the method, in the
    segmentor) and this run's embedding-cache counters (encoder passes, memory and disk hits, distinct frames).

    Args:
        method: an instantiated method.
        dataset: the split to run on.
        out: the output folder.
        segmentor: the frozen SAM (None only for ``outputs_masks`` methods).
        options: the options the method was created with (recorded, and part of the run's identity).
        submission: also write ``submission.zip``, the evaluation server's archive (:func:`write_submission`).
        submission_folder: its folder holding ``<video>/<exp_id>/<frame>.png`` (the dataset kind's).
        progress: show a progress bar over videos.
        files: other files the run reads, by name, whose digests join its identity (None entries are left out).
        restart_if_changed: start over instead of refusing a folder of another identity (the workflow's mode).
        precision: the precision the method and the segmentor were made with (recorded in the identity).
    """
    check_method_fits(method, dataset, segmentor is not None)
    layout = OutputLayout(Path(out))
    identity = run_identity(method.name, options or {}, dataset, segmentor, files, precision)
    _check_same_run(layout, identity, restart_if_changed)
    counts = {"videos": len(dataset), "videos_run": 0, "videos_skipped": 0, "frames": 0, "expressions": 0,
              "expression_frames": 0}
    clock = {"method_seconds": 0.0, "segmentor_seconds": 0.0}
    cache_before = segmentor.cache.stats.as_dict() if segmentor is not None else {}
    start = time.perf_counter()
    with (ThreadPoolExecutor(1, thread_name_prefix="groprompt-read") as reads,
          ThreadPoolExecutor(1, thread_name_prefix="groprompt-write") as writes):
        threads = _Threads(reads, writes)
        for video in tqdm(dataset.videos, desc=f"infer {method.name}", unit="video", disable=not progress):
            if is_done(layout, video, identity):
                counts["videos_skipped"] += 1
                continue
            writer = VideoWriter(layout, video)
            prompted = _run_video(method, video, segmentor, writer, clock, threads)
            writer.finish(identity, prompted.merged_into(_records(method, video), method, video.name))
            counts["videos_run"] += 1
            counts["frames"] += video.num_frames
            counts["expressions"] += len(video.expressions)
            counts["expression_frames"] += video.num_frames * len(video.expressions)
    cache = None
    if segmentor is not None:  # this run's share of counters that a shared cache object accumulates
        cache = {key: value - cache_before[key] for key, value in segmentor.cache.stats.as_dict().items()}
    stats = {**identity, **counts, "seconds": time.perf_counter() - start, **clock, "segmentor_cache": cache}
    atomic_write_text(layout.run_stats, json.dumps(stats, indent=1))
    if submission:
        write_submission(layout, dataset.videos, submission_folder)
    return stats


_RUN_ENTRIES = ("done", "boxes", "masks", "Annotations", STAGING, "run_stats.json", "submission.zip")
"""What :func:`run_inference` writes under ``--out`` (the markers first, so an interrupted clearing is never
mistaken for finished videos)."""


def _check_same_run(layout: OutputLayout, identity: Mapping[str, Any], restart: bool) -> None:
    """Refuse ``layout.root`` if it holds finished videos of another identity, naming the identity keys that
    differ; with ``restart``, delete those outputs (nothing else in the folder) and say so on stderr."""
    try:
        check_identity(layout, identity)
        return
    except GroPromptError as error:
        differing = _differing_keys(layout, identity)
        if not differing:  # not a question of identity (e.g. an unreadable marker): as check_identity says
            raise
        problem = f"{error.problem}; they differ in {', '.join(differing)}"
    if not restart:
        raise GroPromptError(problem, path=layout.root,
                             fix="pass --restart-if-changed to delete its results and start over, write to another "
                                 "--out folder, or restore the inputs the folder was made from")
    print(f"groprompt infer: note: {problem}; deleting its results and starting over (--restart-if-changed)",
          file=sys.stderr)
    for name in _RUN_ENTRIES:
        path = layout.root / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _differing_keys(layout: OutputLayout, identity: Mapping[str, Any]) -> list[str]:
    """The identity keys (``file_digests.<name>`` for a file) in which the first marker of another run differs."""
    for marker in sorted((layout.root / "done").glob("*.json")):
        try:
            found = json.loads(marker.read_text(encoding="utf-8")).get("identity")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(found, dict) and found != dict(identity):
            keys = [key for key in sorted(set(found) | set(identity)) if found.get(key) != identity.get(key)]
            if "file_digests" in keys and isinstance(found.get("file_digests"), dict):
                files, now = found["file_digests"], identity["file_digests"]
                keys.remove("file_digests")
                keys += [f"file_digests.{name}" for name in sorted(set(files) | set(now))
                         if files.get(name) != now.get(name)]
            return keys
    return []


@dataclass(frozen=True)
class _Threads:
    """The loader and writer threads of a run (one worker each: frames are read, and written, in order)."""

    reads: ThreadPoolExecutor
    writes: ThreadPoolExecutor


@dataclass(frozen=True)
class _Frame:
    """One frame on its way through the main thread: what the loader read and what the method answered."""

    index: int
    pixels: np.ndarray
    key: str
    boxes: np.ndarray
    scores: np.ndarray
    extras: list[np.ndarray] | None
    """Per expression its extra boxes and scores (:func:`~groprompt.inference.prompts.checked_extra_boxes`), or
    None where the method gave none on this frame."""


def _run_video(method: Method, video: Video, segmentor: Segmentor | None, writer: VideoWriter,
               clock: dict[str, float], threads: _Threads) -> PromptedBoxes:
    """Every frame of one video, in order: the method's outputs, checked, then masks (SAM a window of frames at a
    time), then the writer (in its thread; every write has finished when this returns). Returns every box the
    segmentor was prompted with."""
    prompted = PromptedBoxes([expression.exp_id for expression in video.expressions], video.num_frames)
    if not video.expressions:
        return prompted
    tick = time.perf_counter()  # an offline method does its work here
    if method.online:
        method.start(VideoHeader.of(video))
    else:
        method.start(video if method.uses_ground_truth else dataclasses.replace(video, annotations=None))
    clock["method_seconds"] += time.perf_counter() - tick
    window: list[_Frame] = []
    writes: deque[Future] = deque()

    def write(index: int, boxes: np.ndarray, scores: np.ndarray, masks: np.ndarray) -> None:
        writes.append(threads.writes.submit(writer.add_frame, index, boxes, scores, masks))
        while len(writes) > WRITE_BEHIND or (writes and writes[0].done()):
            writes.popleft().result()  # raises what the writer raised (a full disk), here

    for index, pixels, key, truth in _read_ahead(video, method.uses_ground_truth, threads.reads):
        tick = time.perf_counter()
        outputs = method.predict(pixels, index, video.expressions, truth)
        clock["method_seconds"] += time.perf_counter() - tick
        boxes, scores, masks, extras = _checked(outputs, method, video, index, pixels.shape[:2])
        if masks is not None:
            write(index, boxes, scores, masks)
            continue
        prompted.add(index, boxes, scores, extras)
        window.append(_Frame(index, pixels, key, boxes, scores, extras))
        if len(window) == segmentor.batch_size or index == video.num_frames - 1:
            tick = time.perf_counter()
            window_masks = _segment(segmentor, window)
            clock["segmentor_seconds"] += time.perf_counter() - tick
            for frame, frame_masks in zip(window, window_masks, strict=True):
                write(frame.index, frame.boxes, frame.scores, frame_masks)
            window.clear()
    while writes:
        writes.popleft().result()
    return prompted


def _read_ahead(video: Video, with_truth: bool, reads: ThreadPoolExecutor
                ) -> Iterator[tuple[int, np.ndarray, str, FrameAnnotation | None]]:
    """``(index, frame, cache key, ground truth or None)`` of every frame in order, each read by the loader thread
    up to :data:`READ_AHEAD` frames before it is asked for."""
    annotated = video.annotated_frames() if with_truth else None
    digests: dict[Path, str] = {}

    def read(index: int) -> tuple[int, np.ndarray, str, FrameAnnotation | None]:
        truth = video.annotation(index) if annotated is not None and annotated[index] else None
        return index, video.read_frame(index), _frame_key(video, index, digests), truth

    queued = deque(reads.submit(read, index) for index in range(min(READ_AHEAD, video.num_frames)))
    for index in range(video.num_frames):
        item = queued.popleft().result()
        if index + READ_AHEAD < video.num_frames:
            queued.append(reads.submit(read, index + READ_AHEAD))
        yield item


def _checked(outputs: Sequence[FrameOutput], method: Method, video: Video, index: int, size: tuple[int, int]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, list[np.ndarray] | None]:
    """A method's outputs for one frame as ``(K, 4)`` boxes (nan rows: none), ``(K,)`` scores, for
    ``outputs_masks`` methods ``(K, H, W)`` bool masks, and per expression the ``(M_k, 5)`` extra boxes and scores
    (None if no output has any); a named error for anything malformed."""
    expressions = video.expressions
    where = {"video": video.name, "frame": video.frame_names[index]}
    if not isinstance(outputs, Sequence) or len(outputs) != len(expressions):
        found = len(outputs) if isinstance(outputs, Sequence) else type(outputs).__name__
        raise GroPromptError(f"method {method.name!r} returned {found} outputs for {len(expressions)} expressions",
                             fix="return one FrameOutput per expression, in order", **where)
    boxes = np.full((len(expressions), 4), np.nan)
    scores = np.full(len(expressions), np.nan)
    masks = np.zeros((len(expressions), *size), dtype=bool) if method.outputs_masks else None
    extras: list[np.ndarray] | None = None
    for k, (expression, output) in enumerate(zip(expressions, outputs, strict=True)):
        here = {**where, "expression": expression.exp_id}
        if not isinstance(output, FrameOutput):
            raise GroPromptError(f"method {method.name!r} returned a {type(output).__name__}, not a FrameOutput",
                                 fix="return groprompt.methods.FrameOutput objects", **here)
        if output.box is not None:
            box = np.asarray(output.box, dtype=float)
            if box.shape != (4,) or not np.isfinite(box).all():
                raise GroPromptError(f"method {method.name!r} returned the box {output.box!r}; expected 4 finite "
                                     "numbers (x0, y0, x1, y1) in pixels", fix="return box=None for no box", **here)
            boxes[k] = box
        scores[k] = float(output.score) if output.score is not None else math.nan
        if masks is not None:
            mask = np.asarray(output.mask) if output.mask is not None else None
            if mask is None or mask.shape != size or mask.dtype != bool:
                found = "no mask" if mask is None else f"a {mask.dtype} mask of shape {mask.shape}"
                raise GroPromptError(f"method {method.name!r} outputs masks but returned {found}; expected "
                                     f"({size[0]}, {size[1]}) bool", fix="return a bool mask of the frame's size",
                                     **here)
            masks[k] = mask
        if output.extra_boxes is not None:
            if extras is None:
                extras = [np.zeros((0, 5))] * len(expressions)
            extras[k] = checked_extra_boxes(output, method, here)
    return boxes, scores, masks, extras


def _records(method: Method, video: Video) -> dict[str, Any]:
    """The method's :meth:`~groprompt.methods.Method.expression_records` of ``video``, checked: keyed by the video's
    exp ids, JSON values without nan; none for a video without expressions (the method never saw it)."""
    if not video.expressions:
        return {}
    records = method.expression_records()
    where = {"video": video.name, "fix": "return {exp_id: {name: JSON value}} from expression_records (None for nan)"}
    if not isinstance(records, Mapping):
        raise GroPromptError(f"method {method.name!r} returned expression records of type "
                             f"{type(records).__name__}, not a mapping", **where)
    unknown = sorted(set(records) - {e.exp_id for e in video.expressions})
    if unknown:
        raise GroPromptError(f"method {method.name!r} returned records of expressions the video does not have: "
                             f"{', '.join(map(repr, unknown))}", **where)
    try:
        json.dumps(records, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise GroPromptError(f"method {method.name!r} returned expression records that are not JSON ({error})",
                             **where) from None
    return {exp_id: dict(record) for exp_id, record in records.items()}


def _segment(segmentor: Segmentor, window: Sequence[_Frame]) -> list[np.ndarray]:
    """``(K, H, W)`` bool masks of each frame's expressions (the union of SAM's masks of an expression's boxes);
    the frames with a box are embedded in one batch (those not cached), a frame without any is not embedded at
    all."""
    boxed = [frame for frame in window if np.isfinite(frame.boxes).all(axis=1).any()]
    prompts = [flat_prompts(frame.boxes, frame.extras) for frame in boxed]
    found = segmentor.segment_frames([f.pixels for f in boxed], [rows for rows, _ in prompts],
                                     [f.key for f in boxed])
    masks = {frame.index: union_per_expression(frame_masks, starts)
             for frame, frame_masks, (_, starts) in zip(boxed, found, prompts, strict=True)}
    return [masks.get(frame.index, np.zeros((len(frame.boxes), *frame.pixels.shape[:2]), dtype=bool))
            for frame in window]


def _frame_key(video: Video, index: int, digests: dict[Path, str]) -> str:
    """The embedding-cache key of a frame: its names plus a digest of its file's bytes (module docstring)."""
    path = video.frame_paths[index]
    if path not in digests:
        digests[path] = hashlib.blake2b(path.read_bytes(), digest_size=12).hexdigest()
    return f"{video.dataset}/{video.split}/{video.name}/{video.frame_names[index]}@{digests[path]}"


def _json_value(value: Any) -> Any:
    """Option values as JSON can hold them (paths as strings)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    return str(value)
