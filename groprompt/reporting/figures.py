"""The qualitative figure, in the style of the paper's Fig. 2: one expression of a video, a few frames, the ground
truth and each method's predicted box and mask.

It reads what ``groprompt infer`` wrote for each method (``boxes/<video>.csv``, ``masks/<video>.json``) and the
dataset's frames and ground truth, and draws with :func:`~groprompt.reporting.contact_sheet.render_sheet`: one
row per method under a ground-truth row, the ground-truth box (white, solid) on every row so each prediction
(dashed box, tinted mask) can be compared with it. The caption gives each method's box IoU and J on that
expression (mean over its annotated frames), the expression, and the dataset (SynRVOS says so, §9).

Examples are chosen deterministically: videos with ground truth in dataset order, first those with a motion
expression (the kind a per-frame prompter finds hardest, SynRVOS), each with its first such expression; then,
if more are asked for, the others with their first expression.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from groprompt.data.model import Dataset, Expression, Video, tight_box
from groprompt.data.registry import DatasetKind
from groprompt.errors import GroPromptError
from groprompt.inference.outputs import OutputLayout, read_boxes, read_masks
from groprompt.metrics import expression_box_iou, region_similarity
from groprompt.reporting.contact_sheet import BACKGROUND, GAP, PALETTE, TEXT, Overlay, render_sheet, select_frames
from groprompt.reporting.results import paper_order, row_label

GT_COLOUR = (255, 255, 255)
MOTION = "motion"


@dataclass(frozen=True)
class MethodOutputs:
    """One method's ``groprompt infer`` output folder, under its row key (see ``results.PAPER_ROWS``)."""

    key: str
    folder: Path

    @property
    def label(self) -> str:
        return row_label(self.key)

    def read(self, video: Video, expression: Expression) -> tuple[np.ndarray, np.ndarray]:
        """``(T, 4)`` predicted xyxy pixel boxes (nan: none) and ``(T, H, W)`` bool masks, in frame order."""
        layout = OutputLayout(self.folder)
        where = {"video": video.name, "expression": expression.exp_id}
        boxes_file, masks_file = layout.boxes(video.name), layout.masks(video.name)
        found = read_boxes(boxes_file).get(expression.exp_id)
        masks = read_masks(masks_file).get(expression.exp_id)
        if found is None or masks is None:
            raise GroPromptError(f"the outputs of {self.label!r} have no result for this expression", **where,
                                 path=boxes_file if found is None else masks_file,
                                 fix="rerun groprompt infer on this dataset split into that folder")
        rows = dict(zip(found[0], found[1], strict=True))
        if set(rows) != set(video.frame_names) or len(masks) != video.num_frames:
            raise GroPromptError(f"the outputs of {self.label!r} are for other frames than the dataset's", **where,
                                 path=self.folder, fix="pass the infer folder of this dataset split")
        return np.stack([rows[frame] for frame in video.frame_names]), masks


def choose_examples(dataset: Dataset, count: int = 1) -> list[tuple[Video, Expression]]:
    """``count`` (video, expression) pairs, chosen as the module docstring says; a named error if none."""
    videos = [video for video in dataset if video.has_annotations and video.expressions]
    motion = [(video, next(e for e in video.expressions if e.kind == MOTION)) for video in videos
              if any(e.kind == MOTION for e in video.expressions)]
    others = [(video, video.expressions[0]) for video in videos if all(e.kind != MOTION for e in video.expressions)]
    chosen = (motion + others)[:count]
    if not chosen:
        raise GroPromptError("no video of this split has ground truth and expressions", dataset=dataset.name,
                             path=dataset.root, fix="draw the figure from a split with annotations (e.g. valid)")
    return chosen


def example_panel(video: Video, expression: Expression, methods: Sequence[MethodOutputs], dataset: DatasetKind,
                  num_frames: int = 4) -> Image.Image:
    """The panel of one expression: a ground-truth row, then one row per method, ``num_frames`` annotated frames.
    The ground truth of an expression that refers to several objects is the union of their masks, as it is scored."""
    referents = expression.referents
    if not referents:
        raise GroPromptError("the expression names no object, so it has no ground truth to draw",
                             video=video.name, expression=expression.exp_id, fix="use a split with obj_id")
    annotated = np.flatnonzero(video.annotated_frames())
    if not annotated.size:
        raise GroPromptError("the video has no annotated frame", video=video.name, fix="choose another video")
    gt_masks = np.stack([video.annotation(int(t)).union_mask(referents, video.size) for t in annotated])
    gt_boxes = np.stack([tight_box(mask) for mask in gt_masks])
    shown = select_frames(len(annotated), num_frames)
    frames = [video.read_frame(int(annotated[i])) for i in shown]
    rows = len(methods) + 1

    def on_row(row: int, values: Sequence) -> list:
        return [v if r == row else None for r in range(rows) for v in values]

    overlays = [Overlay(GT_COLOUR, masks=on_row(0, [gt_masks[i] for i in shown]), fill=0.35),
                Overlay(GT_COLOUR, boxes=np.concatenate([gt_boxes[shown]] * rows))]
    kind = f" [{expression.kind}]" if expression.kind else ""
    objects = f"object {referents[0]}" if len(referents) == 1 else f"objects {'+'.join(map(str, referents))}"
    caption = [(f"expression{kind}: \"{expression.text}\" ({objects})", TEXT),
               ("ground truth: mask (first row) and box (solid, on every row)", GT_COLOUR)]
    row_labels = [("ground truth", GT_COLOUR)]
    for k, method in enumerate(methods, start=1):
        colour = PALETTE[(k - 1) % len(PALETTE)]
        boxes, masks = method.read(video, expression)
        boxes, masks = boxes[annotated], masks[annotated]
        box_rows = np.full((rows * len(shown), 4), np.nan)
        box_rows[k * len(shown):(k + 1) * len(shown)] = boxes[shown]
        overlays.append(Overlay(colour, masks=on_row(k, [masks[i] for i in shown]), boxes=box_rows, dashed=True))
        j = float(np.mean(region_similarity(masks, gt_masks)))
        box = expression_box_iou(boxes, gt_boxes)
        text = (f"{method.label}: predicted mask and box (dashed); box IoU {box:.2f}, J {j:.2f} over "
                f"{len(annotated)} frames")
        caption.append((text, colour))
        row_labels.append((method.label, colour))
    title = f"Qualitative comparison (paper Fig. 2 style) on {dataset.caption}: {video.split} / {video.name}"
    return render_sheet(frames * rows, overlays, frame_labels=[f"t={annotated[i]}" for i in shown] * rows,
                        title=title, caption=caption, columns=len(shown), row_labels=row_labels)


def stack_panels(panels: Sequence[Image.Image]) -> Image.Image:
    """Panels one above the other, left-aligned, on the sheets' background."""
    width = max(panel.width for panel in panels)
    height = sum(panel.height for panel in panels) + GAP * (len(panels) - 1)
    figure = Image.new("RGB", (width, height), BACKGROUND)
    top = 0
    for panel in panels:
        figure.paste(panel, (0, top))
        top += panel.height + GAP
    return figure


def qualitative_figure(dataset: Dataset, info: DatasetKind, methods: Sequence[MethodOutputs], *,
                       examples: int = 1, num_frames: int = 4, video: str | None = None) -> Image.Image:
    """The figure: ``examples`` panels (:func:`choose_examples`, or the named ``video`` with its first motion
    expression, else its first), methods in the paper's row order."""
    if not methods:
        raise GroPromptError("the figure needs at least one method's infer folder", fix="pass --method KEY=DIR")
    methods = sorted(methods, key=lambda method: paper_order(method.key))
    if video is not None:
        chosen = dataset.video(video)
        if not chosen.expressions:
            raise GroPromptError("the video has no expressions", dataset=dataset.name, video=video,
                                 fix="choose another video")
        expression = next((e for e in chosen.expressions if e.kind == MOTION), chosen.expressions[0])
        pairs = [(chosen, expression)]
    else:
        pairs = choose_examples(dataset, examples)
    return stack_panels([example_panel(v, e, methods, info, num_frames) for v, e in pairs])
