"""What ``groprompt infer`` writes, per video, and how a rerun knows which videos are finished.

Layout of the output folder (``--out``)::

    boxes/<video>.csv                        exp_id, frame, x0, y0, x1, y1, score   (xyxy pixels; empty = no box)
    masks/<video>.json                       pycocotools RLE of every expression's mask on every frame, and the
                                             method's per-expression records (``Method.expression_records``)
    Annotations/<video>/<exp_id>/<frame>.png 0 / 255 masks: the per-expression layout of ``groprompt evaluate``
                                             and of the Ref-YouTube-VOS and MeViS servers
    done/<video>.json                        the completion marker, written last
    .partial/<video>/                        the video being written (renamed into the above when finished)
    run_stats.json, submission.zip           per run (see :mod:`groprompt.inference.runner`)

A video is written into a staging folder, ``.partial/<video>/``, laid out as the output folder itself, and its parts are renamed into place only once all its frames are written: boxes, masks, the PNG folder, then the
marker (last). So an error, a kill or a full disk mid-video leaves no ``Annotations/<video>/`` with some frames
missing (which ``groprompt evaluate --allow-missing`` would score as empty masks); what it leaves in ``.partial/``
is deleted when the video is started again. A run killed mid-video leaves no marker and the video is redone; a
marker names the run's identity (method, options, dataset, split, segmentor), and a video counts as done only if
its marker matches the current run and its files are all present.

Every name a path is made of (video, expression id, frame) must be a plain name (:mod:`groprompt.safe_names`), and
a video's files, links resolved, must lie inside ``--out``: both are checked before anything of the video is
deleted or written, whatever reader gave the names.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import shutil
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from groprompt.data.model import Video
from groprompt.errors import GroPromptError
from groprompt.files import atomic_open, atomic_path, atomic_write_text
from groprompt.masks import decode_rle, encode_rle, write_label_png
from groprompt.safe_names import READER_FIX, RULE, check_name, check_video_names, check_within

MASKS_FORMAT = "groprompt-masks/1"
MARKER_FORMAT = "groprompt-done/1"
BOX_COLUMNS = ("exp_id", "frame", "x0", "y0", "x1", "y1", "score")
MASK_VALUE = 255
"""Pixel value of the object in the written PNGs (the Ref-YouTube-VOS submission convention)."""
SUBMISSION_FOLDER = "Annotations"
"""The folder of the Ref-YouTube-VOS server's archive that holds ``<video>/<exp_id>/<frame>.png``."""
STAGING = ".partial"
"""Folder of ``--out`` holding the videos being written (hidden: no reader takes it for a video)."""
_FOREIGN = (f"groprompt infer writes each name as {RULE}; this file was not written by it: delete it and its done/ "
            "marker, and rerun groprompt infer")
"""The fix of a name in a boxes or masks file that is not a plain name."""


@dataclass(frozen=True)
class OutputLayout:
    """The paths of one inference output folder. Every name a path is made of (video, expression id, frame) must be
    a plain name (:func:`~groprompt.safe_names.check_name`), so no path of the layout leaves its root by its
    name; :class:`VideoWriter` also checks, links resolved, that a video's paths stay inside the root."""

    root: Path

    def boxes(self, video: str) -> Path:
        return self.root / "boxes" / f"{self._name(video, 'video name')}.csv"

    def masks(self, video: str) -> Path:
        return self.root / "masks" / f"{self._name(video, 'video name')}.json"

    @property
    def annotations(self) -> Path:
        """The PNG tree: pass it as ``groprompt evaluate --pred``."""
        return self.root / "Annotations"

    def video_annotations(self, video: str) -> Path:
        """``Annotations/<video>``: the PNG folder of one video."""
        return self.annotations / self._name(video, "video name")

    def png(self, video: str, exp_id: str, frame: str) -> Path:
        return (self.video_annotations(video) / self._name(exp_id, "expression id", video)
                / f"{self._name(frame, 'frame name', video)}.png")

    def marker(self, video: str) -> Path:
        return self.root / "done" / f"{self._name(video, 'video name')}.json"

    def staging(self, video: str) -> "OutputLayout":
        """The layout of the staging folder a video is written into before it is renamed into place."""
        return OutputLayout(self.root / STAGING / self._name(video, "video name"))

    def _name(self, name: str, what: str, video: str | None = None) -> str:
        return check_name(name, what, path=self.root, video=video, fix=READER_FIX)

    @property
    def run_stats(self) -> Path:
        return self.root / "run_stats.json"

    @property
    def submission(self) -> Path:
        return self.root / "submission.zip"


def check_identity(layout: OutputLayout, identity: Mapping[str, Any]) -> None:
    """Refuse an output folder whose finished videos were made by another method, options, split or segmentor."""
    folder = layout.root / "done"
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.json")):
        found = _read_marker(path).get("identity")
        if found != dict(identity):
            raise GroPromptError(
                f"the output folder holds results of another run ({_describe(found)}); this run is "
                f"{_describe(identity)}", path=layout.root,
                fix="write to another --out folder, or delete this one to start over",
            )


def is_done(layout: OutputLayout, video: Video, identity: Mapping[str, Any]) -> bool:
    """Whether ``video`` has a marker of this run and every output file of it exists."""
    marker = layout.marker(video.name)
    if not marker.is_file():
        return False
    content = _read_marker(marker)
    expressions = [e.exp_id for e in video.expressions]
    if (content.get("identity") != dict(identity) or content.get("frames") != list(video.frame_names)
            or content.get("expressions") != expressions):
        return False
    if not (layout.boxes(video.name).is_file() and layout.masks(video.name).is_file()):
        return False
    wanted = {f"{frame}.png" for frame in video.frame_names}
    for exp_id in expressions:
        folder = layout.video_annotations(video.name) / exp_id
        if not folder.is_dir() or not wanted <= set(os.listdir(folder)):
            return False
    return True


class VideoWriter:
    """Collects one video's boxes and masks frame by frame and writes its files; :meth:`finish` marks it done.

    Everything is written into the video's staging folder (:meth:`OutputLayout.staging`) and renamed into place by
    :meth:`finish`. Creating a writer deletes what an earlier, unfinished attempt left of the video (its marker,
    files and staging folder). A failed write (full disk, lost permission) is a :class:`GroPromptError` naming the
    file.
    """

    def __init__(self, layout: OutputLayout, video: Video) -> None:
        check_video_names(video, path=layout.root)  # every name and path, before anything is deleted or written
        self.layout = layout
        self.staging = layout.staging(video.name)
        self.video = video
        count, frames = len(video.expressions), video.num_frames
        self.boxes = np.full((count, frames, 4), np.nan)
        self.scores = np.full((count, frames), np.nan)
        self.rles: list[list[dict | None]] = [[None] * frames for _ in range(count)]
        for path in (layout.boxes(video.name), layout.masks(video.name), layout.marker(video.name),
                     layout.video_annotations(video.name), self.staging.root):
            check_within(layout.root, path, "output folder (--out)", video=video.name)
        with self._writing():
            layout.marker(video.name).unlink(missing_ok=True)
            for path in (self.staging.root, layout.video_annotations(video.name)):
                shutil.rmtree(path, ignore_errors=True)

    def add_frame(self, index: int, boxes: np.ndarray, scores: np.ndarray, masks: np.ndarray) -> None:
        """Store frame ``index``: ``(K, 4)`` xyxy pixel boxes (nan rows: no box), ``(K,)`` scores, ``(K, H, W)``
        bool masks, one per expression in the video's order; the PNGs are written now (into the staging folder)."""
        frame = self.video.frame_names[index]
        with self._writing():
            for k, expression in enumerate(self.video.expressions):
                self.boxes[k, index] = boxes[k]
                self.scores[k, index] = scores[k]
                self.rles[k][index] = encode_rle(masks[k])
                write_label_png(self.staging.png(self.video.name, expression.exp_id, frame),
                                masks[k].astype(np.uint8) * MASK_VALUE)

    def finish(self, identity: Mapping[str, Any], records: Mapping[str, Any] | None = None) -> None:
        """Write the boxes CSV and the masks JSON (with ``records``, the method's per-expression records, by exp
        id), rename the video's files into place, then write the marker."""
        video = self.video
        missing = [video.frame_names[t] for t in range(video.num_frames)
                   if any(self.rles[k][t] is None for k in range(len(video.expressions)))]
        if missing:
            raise GroPromptError(f"{len(missing)} frames have no result (first {missing[0]})", video=video.name,
                                 fix="this is a bug in the inference loop; please report it")
        with self._writing():
            self._write_files(records or {})
            self._move_into_place()
            marker = {"format": MARKER_FORMAT, "identity": dict(identity), "frames": list(video.frame_names),
                      "expressions": [e.exp_id for e in video.expressions]}
            atomic_write_text(self.layout.marker(video.name), json.dumps(marker, indent=1))

    def _write_files(self, records: Mapping[str, Any]) -> None:
        video = self.video
        with atomic_open(self.staging.boxes(video.name), "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(BOX_COLUMNS)
            for k, expression in enumerate(video.expressions):
                for t, frame in enumerate(video.frame_names):
                    writer.writerow([expression.exp_id, frame, *(_cell(v, 3) for v in self.boxes[k, t]),
                                     _cell(self.scores[k, t], 6)])
        masks = {
            "format": MASKS_FORMAT,
            "dataset": video.dataset,
            "split": video.split,
            "video": video.name,
            "size": list(video.size),
            "frames": list(video.frame_names),
            "expressions": {e.exp_id: self.rles[k] for k, e in enumerate(video.expressions)},
            "records": dict(records),
        }
        atomic_write_text(self.staging.masks(video.name), json.dumps(masks))

    def _move_into_place(self) -> None:
        """Rename the staged boxes, masks and PNG folder into the output folder (each rename is atomic)."""
        name = self.video.name
        for source, target in ((self.staging.boxes(name), self.layout.boxes(name)),
                               (self.staging.masks(name), self.layout.masks(name)),
                               (self.staging.video_annotations(name), self.layout.video_annotations(name))):
            if not source.exists():  # a video without expressions has no PNG folder
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(source, target)
        shutil.rmtree(self.staging.root, ignore_errors=True)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Turn a failed file operation into an error naming the video, the file and the fix."""
        try:
            yield
        except OSError as error:
            reason = error.strerror or type(error).__name__
            raise GroPromptError(f"cannot write the inference output ({reason})", video=self.video.name,
                                 path=error.filename or self.layout.root,
                                 fix="free disk space or make --out writable, then rerun the same command: "
                                     "finished videos are kept") from error


def read_boxes(path: str | Path) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
    """Read a boxes CSV: ``exp_id -> (frame names, (T, 4) float xyxy pixels, (T,) scores)``, nan where empty.
    Every expression id and frame must be a plain name (:func:`~groprompt.safe_names.check_name`)."""
    path = Path(path)
    result: dict[str, tuple[list[str], list, list]] = {}
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != BOX_COLUMNS:
                raise ValueError(f"columns {reader.fieldnames}, expected {list(BOX_COLUMNS)}")
            for row in reader:
                exp_id = check_name(row["exp_id"], "expression id", path=path, fix=_FOREIGN)
                frames, boxes, scores = result.setdefault(exp_id, ([], [], []))
                frames.append(check_name(row["frame"], "frame name", path=path, expression=exp_id,
                                         fix=_FOREIGN))
                boxes.append([_number(row[c]) for c in BOX_COLUMNS[2:6]])
                scores.append(_number(row["score"]))
    except FileNotFoundError:
        raise GroPromptError("boxes file is missing", path=path, fix="run groprompt infer first") from None
    except (ValueError, KeyError) as error:
        raise GroPromptError(f"boxes file is malformed ({error})", path=path,
                             fix="delete it and its done/ marker, and rerun groprompt infer") from None
    return {exp: (frames, np.array(boxes, dtype=float).reshape(-1, 4), np.array(scores, dtype=float))
            for exp, (frames, boxes, scores) in result.items()}


def read_masks(path: str | Path) -> dict[str, np.ndarray]:
    """Read a masks JSON: ``exp_id -> (T, H, W) bool`` masks in the order of its ``frames`` list; every expression
    id must be a plain name (:func:`~groprompt.safe_names.check_name`)."""
    path = Path(path)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        if content.get("format") != MASKS_FORMAT:
            raise ValueError(f"format {content.get('format')!r}, expected {MASKS_FORMAT!r}")
        for exp_id in content["expressions"]:
            check_name(exp_id, "expression id", path=path, fix=_FOREIGN)
        return {exp: np.stack([decode_rle(rle) for rle in rles]) for exp, rles in content["expressions"].items()}
    except FileNotFoundError:
        raise GroPromptError("masks file is missing", path=path, fix="run groprompt infer first") from None
    except (ValueError, KeyError, TypeError) as error:
        raise GroPromptError(f"masks file is malformed ({error})", path=path,
                             fix="delete it and its done/ marker, and rerun groprompt infer") from None


def write_submission(layout: OutputLayout, videos: Sequence[Video], folder: str = SUBMISSION_FOLDER) -> Path:
    """Zip ``<folder>/<video>/<exp_id>/<frame>.png`` of every video, every frame of every expression: the archive
    of an evaluation server (``folder`` ``Annotations``: Ref-YouTube-VOS's; ``""``: the video folders at the
    archive's root, MeViS's CodaLab server, which reads any non-zero pixel as the object).

    Written atomically to ``submission.zip``; PNGs are stored uncompressed (they are compressed already).
    """
    with atomic_path(layout.submission) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for video in videos:
            for expression in video.expressions:
                for frame in video.frame_names:
                    png = layout.png(video.name, expression.exp_id, frame)
                    if not png.is_file():
                        raise GroPromptError("a mask of the submission is missing", video=video.name,
                                             expression=expression.exp_id, frame=frame, path=png,
                                             fix="rerun groprompt infer on this folder to complete it")
                    archive.write(png, "/".join(filter(None, (folder, video.name, expression.exp_id,
                                                              f"{frame}.png"))))
    return layout.submission


def _read_marker(path: Path) -> dict:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(content, dict) or content.get("format") != MARKER_FORMAT:
            raise ValueError("not a done marker")
        return content
    except (OSError, ValueError) as error:
        raise GroPromptError(f"unreadable done marker ({error})", path=path,
                             fix="delete this file; its video is redone on the next run") from None


def _describe(identity: Mapping[str, Any] | None) -> str:
    if not identity:
        return "unknown"
    options = ", ".join(f"{k}={v}" for k, v in sorted((identity.get("options") or {}).items()))
    return (f"method {identity.get('method')!r} ({options or 'no options'}) on {identity.get('dataset')} "
            f"{identity.get('split')}, segmentor {identity.get('segmentor')}")


def _cell(value: float, digits: int) -> str:
    return "" if math.isnan(value) else f"{value:.{digits}f}"


def _number(text: str) -> float:
    return float(text) if text.strip() else math.nan
