"""GT box + SAM (Table 6): the upper bound of any box prompter with this segmentor.

Each frame's box is the tight box of the referred object's ground-truth mask; where the object is absent from the
frame (or the frame has no annotation) there is no box, hence an empty mask (docs/method_spec.md §7). An expression
that refers to several objects (MeViS) gets each present referent's own tight box, in the order of its referents:
SAM decodes each box alone and the mask is their union (the path of the prompters' ``multi_box_threshold``,
:mod:`groprompt.inference.prompts`); ``boxes/<video>.csv`` holds the first present referent's box (so its Box is
that box against the union's tight box), and ``masks/<video>.json`` records every box prompted. The method is an
oracle (``uses_ground_truth``): ``groprompt infer`` refuses it on a split without ground truth before any work.

    groprompt infer --method gt-box-sam --dataset-kind refdavis --data ROOT --split valid ...
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from groprompt.data.model import Expression, FrameAnnotation
from groprompt.methods import FrameOutput, Method


class GTBoxSAM(Method):
    """The tight box (xyxy pixels, exclusive ends) of the ground-truth mask; None where the object is absent. With
    several referents, the first present one's box and the others' as extra boxes."""

    name = "gt-box-sam"
    description = "GT box + SAM: the tight box of the ground-truth mask, empty mask where absent (upper bound)."
    uses_ground_truth = True
    several_referents = True

    def predict(self, frame: np.ndarray, index: int, expressions: Sequence[Expression],
                ground_truth: FrameAnnotation | None = None) -> list[FrameOutput]:
        if ground_truth is None:  # a frame without annotation: no box, hence an empty mask
            return [FrameOutput(box=None) for _ in expressions]
        return [FrameOutput(box=ground_truth.box(expression.obj_id)) if len(expression.referents) == 1
                else _every_referent(ground_truth, expression.referents) for expression in expressions]


def _every_referent(truth: FrameAnnotation, referents: tuple[int, ...]) -> FrameOutput:
    """The boxes of the referents present on the frame: the first as the box, the others as extra boxes (``(0, 4)``
    when one is present, so the record lists it); no box where none is."""
    boxes = [box for obj_id in referents if (box := truth.box(obj_id)) is not None]
    if not boxes:
        return FrameOutput(box=None)
    return FrameOutput(box=boxes[0], extra_boxes=np.array(boxes[1:], dtype=float).reshape(-1, 4))
