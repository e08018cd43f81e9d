"""SAM 3: each expression as a text prompt over the whole video; the referent is the masklet of highest mean score.

SAM 3 (promptable concept segmentation) returns a masklet for every instance its prompt describes, while a
referring expression has exactly one referent (docs/method_spec.md §7). Of the masklets, this baseline keeps the
one whose score, averaged over the frames where SAM 3 outputs it, is highest (ties: the lowest object id, i.e.
the first detected); with no masklet every frame gets an empty mask. The mean over the frames where the object is
present, rather than over all frames, does not penalise a referent that enters late or leaves early.

The method is offline (docs/method_spec.md §6): SAM 3's tracker holds back its outputs for its first frames and
removes masklets by looking ahead ("hotstart"), and the rule above needs every frame's scores, so it is given the
whole video in :meth:`SAM3.start`. It returns masks itself (the shared SAM is not used); each frame's box is the
tight box of the chosen mask and its score the chosen masklet's score on that frame (nan where it is absent).
Per expression, ``masks/<video>.json`` records the rule, the chosen object id, its mean score, how many
masklets SAM 3 returned and the prompt sent (:meth:`SAM3.expression_records`).

The model runs through transformers' documented video API (:mod:`groprompt.tracking.sam3`). Its folder is the
option ``sam3``, not ``checkpoint``: the workflow offers every method the grounder as ``checkpoint``.

    groprompt infer --method sam3 --option sam3=PATH/sam3 --dataset-kind refdavis --data ROOT --split valid ...
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from groprompt.data.model import Expression, FrameAnnotation, Video
from groprompt.methods import FrameOutput, Method
from groprompt.tracking.sam3 import Masklet

RULE = "highest-mean-score"
"""The referent rule's name, as the records state it."""


def choose_referent(masklets: Sequence[Masklet]) -> Masklet | None:
    """The masklet of highest mean score over the frames where it is present (:attr:`Masklet.mean_score`); ties go
    to the lowest object id; None if no masklet is present on any frame."""
    present = [masklet for masklet in masklets if masklet.present.any()]
    return min(present, key=lambda masklet: (-masklet.mean_score, masklet.obj_id), default=None)


class SAM3(Method):
    """SAM 3 with the expression as text prompt, the masklet of highest mean score as the referent.

    Args:
        sam3: the SAM 3 Hugging Face folder (``config.json`` of type ``sam3_video``, ``model.safetensors``,
            ``processor_config.json``, tokenizer files), e.g. ``facebook/sam3`` saved locally.
        device: where SAM 3 runs (``cpu``, ``cuda``, ``cuda:1``).
        precision: ``fp32``, ``tf32`` or ``bf16`` (``groprompt infer --precision`` sets it).
        score_threshold_detection: keep a detection above this probability (None: the folder's config, 0.5 in
            ``facebook/sam3``).
        new_det_thresh: start a new masklet from a detection above this probability (None: the folder's config,
            0.7 in ``facebook/sam3``).
    """

    name = "sam3"
    description = ("SAM 3: the expression as text prompt over the whole video (offline); the referent is the masklet "
                   "of highest mean score, empty masks if none.")
    online = False
    outputs_masks = True

    def __init__(self, sam3: Path, device: str = "cpu", precision: str = "fp32",
                 score_threshold_detection: float | None = None, new_det_thresh: float | None = None) -> None:
        from groprompt.tracking.sam3 import Sam3Video

        self.segmenter = Sam3Video(sam3, what="SAM 3 checkpoint (option sam3)", device=device, precision=precision,
                                   thresholds={"score_threshold_detection": score_threshold_detection,
                                               "new_det_thresh": new_det_thresh})
        self.outputs: list[list[FrameOutput]] = []
        """Per frame, one output per expression: the current video's answers, computed in :meth:`start`."""
        self.records: dict[str, dict[str, Any]] = {}

    def start(self, video: Video) -> None:
        frames = [video.read_frame(index) for index in range(video.num_frames)]
        by_prompt: dict[str, tuple[list[FrameOutput], dict[str, Any]]] = {}
        columns = []
        self.records = {}
        for expression in video.expressions:
            if expression.text not in by_prompt:  # the same sentence twice is one SAM 3 run
                by_prompt[expression.text] = self._referent(frames, expression.text)
            outputs, record = by_prompt[expression.text]
            columns.append(outputs)
            self.records[expression.exp_id] = record
        self.outputs = [list(row) for row in zip(*columns, strict=True)]

    def predict(self, frame: np.ndarray, index: int, expressions: Sequence[Expression],
                ground_truth: FrameAnnotation | None = None) -> list[FrameOutput]:
        return self.outputs[index]

    def expression_records(self) -> Mapping[str, Mapping[str, Any]]:
        return self.records

    def _referent(self, frames: list[np.ndarray], text: str) -> tuple[list[FrameOutput], dict[str, Any]]:
        """Each frame's output for the prompt ``text`` and the expression's record."""
        masklets = self.segmenter.masklets(frames, text)
        chosen = choose_referent(masklets)
        record = {"rule": RULE, "masklets": len(masklets), "prompt": self.segmenter.fit_prompt(text),
                  "obj_id": None if chosen is None else chosen.obj_id,
                  "mean_score": None if chosen is None else chosen.mean_score}
        if chosen is None:
            empty = np.zeros(frames[0].shape[:2], dtype=bool)
            return [FrameOutput(box=None, mask=empty) for _ in frames], record
        return [FrameOutput.of_mask(chosen.mask(index), float(chosen.scores[index]))
                for index in range(len(frames))], record
