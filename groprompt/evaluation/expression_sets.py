"""Ref-DAVIS17's four expression sets from per-expression predictions (docs/method_spec.md §8).

``groprompt infer`` writes one mask per expression and frame. The Ref-DAVIS17 protocol scores, for each expression
set k (annotator 1 / 2 x first-frame / full-video), one DAVIS label map per frame in which every object's pixels
come from its k-th expression. This module builds those maps: ``anno_<k>/<video>/<frame>.png``, value = the object
id of the expression whose mask covers the pixel. Where the masks of several expressions overlap, the pixel goes
to the expression whose box has the higher score on that frame (ties and missing scores: the earlier expression in
the dataset's order). ``groprompt evaluate`` then detects the ``anno_k`` layout and runs the assignment and strict
protocols per set and averages the four.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from groprompt.data.model import Dataset, Video
from groprompt.data.refdavis import EXPRESSION_SETS
from groprompt.errors import GroPromptError
from groprompt.inference.outputs import OutputLayout, read_boxes, read_masks
from groprompt.masks import write_label_png
from groprompt.safe_names import check_video_names, check_within


def set_label_maps(video: Video, masks: dict[str, np.ndarray], scores: dict[str, np.ndarray],
                   expression_set: int) -> np.ndarray:
    """``(T, H, W) uint8`` label maps of one expression set of ``video``.

    Args:
        masks: ``exp_id -> (T, H, W) bool`` predicted masks.
        scores: ``exp_id -> (T,)`` box scores (nan where the method gave none).
        expression_set: k in 0..3.
    """
    height, width = video.size
    labels = np.zeros((video.num_frames, height, width), dtype=np.uint8)
    best = np.full((video.num_frames, 1, 1), -np.inf)
    for expression in video.expressions:
        if expression.expression_set != expression_set:
            continue
        mask = masks.get(expression.exp_id)
        if mask is None or mask.shape != labels.shape:
            raise GroPromptError(
                "the predictions lack this expression, or its masks have another shape than the video",
                dataset=video.dataset, video=video.name, expression=expression.exp_id,
                fix="rerun groprompt infer on this split",
            )
        # A missing score still claims unclaimed pixels (finite and below every real score), never claimed ones.
        score = np.nan_to_num(scores[expression.exp_id], nan=np.finfo(float).min)[:, None, None]
        claim = mask & (score > best)
        labels[claim] = expression.obj_id
        best = np.where(claim, score, best)
    return labels


def write_expression_sets(dataset: Dataset, predictions: str | Path, out: str | Path) -> int:
    """Write ``out/anno_<k>/<video>/<frame>.png`` for the four sets from an infer output folder; returns PNGs written.

    ``dataset`` must be read with :func:`groprompt.data.load_refdavis` (it numbers each object's expressions).
    """
    layout, out = OutputLayout(Path(predictions)), Path(out)
    if any(e.expression_set is None for _, e in dataset.expressions()):
        raise GroPromptError("the dataset's expressions carry no Ref-DAVIS17 expression set", dataset=dataset.name,
                             fix="read the dataset as refdavis (--dataset-kind refdavis)")
    for video in dataset.videos:  # every path, before anything is written
        check_video_names(video, path=out)
        for expression_set in range(len(EXPRESSION_SETS)):
            check_within(out, out / f"anno_{expression_set}" / video.name, "expression-set folder",
                         dataset=dataset.name, video=video.name)
    written = 0
    for video in tqdm(dataset.videos, desc="expression sets", unit="video"):
        masks = read_masks(layout.masks(video.name))
        scores = {exp_id: score for exp_id, (_, _, score) in read_boxes(layout.boxes(video.name)).items()}
        for expression_set in range(len(EXPRESSION_SETS)):
            labels = set_label_maps(video, masks, scores, expression_set)
            for frame, label_map in zip(video.frame_names, labels, strict=True):
                write_label_png(out / f"anno_{expression_set}" / video.name / f"{frame}.png", label_map)
                written += 1
    return written
