"""First-frame box: the grounder's box on the first frame, held still for the whole video.

A baseline that asks how much per-frame grounding is worth: it runs the pre-trained (or a fine-tuned) Grounding
DINO once per expression, on frame 0, and prompts SAM with that same box on every later frame. It is online
(docs/method_spec.md §6): its state comes from a past frame only. It is also the worked example of the README: a
complete method in one file, built on the harness's prompter code, found by ``groprompt methods`` because it lives in
``baselines/``.

    groprompt infer --method first-frame-box --option checkpoint=PATH --option size=tiny ...
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from groprompt.data.model import Expression, FrameAnnotation
from groprompt.methods import FrameOutput, VideoHeader
from groprompt.methods.prompter import PrompterMethod


class FirstFrameBox(PrompterMethod):
    """The top-1 box of frame 0 for every frame; options as :class:`~groprompt.methods.prompter.PrompterMethod`."""

    name = "first-frame-box"
    description = "The grounder's top-1 box on the first frame, repeated on every frame (no temporal grounding)."
    first: list[FrameOutput] | None = None
    """The outputs of frame 0 of the current video."""

    def start(self, video: VideoHeader) -> None:
        self.first = None

    def predict(self, frame: np.ndarray, index: int, expressions: Sequence[Expression],
                ground_truth: FrameAnnotation | None = None) -> list[FrameOutput]:
        if index == 0 or self.first is None:
            self.first = super().predict(frame, index, expressions)
        return self.first
