"""GT box + SAM 2: the ground-truth box on the first frame where the object appears, then SAM 2 propagation.

The semi-supervised oracle of SAM 2 (docs/method_spec.md §10): where "GT box + SAM" prompts every frame with the
ground truth, this prompts one frame (the object's first appearance; frame 0 for an object visible from the start)
and SAM 2 carries the object through the rest of the video with its memory. It bounds what a prompter that boxes
one frame well can get from SAM 2, as GT box + SAM bounds per-frame box prompters. Online (§6): the prompt comes when
the frame arrives, from that frame's ground truth; before it the object has an empty mask. An object that never
appears is never prompted: empty masks throughout.

An expression that refers to several objects (MeViS) tracks each referent as an object of its own in the video's one
session, prompted on that referent's own first frame, and its mask is the union of their propagated masks (its score
the highest of theirs). SAM 2's objects are numbered per referent in expression order, so a video whose expressions
each refer to one object tracks expression k as object k, as before.

    groprompt infer --method gt-box-sam2 --option tracker=SAM2_FOLDER --dataset-kind refdavis --data ROOT ...
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from groprompt.data.model import Expression, FrameAnnotation
from groprompt.methods import FrameOutput, Method, VideoHeader
from groprompt.tracking.sam2 import Sam2Stream, Sam2Tracker


class GTBoxSAM2(Method):
    """The ground-truth box where each referent first appears, propagated by SAM 2 (streaming, online).

    Args:
        tracker: the SAM 2 folder (a ``Sam2VideoModel`` and its processor, as ``save_pretrained`` writes them).
        device: where SAM 2 runs.
        precision: ``fp32``, ``tf32`` or ``bf16`` (``groprompt infer --precision`` sets it).
    """

    name = "gt-box-sam2"
    description = "GT box + SAM 2: the ground-truth box on the object's first frame, propagated by SAM 2 (oracle)."
    uses_ground_truth = True
    several_referents = True
    outputs_masks = True

    def __init__(self, tracker: Path, device: str = "cpu", precision: str = "fp32") -> None:
        self.tracker = Sam2Tracker(tracker, device, precision, what="SAM 2 checkpoint (option tracker)")
        self.stream: Sam2Stream | None = None
        self.objects: list[tuple[int, ...]] = []

    def start(self, video: VideoHeader) -> None:
        self.stream = self.tracker.stream()
        self.objects = tracked_objects(video.expressions)

    def predict(self, frame: np.ndarray, index: int, expressions: Sequence[Expression],
                ground_truth: FrameAnnotation | None = None) -> list[FrameOutput]:
        prompted = self.stream.session.obj_ids
        new_boxes = {}
        if ground_truth is not None:  # an unannotated frame prompts nothing
            for expression, objects in zip(expressions, self.objects, strict=True):
                for obj, referent in zip(objects, expression.referents, strict=True):
                    box = ground_truth.box(referent)
                    if obj not in prompted and box is not None:
                        new_boxes[obj] = box
        return self.stream.step(frame, new_boxes).union_outputs(self.objects, frame.shape[:2])


def tracked_objects(expressions: Sequence[Expression]) -> list[tuple[int, ...]]:
    """SAM 2's object ids of each expression, one per referent, numbered 0, 1, ... in expression and referent
    order (``[(0,), (1,), ...]`` where every expression refers to one object)."""
    numbers = itertools.count()
    return [tuple(next(numbers) for _ in expression.referents) for expression in expressions]
