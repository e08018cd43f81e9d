"""What a method is: :class:`Method`, what it is shown of a video (:class:`VideoHeader`) and what it answers per frame
(:class:`FrameOutput`).

A *method* turns a video and its referring expressions into one box per frame per expression (pixels, with a
score); the shared frozen segmentor turns boxes into masks. A method may also give further boxes for an expression on
a frame (an expression that refers to several objects): the segmentor decodes each alone and the frame's mask is the
union. A method that segments end to end may return masks itself, and then the segmentor is skipped for it.

Methods are online by default (``docs/method_spec.md`` §6): the runner shows a method one frame at a time, in order,
together with every expression of the video, and a method never receives a future frame. A method that needs the
whole video declares ``online = False`` and is then given the :class:`~groprompt.data.Video` itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from groprompt.data.model import Expression, FrameAnnotation, Video, tight_box


@dataclass(frozen=True)
class FrameOutput:
    """A method's answer for one expression on one frame.

    Attributes:
        box: ``(4,)`` float ``(x0, y0, x1, y1)`` pixels of the frame, or None for "no box on this frame" (the
            object is judged absent: the frame gets an empty mask).
        score: the method's confidence in the box (nan when it has none).
        mask: ``(H, W)`` bool for methods that segment end to end (``Method.outputs_masks``); None otherwise.
        extra_boxes: ``(M, 4)`` float xyxy pixel boxes that SAM decodes besides ``box``, each alone; the frame's
            mask is the union of the ``M + 1`` masks, and ``masks/<video>.json`` records every box prompted. Only
            beside a ``box``, and not for methods that segment; None (the default) or ``(0, 4)``: ``box`` alone.
        extra_scores: ``(M,)`` the method's confidence in each of ``extra_boxes`` (None: none).
    """

    box: np.ndarray | None
    score: float = float("nan")
    mask: np.ndarray | None = None
    extra_boxes: np.ndarray | None = None
    extra_scores: np.ndarray | None = None

    @classmethod
    def of_mask(cls, mask: np.ndarray, score: float = float("nan")) -> FrameOutput:
        """The answer of a method that segments: ``mask`` (``(H, W)`` bool) with its tight box as the box (the
        "Box" metrics score it), None where the mask is empty."""
        return cls(box=tight_box(mask) if mask.any() else None, score=score, mask=mask)


@dataclass(frozen=True)
class VideoHeader:
    """What an online method may know about a video before seeing its frames: no pixels, no ground truth."""

    dataset: str
    name: str
    size: tuple[int, int]
    num_frames: int
    expressions: tuple[Expression, ...]

    @classmethod
    def of(cls, video: Video) -> VideoHeader:
        return cls(video.dataset, video.name, video.size, video.num_frames, video.expressions)


class Method(ABC):
    """A prompter. Subclass it, set ``name`` and ``description``, implement :meth:`predict`.

    Options from the workflow config arrive as keyword arguments of ``__init__``; type them, and the registry
    checks a config against the signature (an unknown option is an error naming the valid ones).
    """

    name: ClassVar[str]
    """The registry name (``groprompt infer --method NAME``)."""
    description: ClassVar[str]
    """One line for ``groprompt methods``."""
    online: ClassVar[bool] = True
    """Online methods see frames one at a time, in order; offline ones receive the whole video in :meth:`start`."""
    outputs_masks: ClassVar[bool] = False
    """True for methods that return masks themselves; the shared segmentor is then skipped."""
    uses_ground_truth: ClassVar[bool] = False
    """True for oracles (GT box + SAM): :meth:`predict` then receives the frame's ground truth."""
    several_referents: ClassVar[bool] = False
    """Oracles only: True if :meth:`predict` reads every referent of an expression that refers to several objects
    (:attr:`Expression.referents <groprompt.data.Expression.referents>`). An oracle that reads ``obj_id`` alone is
    refused such expressions (MeViS) before any frame is read."""

    def start(self, video: VideoHeader | Video) -> None:  # noqa: B027 - optional hook, empty by default
        """Called once per video before its first frame: a :class:`VideoHeader` if online, the Video if offline."""

    @abstractmethod
    def predict(
        self,
        frame: np.ndarray,
        index: int,
        expressions: Sequence[Expression],
        ground_truth: FrameAnnotation | None = None,
    ) -> list[FrameOutput]:
        """One :class:`FrameOutput` per expression, in order, for frame ``index`` (``(H, W, 3) uint8`` RGB)."""

    def expression_records(self) -> Mapping[str, Mapping[str, Any]]:
        """What the method knows about each expression of the video it just ran that per-frame boxes and scores
        cannot hold (say, which of several candidates it chose and by which rule), by ``exp_id``, as JSON values
        (no nan: write None). Called once per video after its last frame; the runner writes it into the video's
        ``masks/<video>.json`` under ``"records"``. None by default."""
        return {}
