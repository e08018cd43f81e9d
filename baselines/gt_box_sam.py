"""GT box + SAM (Table 6): the upper bound of any box prompter with this segmentor.

Each frame's box is the tight box of the referred object's ground-truth mask; where the object is absent from the
frame (or the frame has no annotation) there is no box, hence an empty mask (docs/method_spec.md §7). The method is an
oracle (``uses_ground_truth``): ``groprompt infer`` refuses it on a split without ground truth before any work.

    groprompt infer --method gt-box-sam --dataset-kind refdavis --data ROOT --split valid ...
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from groprompt.data.model import Expression, FrameAnnotation
from groprompt.methods import FrameOutput, Method


class GTBoxSAM(Method):
    """The tight box (xyxy pixels, exclusive ends) of the ground-truth mask; None where the object is absent."""

    name = "gt-box-sam"
    description = "GT box + SAM: the tight box of the ground-truth mask, empty mask where absent (upper bound)."
    uses_ground_truth = True

    def predict(self, frame: np.ndarray, index: int, expressions: Sequence[Expression],
                ground_truth: FrameAnnotation | None = None) -> list[FrameOutput]:
        if ground_truth is None:  # a frame without annotation: no box, hence an empty mask
            return [FrameOutput(box=None) for _ in expressions]
        return [FrameOutput(box=ground_truth.box(expression.obj_id)) for expression in expressions]
