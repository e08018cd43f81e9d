"""Grounded-SAM-2: the grounder's top-1 box on one frame, then SAM 2 propagates the mask through the video.

What "Grounded-SAM" now usually means on video (docs/method_spec.md §10): the same Grounding DINO as Grounded-SAM
and GroPrompt (any of their checkpoints: the pre-trained grounder, or a fine-tuned GroPrompt prompter, which makes
"GroPrompt + SAM 2"), but the box prompts SAM 2 once and SAM 2's memory carries the object, instead of a box per
frame for SAM. One masklet per expression. Which frame is prompted is the option ``prompt_frame``:

* ``first`` (default, online): frame 0, the grounder's top-1 box for each expression; SAM 2 streams the video.
* ``best`` (offline): for each expression, the frame where the grounder's top-1 score is highest (the earliest on a
  tie); SAM 2 propagates forward from it and backward to frame 0. Needs the whole video before the first mask.

Per expression, ``masks/<video>.json`` records the prompt frame, the grounder's top-1 box there and its score
(:meth:`GroundedSAM2.expression_records`).

    groprompt infer --method grounded-sam-2 --option checkpoint=GROUNDER --option tracker=SAM2_FOLDER ...
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from groprompt.data.model import Expression, FrameAnnotation, Video
from groprompt.errors import GroPromptError
from groprompt.methods import FrameOutput, VideoHeader
from groprompt.methods.prompter import PrompterMethod
from groprompt.tracking.sam2 import Masklets, Sam2Stream, Sam2Tracker

PROMPT_FRAMES = ("first", "best")


class GroundedSAM2(PrompterMethod):
    """Top-1 grounder box on one frame per expression, propagated by SAM 2.

    Args:
        checkpoint, size, tokenizer, batch_size: the grounder, as :class:`~groprompt.methods.prompter.PrompterMethod`.
        tracker: the SAM 2 folder (a ``Sam2VideoModel`` and its processor, as ``save_pretrained`` writes them).
        prompt_frame: ``first`` (online) or ``best`` (offline), see the module docstring.
        device: where the grounder and SAM 2 run.
        precision: ``fp32``, ``tf32`` or ``bf16`` for both (``groprompt infer --precision`` sets it).
    """

    name = "grounded-sam-2"
    description = ("Grounded-SAM-2: the grounder's top-1 box on the first frame (or, prompt_frame=best, its most "
                   "confident frame; offline), propagated through the video by SAM 2.")
    outputs_masks = True

    def __init__(self, checkpoint: Path, tracker: Path, prompt_frame: str = "first", size: str = "swin-t",
                 tokenizer: Path | None = None, device: str = "cpu", batch_size: int = 8,
                 precision: str = "fp32") -> None:
        if prompt_frame not in PROMPT_FRAMES:
            raise GroPromptError(f"method {self.name!r}: unknown prompt_frame {prompt_frame!r}",
                                 fix=f"pass --option prompt_frame= one of {', '.join(PROMPT_FRAMES)}")
        self.prompt_frame = prompt_frame
        self.online = prompt_frame == "first"  # the runner gives an offline method the whole video in start()
        self.tracker = Sam2Tracker(tracker, device, precision, what="SAM 2 checkpoint (option tracker)")
        super().__init__(checkpoint, size, tokenizer, device, batch_size, precision)
        self.stream: Sam2Stream | None = None
        self.masklets: Masklets | None = None
        self.prompts: dict[str, dict[str, object]] = {}
        """Per expression id of the current video: its prompt frame, box and grounder score."""

    def start(self, video: VideoHeader | Video) -> None:
        self.prompts = {}
        if self.online:
            self.stream = self.tracker.stream()
        else:
            self.masklets = self._track_from_best_frames(video)

    def expression_records(self) -> dict[str, dict[str, object]]:
        return self.prompts

    def predict(self, frame: np.ndarray, index: int, expressions: Sequence[Expression],
                ground_truth: FrameAnnotation | None = None) -> list[FrameOutput]:
        if self.online:
            new_boxes = {}
            if index == 0:
                boxes, scores = self.top1_boxes(frame, [expression.text for expression in expressions])
                new_boxes = dict(enumerate(boxes))
                self._record(expressions, [0] * len(expressions), boxes, scores)
            found = self.stream.step(frame, new_boxes)
        else:
            found = self.masklets.frame(index)
        return found.outputs(len(expressions), frame.shape[:2])

    def _track_from_best_frames(self, video: Video) -> Masklets:
        """Every frame through the grounder, each expression's most confident frame as its prompt, then SAM 2."""
        sentences = [expression.text for expression in video.expressions]
        frames, boxes, scores = [], [], []
        for index in range(video.num_frames):
            frames.append(video.read_frame(index))
            frame_boxes, frame_scores = self.top1_boxes(frames[-1], sentences)
            boxes.append(frame_boxes)
            scores.append(frame_scores)
        best = np.argmax(np.stack(scores), axis=0)  # (K,): the first maximum, so the earliest frame on a tie
        prompts = {k: (int(best[k]), boxes[best[k]][k]) for k in range(len(sentences))}
        self._record(video.expressions, [int(t) for t in best], [boxes[t][k] for k, t in enumerate(best)],
                     [scores[t][k] for k, t in enumerate(best)])
        return self.tracker.track(frames, prompts)

    def _record(self, expressions: Sequence[Expression], frames: Sequence[int], boxes: Sequence[np.ndarray],
                scores: Sequence[float]) -> None:
        """Each expression's prompt: frame, box (xyxy pixels) and the grounder's top-1 score there."""
        self.prompts = {expression.exp_id: {"prompt_frame": self.prompt_frame, "frame": frame,
                                            "box": [round(float(v), 2) for v in box], "score": float(score)}
                        for expression, frame, box, score in zip(expressions, frames, boxes, scores, strict=True)}

