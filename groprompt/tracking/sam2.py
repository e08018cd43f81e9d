"""SAM 2 propagation of box prompts through a video (docs/method_spec.md §10), as transformers documents it.

:class:`Sam2Tracker` holds a ``Sam2VideoModel`` and its ``Sam2VideoProcessor`` loaded from a local Hugging Face
folder (``config.json``, ``model.safetensors``, ``processor_config.json`` or ``preprocessor_config.json``), checked
before anything loads. It runs the library's two documented video APIs, and nothing else touches the model:

* **streaming** (:meth:`Sam2Tracker.stream`, online): frames arrive one at a time; a box prompt may be added for a
  new object on the frame it arrives with (``processor.add_inputs_to_inference_session`` with ``original_size``,
  then ``model(session, frame_idx=t, frame=pixels)``); each frame's masks depend on that frame and earlier ones
  only. A frame that arrives before any object has been prompted is stored in the session (so frame indices stay the
  video's) but not segmented.
* **whole video** (:meth:`Sam2Tracker.track`, offline): ``processor.init_video_session(video=frames)``, box prompts
  on a frame, ``model.propagate_in_video_iterator`` forward from it and then backward (``reverse=True``) to frame 0.
  Objects prompted on the same frame share one propagation; each other prompt frame gets its own, on the same
  session after ``reset_tracking_data()`` (it keeps the processed video and the image features, which do not depend
  on the prompts), so results equal one fresh session per prompt frame.

Masks are the processor's ``post_process_masks`` at the frame's size, thresholded at 0 (SAM 2's own threshold); a
frame on which SAM 2 judges the object absent (object score logit below 0) comes out empty, as SAM 2 makes it. The
score of an object on a frame is the sigmoid of that object score logit.

Precision: the harness's one knob (:func:`groprompt.precision.forward_precision`), as for every other model: ``bf16``
autocasts the forward passes with float32 weights and session (SAM 2 keeps its memory features in bfloat16 in every
precision), ``tf32`` allows TensorFloat-32 products on CUDA, ``fp32`` is plain float32.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from groprompt.devices import resolve_device
from groprompt.errors import GroPromptError
from groprompt.hf_folders import check_hf_folder, load_pretrained
from groprompt.methods import FrameOutput
from groprompt.precision import check_precision, forward_precision

SAM2_MODEL_TYPES = ("sam2_video",)
"""``model_type`` of a SAM 2 video folder's ``config.json`` (as ``Sam2VideoModel.save_pretrained`` writes it)."""


@dataclass(frozen=True)
class FrameMasks:
    """What SAM 2 gives on one frame for the objects it tracks there.

    Attributes:
        masks: per object id, an ``(H, W)`` bool mask at the frame's size.
        scores: per object id, the object score in [0, 1] (sigmoid of SAM 2's object score logit).
    """

    masks: Mapping[int, np.ndarray]
    scores: Mapping[int, float]

    def outputs(self, count: int, size: tuple[int, int]) -> list[FrameOutput]:
        """A method's answers for objects ``0..count-1`` (each expression is the object of its position); one not
        tracked on this frame (not prompted yet) gets an empty mask and a nan score."""
        return self.union_outputs([(k,) for k in range(count)], size)

    def union_outputs(self, groups: Sequence[Sequence[int]], size: tuple[int, int]) -> list[FrameOutput]:
        """A method's answers for expressions each tracked as the objects of its group (one per referent): the union
        of the masks of the group's objects tracked on this frame, with the highest of their scores (the chance
        that any of them is there); an empty mask and a nan score where none is tracked yet."""
        answers = []
        for group in groups:
            tracked = [obj for obj in group if obj in self.masks]
            if not tracked:
                answers.append(FrameOutput.of_mask(np.zeros(size, dtype=bool)))
                continue
            mask = np.logical_or.reduce([self.masks[obj] for obj in tracked])
            answers.append(FrameOutput.of_mask(mask, max(self.scores[obj] for obj in tracked)))
        return answers


@dataclass(frozen=True)
class Masklets:
    """Whole-video results of :meth:`Sam2Tracker.track`: per object id, ``(T, H, W)`` bool masks and ``(T,)``
    float scores (every frame is segmented: the propagation runs forward and backward from the prompt frame)."""

    masks: Mapping[int, np.ndarray]
    scores: Mapping[int, np.ndarray]

    def frame(self, index: int) -> FrameMasks:
        """The masks and scores of frame ``index``."""
        return FrameMasks({obj: masks[index] for obj, masks in self.masks.items()},
                          {obj: float(scores[index]) for obj, scores in self.scores.items()})


class Sam2Tracker:
    """A SAM 2 video model and processor from a local folder, on one device, in one precision.

    Args:
        folder: the Hugging Face folder of a ``Sam2VideoModel`` and its processor.
        device: where SAM 2 runs (``cpu``, ``cuda``, ``cuda:1``).
        precision: ``fp32``, ``tf32`` or ``bf16`` (module docstring).
        what: how errors name the folder (``"SAM 2 checkpoint (option tracker)"``).
    """

    def __init__(self, folder: str | Path, device: str = "cpu", precision: str = "fp32",
                 what: str = "SAM 2 checkpoint") -> None:
        import torch
        from transformers import Sam2VideoModel, Sam2VideoProcessor

        self.precision = check_precision(precision, f"{what} precision")
        self.device = resolve_device(device)
        check_hf_folder(folder, what=what, model_types=SAM2_MODEL_TYPES, needs_processor=True)
        self.model = load_pretrained(Sam2VideoModel, folder, what=what).to(self.device, torch.float32).eval()
        self.processor = load_pretrained(Sam2VideoProcessor, folder, what=what)

    def stream(self) -> Sam2Stream:
        """A new streaming session (one per video)."""
        return Sam2Stream(self)

    def track(self, frames: Sequence[np.ndarray], prompts: Mapping[int, tuple[int, np.ndarray]]) -> Masklets:
        """Propagate box prompts through a whole video.

        Args:
            frames: the video's ``(H, W, 3) uint8`` RGB frames, in order.
            prompts: per object id, ``(frame index, (4,) xyxy pixel box)`` of its prompt.

        Returns:
            every object's masks and scores on every frame.
        """
        if not frames:
            raise GroPromptError("SAM 2 was given a video of no frames", fix="give at least one frame")
        height, width = frames[0].shape[:2]
        masks = {obj: np.zeros((len(frames), height, width), dtype=bool) for obj in prompts}
        scores = {obj: np.full(len(frames), np.nan) for obj in prompts}
        if not prompts:
            return Masklets(masks, scores)
        with forward_precision(self.precision, self.device):
            session = self.processor.init_video_session(
                video=[_writable(frame) for frame in frames], inference_device=self.device,
                max_vision_features_cache_size=len(frames))  # image features serve every prompt frame
            for start, objects in _by_prompt_frame(prompts).items():
                session.reset_tracking_data()
                # A copy: the session keeps the list it is given as its "new inputs" and empties it while tracking.
                self.processor.add_inputs_to_inference_session(
                    session, frame_idx=start, obj_ids=list(objects),
                    input_boxes=[[_box_list(prompts[o][1]) for o in objects]])
                for reverse in (False, True):
                    for output in self.model.propagate_in_video_iterator(session, start_frame_idx=start,
                                                                         reverse=reverse):
                        found = self._frame_masks(output, (height, width))
                        for obj in objects:
                            masks[obj][output.frame_idx] = found.masks[obj]
                            scores[obj][output.frame_idx] = found.scores[obj]
        return Masklets(masks, scores)

    def _frame_masks(self, output: Any, size: tuple[int, int]) -> FrameMasks:
        """An output of the model on one frame as bool masks at ``size`` and object scores."""
        import torch

        masks = self.processor.post_process_masks([output.pred_masks], original_sizes=[list(size)])[0]
        masks = masks[:, 0].cpu().numpy().astype(bool)
        scores = torch.sigmoid(output.object_score_logits.float()).reshape(-1).cpu().numpy()
        ids = list(output.object_ids)
        return FrameMasks(dict(zip(ids, masks, strict=True)), dict(zip(ids, map(float, scores), strict=True)))


class Sam2Stream:
    """One video through SAM 2's streaming API: :meth:`step` once per frame, in order (online)."""

    def __init__(self, tracker: Sam2Tracker) -> None:
        self.tracker = tracker
        self.session = tracker.processor.init_video_session(inference_device=tracker.device)
        self.index = 0

    def step(self, frame: np.ndarray, new_boxes: Mapping[int, np.ndarray] | None = None) -> FrameMasks:
        """Segment the next frame.

        Args:
            frame: ``(H, W, 3) uint8`` RGB, the frame after the previous call's (the first on the first call).
            new_boxes: per object id not prompted before, its ``(4,)`` xyxy pixel box on this frame.

        Returns:
            the masks and scores of every object prompted so far (none before the first prompt).
        """
        tracker, session, index = self.tracker, self.session, self.index
        self.index += 1
        with forward_precision(tracker.precision, tracker.device):
            inputs = tracker.processor(images=_writable(frame), device=tracker.device, return_tensors="pt")
            if new_boxes:
                objects = list(new_boxes)
                tracker.processor.add_inputs_to_inference_session(
                    session, frame_idx=index, obj_ids=objects, input_boxes=[[_box_list(new_boxes[o]) for o in objects]],
                    original_size=inputs.original_sizes[0])
            if not session.obj_ids:  # nothing to track yet: keep the frame so that indices stay the video's
                session.add_new_frame(inputs.pixel_values[0], frame_idx=index)
                return FrameMasks({}, {})
            output = tracker.model(session, frame_idx=index, frame=inputs.pixel_values[0])
        return tracker._frame_masks(output, frame.shape[:2])


def _by_prompt_frame(prompts: Mapping[int, tuple[int, np.ndarray]]) -> dict[int, list[int]]:
    """Object ids grouped by prompt frame, frames in increasing order."""
    groups: dict[int, list[int]] = {}
    for obj, (frame, _) in sorted(prompts.items(), key=lambda item: (item[1][0], item[0])):
        groups.setdefault(int(frame), []).append(obj)
    return groups


def _writable(frame: np.ndarray) -> np.ndarray:
    """The frame, copied if read-only (PIL's are), which the processor's torch.from_numpy would warn about."""
    return np.require(frame, requirements=["C", "W"])


def _box_list(box: np.ndarray) -> list[float]:
    """A ``(4,)`` xyxy pixel box as the processor takes it; a named error for anything else."""
    values = np.asarray(box, dtype=float).reshape(-1)
    if values.shape != (4,) or not np.isfinite(values).all():
        raise GroPromptError(f"a SAM 2 box prompt must be 4 finite numbers (x0, y0, x1, y1), got {box!r}",
                             fix="prompt only frames where the box is known")
    return values.tolist()
