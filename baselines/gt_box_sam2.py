"""GT box + SAM 2: the ground-truth box on the first frame where the object appears, then SAM 2 propagation.

The semi-supervised oracle of SAM 2 (docs/method_spec.md §10): where "GT box + SAM" prompts every frame with the
ground truth, this prompts one frame (the object's first appearance; frame 0 for an object visible from the start)
and SAM 2 carries the object through the rest of the video with its memory. It bounds what a prompter that boxes
one frame well can get from SAM 2, as GT box + SAM bounds per-frame box prompters. Online (§6): the prompt comes when
the frame arrives, from that frame's ground truth; before it the object has an empty mask. An object that never
appears is never prompted: empty masks throughout.

    groprompt infer --method gt-box-sam2 --option tracker=SAM2_FOLDER --dataset-kind refdavis --data ROOT ...
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from groprompt.data.model import Expression, FrameAnnotation
from groprompt.methods import FrameOutput, Method, VideoHeader
from groprompt.tracking.sam2 import Sam2Stream, Sam2Tracker


class GTBoxSAM2(Method):
    """The ground-truth box where the object first appears, propagated by SAM 2 (streaming, online).

    Args:
        tracker: the SAM 2 folder (a ``Sam2VideoModel`` and its processor, as ``save_pretrained`` writes them).
        device: where SAM 2 runs.
        precision: ``fp32``, ``tf32`` or ``bf16`` (``groprompt infer --precision`` sets it).
    """

    name = "gt-box-sam2"
    description = "GT box + SAM 2: the ground-truth box on the object's first frame, propagated by SAM 2 (oracle)."
    uses_ground_truth = True
    outputs_masks = True

    def __init__(self, tracker: Path, device: str = "cpu", precision: str = "fp32") -> None:
        self.tracker = Sam2Tracker(tracker, device, precision, what="SAM 2 checkpoint (option tracker)")
        self.stream: Sam2Stream | None = None

    def start(self, video: VideoHeader) -> None:
        self.stream = self.tracker.stream()

    def predict(self, frame: np.ndarray, index: int, expressions: Sequence[Expression],
                ground_truth: FrameAnnotation | None = None) -> list[FrameOutput]:
        prompted = self.stream.session.obj_ids
        new_boxes = {}
        if ground_truth is not None:  # an unannotated frame prompts nothing
            for k, expression in enumerate(expressions):
                box = ground_truth.box(expression.obj_id)
                if k not in prompted and box is not None:
                    new_boxes[k] = box
        return self.stream.step(frame, new_boxes).outputs(len(expressions), frame.shape[:2])
