"""Prediction and ground-truth folders: detect the layout, validate every file up front, plan the scoring.

Nothing here decodes pixels. Each PNG is checked from its header (PIL opens lazily: format, mode and size come from
the first bytes) and its last 12 bytes (a complete PNG ends with the IEND chunk, so a truncated file is caught
without decoding it). Every problem is a :class:`~groprompt.errors.GroPromptError` naming the file, raised before
any scoring starts.

Layouts (``docs/datasets.md``):

* ``davis``: ``<pred>/<video>/<frame>.png`` label maps (value = prediction id), one expression set.
* ``refdavis``: ``<pred>/anno_0 .. anno_3/<video>/<frame>.png``, one folder per Ref-DAVIS17 expression set
  (annotator 1 first-frame, annotator 1 full-video, annotator 2 first-frame, annotator 2 full-video).
* ``per-expression``: ``<pred>/<video>/<exp_id>/<frame>.png`` binary masks (0 background, non-zero object), with
  ``meta_expressions.json`` mapping each expression to its object (and, for SynRVOS, giving its ``kind``).
  Optionally the predicted boxes too: ``<boxes>/<video>.csv`` as ``groprompt infer`` writes them (exp_id, frame,
  x0, y0, x1, y1, score), read here, aligned to the ground-truth frames, for the box IoU (Table 6 "Box").

The ground truth is always ``<gt>/<video>/<frame>.png`` palette label maps (value = object id, 255 void); its PNGs
define the frames that are scored (the semi-supervised task: all but the first and the last, and only those
predictions are read). The expressions come from the dataset reader where a dataset is evaluated
(:meth:`Expressions.of_dataset`, the dataset form of ``groprompt evaluate``), else from a lone
``meta_expressions.json`` (:func:`read_expressions`).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from groprompt.data.model import VOID_LABEL, Dataset, Expression
from groprompt.data.validation import check_label_png
from groprompt.errors import GroPromptError
from groprompt.evaluation import runner, summary
from groprompt.evaluation.protocols import PROTOCOLS
from groprompt.evaluation.runner import Prediction, VideoJob

LAYOUTS = ("davis", "refdavis", "per-expression")
REFDAVIS_SETS = tuple(f"anno_{k}" for k in range(4))
SINGLE_SET = "all"
"""Set name of the layouts with one expression set."""

_SET_FOLDER = re.compile(r"anno_\d+")


@dataclass(frozen=True)
class Expressions:
    """The expressions of a split: ``videos`` maps each video to its expressions in file order (their
    ``obj_id`` set; ``expression_set`` too where a Ref-DAVIS17 reader numbered them); ``path`` is the
    ``meta_expressions.json`` they come from, named in messages."""

    path: Path
    videos: Mapping[str, tuple[Expression, ...]]

    @classmethod
    def of_dataset(cls, dataset: Dataset) -> Expressions:
        """The expressions of a split read by its dataset reader, named by the file it read them from (the
        dataset's root where the reader does not say)."""
        return cls(dataset.expressions_file or dataset.root,
                   {video.name: video.expressions for video in dataset.videos})


@dataclass
class EvaluationPlan:
    """A validated J&F evaluation (a :class:`~groprompt.evaluation.pipeline.Plan`): the layout, its expression
    sets, the protocols scored, one job per video, and warnings to show."""

    layout: str
    sets: tuple[str, ...]
    jobs: list[VideoJob]
    protocols: tuple[str, ...]
    warnings: list[str] = field(default_factory=list)

    def scorer(self) -> Callable[[VideoJob], list[dict]]:
        return functools.partial(runner.score_video, protocols=self.protocols)

    def tables(self, rows: list[dict]) -> dict[str, pd.DataFrame]:
        return summary.jf_tables(self, rows)

    def report(self, tables: dict[str, pd.DataFrame]) -> list[str]:
        return summary.jf_report(self, tables)

    def frames(self, set_name: str) -> int:
        """Prediction frames that ``set_name`` scores (one per ground-truth frame per video or expression)."""
        return sum(len(p.paths) for job in self.jobs for p in job.predictions if p.set_name == set_name)

    def missing_frames(self, set_name: str) -> int:
        """Frames of ``set_name`` with no prediction file (scored as empty masks)."""
        return sum(p.missing_frames for job in self.jobs for p in job.predictions if p.set_name == set_name)


def detect_layout(pred_dir: Path) -> str:
    """``refdavis`` if ``pred_dir`` has ``anno_<k>`` folders; ``per-expression`` if a video folder holds folders;
    else ``davis``."""
    subdirs = _subdirs(pred_dir)
    if any(_SET_FOLDER.fullmatch(name) for name in subdirs):
        return "refdavis"
    if any(_subdirs(pred_dir / name) for name in subdirs):
        return "per-expression"
    return "davis"


def plan_evaluation(
    pred_dir: str | Path,
    gt_dir: str | Path,
    layout: str = "auto",
    expressions: str | Path | Expressions | None = None,
    allow_missing: bool = False,
    boxes: str | Path | None = None,
    protocol: str | None = None,
) -> EvaluationPlan:
    """Validate the prediction and ground-truth folders and plan the scoring, without decoding any pixel.

    Args:
        expressions: the expressions mapping each to its object, as :class:`Expressions` or the path of a
            ``meta_expressions.json``: needed by the per-expression layout, and by the refdavis layout with
            ``boxes`` (its k-th expression of an object is in set k).
        boxes: the ``boxes/`` folder of ``groprompt infer`` (per-expression and refdavis layouts): each
            expression's predicted boxes are read now and scored against the tight boxes of its object's
            ground-truth masks; in the refdavis layout each object row of set k gets the box IoU of the object's
            k-th expression (box IoU needs no assignment: it is the same under both protocols).
        protocol: label-map layouts: one of :data:`~groprompt.evaluation.protocols.PROTOCOLS`, or ``both`` /
            None for assignment and strict; the per-expression layout has its own one protocol.

    Raises:
        GroPromptError: a missing folder, video, frame or ``meta_expressions.json``; a PNG that is unreadable,
            truncated, not a label map (RGB) or of a size other than the ground truth's; a missing or malformed
            boxes file, expression or frame; a protocol the layout does not have. With ``allow_missing``, a
            missing prediction video or frame is planned as an empty mask (and a missing box as no box) instead.
    """
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    for role, folder in (("prediction", pred_dir), ("ground-truth", gt_dir)):
        if not folder.is_dir():
            raise GroPromptError(f"{role} folder does not exist", path=folder, fix=f"pass an existing {role} folder")
    refuse_infer_output(pred_dir)
    if layout == "auto":
        layout = detect_layout(pred_dir)
    if layout not in LAYOUTS:
        raise GroPromptError(f"unknown layout {layout!r}", fix=f"use one of: auto, {', '.join(LAYOUTS)}")
    protocols = layout_protocols(layout, protocol)
    if boxes is not None:
        if layout == "davis":
            raise GroPromptError(
                "box IoU is scored per expression, but davis label maps do not say which expression a box is of",
                path=pred_dir, fix="leave out --boxes, or evaluate groprompt infer's Annotations folder")
        if not Path(boxes).is_dir():
            raise GroPromptError("boxes folder does not exist", path=boxes,
                                 fix="pass the boxes/ folder that groprompt infer wrote")
        if expressions is None:
            raise GroPromptError("box IoU needs the expressions file that maps each expression to its object",
                                 path=boxes, fix="pass --expressions path/to/meta_expressions.json")
    if expressions is not None and not isinstance(expressions, Expressions):
        expressions = read_expressions(Path(expressions))
    warnings: list[str] = []
    if layout == "per-expression":
        if expressions is None:
            raise GroPromptError(
                "the per-expression layout needs the expressions file that maps each expression to its object",
                path=pred_dir, fix="pass --expressions path/to/meta_expressions.json",
            )
        jobs = _plan_per_expression(pred_dir, gt_dir, expressions, allow_missing, warnings,
                                    Path(boxes) if boxes is not None else None)
        return EvaluationPlan(layout, (SINGLE_SET,), jobs, protocols, warnings)
    set_roots = {SINGLE_SET: pred_dir} if layout == "davis" else _refdavis_sets(pred_dir, warnings)
    gt_videos = _gt_videos(gt_dir, _subdirs(gt_dir))
    set_boxes = None
    if boxes is not None:
        set_boxes = _set_boxes(Path(boxes), expressions, gt_videos, allow_missing, warnings)
    scored = _scored_frames(protocols)
    jobs = []
    for video, (gt_paths, shape) in gt_videos.items():
        if len(gt_paths[scored]) == 0:
            raise GroPromptError(
                f"the semi-supervised task scores all ground-truth frames but the first and the last; this video "
                f"has {len(gt_paths)}", video=video, path=gt_dir / video,
                fix="score it with --protocol assignment or strict, or leave the video out")
        predictions = tuple(
            Prediction(name, _prediction_paths(root / video, gt_paths[scored], shape, allow_missing, video=video),
                       object_boxes=set_boxes[video][k] if set_boxes is not None else None)
            for k, (name, root) in enumerate(set_roots.items())
        )
        jobs.append(VideoJob(video, gt_paths, shape, predictions))
    for root in set_roots.values():
        warnings += [f"prediction video {root / video} has no ground truth in {gt_dir}; ignored"
                     for video in _subdirs(root) if video not in gt_videos]
    return EvaluationPlan(layout, tuple(set_roots), jobs, protocols, warnings)


def _scored_frames(protocols: tuple[str, ...]) -> slice:
    """The ground-truth frames a prediction is read and scored on: the official semi-supervised task leaves out the
    first (whose masks are the method's input) and the last; the other protocols score every frame."""
    return slice(1, -1) if protocols == ("semi-supervised",) else slice(None)


def layout_protocols(layout: str, requested: str | None) -> tuple[str, ...]:
    """The protocols a layout is scored under: per-expression has its own one; label maps take ``requested``
    (``both`` or None: assignment and strict)."""
    if layout == "per-expression":
        if requested not in (None, "both"):
            raise GroPromptError(
                f"--protocol {requested} applies to whole-video label maps; the per-expression layout scores each "
                "expression against its own object", fix="leave --protocol out for per-expression predictions")
        return ("expression",)
    if requested in (None, "both"):
        return ("assignment", "strict")
    if requested not in PROTOCOLS:
        raise GroPromptError(f"unknown protocol {requested!r}", fix=f"use one of: both, {', '.join(PROTOCOLS)}")
    return (requested,)


def refuse_infer_output(pred_dir: Path) -> None:
    """Refuse the output folder of ``groprompt infer`` itself as ``--pred``: its videos are in its ``Annotations``
    sub-folder, and read from the top every video would be missing (and ``--allow-missing`` would score them all as
    empty masks)."""
    if (pred_dir / "Annotations").is_dir() and any((pred_dir / name).is_dir() for name in ("done", "masks")):
        raise GroPromptError(
            "the prediction folder is the output folder of groprompt infer, not its mask folder", path=pred_dir,
            fix=f"pass --pred {pred_dir / 'Annotations'}",
        )


def _refdavis_sets(pred_dir: Path, warnings: list[str]) -> dict[str, Path]:
    found = [name for name in _subdirs(pred_dir) if _SET_FOLDER.fullmatch(name)]
    for name in REFDAVIS_SETS:
        if name not in found:
            raise GroPromptError(
                f"Ref-DAVIS17 predictions need one folder per expression set ({', '.join(REFDAVIS_SETS)}); "
                f"{name} is missing", path=pred_dir / name,
                fix="write all four sets, or pass one set's folder with --layout davis",
            )
    warnings += [f"{pred_dir / name} is not a Ref-DAVIS17 expression set; ignored"
                 for name in found if name not in REFDAVIS_SETS]
    return {name: pred_dir / name for name in REFDAVIS_SETS}


def _gt_videos(gt_dir: Path, videos: Sequence[str]) -> dict[str, tuple[tuple[Path, ...], tuple[int, int]]]:
    """Each video's ground-truth frames (sorted) and their common ``(H, W)``."""
    if not videos:
        raise GroPromptError("ground-truth folder has no video folders", path=gt_dir,
                             fix="pass the annotation folder that holds <video>/<frame>.png")
    result = {}
    for video in videos:
        # Hidden names are temporary files of an interrupted atomic write, not frames.
        paths = tuple(sorted(p for p in (gt_dir / video).glob("*.png") if not p.name.startswith(".")))
        if not paths:
            raise GroPromptError("ground-truth video folder has no PNG frames", video=video, path=gt_dir / video,
                                 fix="complete the annotation folder")
        shape = label_png_size(paths[0], video=video)
        for path in paths[1:]:
            label_png_size(path, shape, video=video)
        result[video] = (paths, shape)
    return result


def _prediction_paths(
    folder: Path, gt_paths: Sequence[Path], shape: tuple[int, int], allow_missing: bool, *, video: str,
    expression: str | None = None,
) -> tuple[Path | None, ...]:
    """The prediction file of each ground-truth frame, header-checked; ``None`` where missing and allowed."""
    fix = "write a prediction for every annotated frame, or pass --allow-missing to score missing ones as empty"
    if not folder.is_dir():
        if allow_missing:
            return (None,) * len(gt_paths)
        raise GroPromptError("prediction folder is missing", video=video, expression=expression, path=folder,
                             fix=fix)
    present = set(os.listdir(folder))
    paths: list[Path | None] = []
    for gt_path in gt_paths:
        if gt_path.name not in present:
            if not allow_missing:
                raise GroPromptError("prediction frame is missing", video=video, expression=expression,
                                     frame=gt_path.stem, path=folder / gt_path.name, fix=fix)
            paths.append(None)
            continue
        label_png_size(folder / gt_path.name, shape, video=video)
        paths.append(folder / gt_path.name)
    return tuple(paths)


def label_png_size(path: Path, shape: tuple[int, int] | None = None, *, video: str | None = None) -> tuple[int, int]:
    """The ``(H, W)`` of a label-map PNG, checked from its header and its end (:func:`check_label_png`: readable,
    complete, a palette/grey-level PNG) and, when ``shape`` is given, to be that; errors name ``path``."""
    height, width = check_label_png(path, "mask PNG", video=video).size
    if shape is not None and (height, width) != shape:
        raise GroPromptError(
            f"mask is {height}x{width} (height x width) but the ground truth is {shape[0]}x{shape[1]}",
            video=video, path=path, fix="write predictions at the ground-truth resolution",
        )
    return height, width


def read_expressions(path: Path) -> Expressions:
    """Read a lone ``meta_expressions.json`` (the low-level ``--expressions`` form, where no dataset reader
    applies) with the Ref-YouTube-VOS reader's parser; every entry needs its ``obj_id``, an object label
    (1..254)."""
    from groprompt.data.refytvos import read_meta_expressions

    if not path.is_file():
        raise GroPromptError("expressions file is missing", path=path,
                             fix="pass --expressions with the meta_expressions.json of the evaluated split")
    result = read_meta_expressions(path, dataset="expressions file", with_truth=True)
    for video, expressions in result.items():
        for expression in expressions:
            if not 0 < expression.obj_id < VOID_LABEL:
                raise GroPromptError(f"obj_id {expression.obj_id} is not an object label (1..254)", video=video,
                                     expression=expression.exp_id, path=path, fix="correct the expressions file")
    return Expressions(path, result)


def _video_boxes(boxes_dir: Path, video: str, allow_missing: bool) -> dict[str, tuple[list[str], np.ndarray]]:
    """``exp_id -> (frame names, (N, 4) boxes)`` of a video's boxes CSV; empty if it is missing and allowed."""
    from groprompt.inference.outputs import read_boxes

    path = boxes_dir / f"{video}.csv"
    if not path.is_file() and allow_missing:
        return {}
    try:
        return {exp: (frames, boxes) for exp, (frames, boxes, _) in read_boxes(path).items()}
    except GroPromptError as error:
        raise GroPromptError(error.problem, video=video, path=path, fix=error.fix) from None


def _aligned_boxes(found: tuple[list[str], np.ndarray] | None, gt_paths: Sequence[Path], allow_missing: bool, *,
                   video: str, expression: str, path: Path) -> np.ndarray:
    """``(T, 4)`` predicted boxes in ground-truth frame order; nan rows for frames without one (if allowed)."""
    fix = "rerun groprompt infer to complete the boxes, or pass --allow-missing to score missing boxes as 0"
    aligned = np.full((len(gt_paths), 4), np.nan)
    if found is None:
        if allow_missing:
            return aligned
        raise GroPromptError("the boxes file has no rows for this expression", video=video, expression=expression,
                             path=path, fix=fix)
    rows = {frame: index for index, frame in enumerate(found[0])}
    for t, gt_path in enumerate(gt_paths):
        if gt_path.stem in rows:
            aligned[t] = found[1][rows[gt_path.stem]]
        elif not allow_missing:
            raise GroPromptError("the boxes file has no row for this frame", video=video, expression=expression,
                                 frame=gt_path.stem, path=path, fix=fix)
    return aligned


def _set_boxes(
    boxes_dir: Path, expressions: Expressions, gt_videos: Mapping[str, tuple[tuple[Path, ...], tuple[int, int]]],
    allow_missing: bool, warnings: list[str],
) -> dict[str, list[dict[int, tuple[str, np.ndarray]]]]:
    """Per ground-truth video, per Ref-DAVIS17 expression set, ``obj_id -> (exp_id, aligned boxes)``."""
    from groprompt.data.refdavis import EXPRESSION_SETS, expression_sets

    result = {}
    for video, (gt_paths, _) in gt_videos.items():
        sets: list[dict[int, tuple[str, np.ndarray]]] = [{} for _ in EXPRESSION_SETS]
        if video not in expressions.videos:
            warnings.append(f"ground-truth video {video} has no expressions in {expressions.path}; its Box is empty")
            result[video] = sets
            continue
        video_boxes = _video_boxes(boxes_dir, video, allow_missing)
        targets = expressions.videos[video]
        numbers = [e.expression_set for e in targets]
        if None in numbers:  # a lone expressions file: number them as the Ref-DAVIS17 reader does
            numbers = expression_sets([e.obj_id for e in targets], video=video, path=expressions.path)
        for expression, k in zip(targets, numbers, strict=True):
            sets[k][expression.obj_id] = (expression.exp_id, _aligned_boxes(
                video_boxes.get(expression.exp_id), gt_paths, allow_missing, video=video,
                expression=expression.exp_id, path=boxes_dir / f"{video}.csv"))
        result[video] = sets
    return result


def _plan_per_expression(
    pred_dir: Path, gt_dir: Path, expressions: Expressions, allow_missing: bool, warnings: list[str],
    boxes_dir: Path | None = None,
) -> list[VideoJob]:
    table = expressions.videos
    for video in table:
        if not (gt_dir / video).is_dir():
            raise GroPromptError("a video of the expressions file has no ground-truth folder", video=video,
                                 path=gt_dir / video,
                                 fix="pass the Annotations folder and meta_expressions.json of the same split")
    gt_videos = _gt_videos(gt_dir, sorted(table))
    warnings += [f"ground-truth video {gt_dir / video} has no expressions in {expressions.path}; not evaluated"
                 for video in _subdirs(gt_dir) if video not in table]
    jobs = []
    for video, (gt_paths, shape) in gt_videos.items():
        video_boxes = _video_boxes(boxes_dir, video, allow_missing) if boxes_dir is not None else None
        predictions = []
        for expression in table[video]:
            exp_id = expression.exp_id
            paths = _prediction_paths(pred_dir / video / exp_id, gt_paths, shape, allow_missing, video=video,
                                      expression=exp_id)
            boxes = None
            if video_boxes is not None:
                boxes = _aligned_boxes(video_boxes.get(exp_id), gt_paths, allow_missing, video=video,
                                       expression=exp_id, path=boxes_dir / f"{video}.csv")
            predictions.append(Prediction(SINGLE_SET, paths, expression=exp_id, referents=expression.referents,
                                          kind=expression.kind, boxes=boxes))
        jobs.append(VideoJob(video, gt_paths, shape, tuple(predictions)))
        known = {expression.exp_id for expression in table[video]}
        warnings += [f"prediction folder {pred_dir / video / name} is not an expression of {video}; ignored"
                     for name in _subdirs(pred_dir / video) if name not in known]
    warnings += [f"prediction video {pred_dir / video} is not in {expressions.path}; ignored"
                 for video in _subdirs(pred_dir) if video not in table]
    return jobs


def _subdirs(folder: Path) -> list[str]:
    """Sorted names of the sub-folders of ``folder`` (empty if it does not exist); hidden ones skipped."""
    if not folder.is_dir():
        return []
    return sorted(entry.name for entry in os.scandir(folder) if entry.is_dir() and not entry.name.startswith("."))
