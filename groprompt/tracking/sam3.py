"""SAM 3 over a video from a text prompt: the masklets of every instance (transformers' ``Sam3VideoModel``).

Promptable concept segmentation: given a video and a text prompt, SAM 3 detects every instance of the prompt on
each frame, tracks it with its memory and returns *masklets*: object ids, each with a mask and a score on the
frames where the object is present. :class:`Sam3Video` loads ``Sam3VideoModel`` and ``Sam3VideoProcessor`` from a
local Hugging Face folder (checked before anything loads: :mod:`groprompt.hf_folders`) and runs the library's
documented pre-loaded video API unchanged, one session per prompt::

    session = processor.init_video_session(video=frames, inference_device=device, processing_device="cpu",
                                           video_storage_device="cpu")
    processor.add_text_prompt(inference_session=session, text=prompt)
    for output in model.propagate_in_video_iterator(inference_session=session):
        result = processor.postprocess_outputs(session, output)   # object_ids, scores, masks of one frame

so the masklets are the library's (``tests/test_baseline_sam3.py`` checks equality on a tiny random model). Two
things around that call are the wrapper's:

* **No download.** On first use transformers fetches an optional kernel (``kernels-community/cv-utils``) from the
  Hub for the detector's mask NMS, hole filling and sprinkle removal, and skips those three steps where it cannot
  get it. The harness downloads nothing at run time, so the wrapper marks the kernel unavailable before it runs:
  the library then takes that fallback on every machine, and masks do not depend on whether a machine could reach
  the Hub.
* **Long prompts.** ``add_text_prompt`` pads every prompt to the text encoder's 32 positions and does not truncate:
  a longer prompt is an error inside the model. :meth:`Sam3Video.fit_prompt` keeps the longest word prefix that
  fits, and the caller records the prompt used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from groprompt.devices import resolve_device
from groprompt.errors import GroPromptError
from groprompt.hf_folders import check_hf_folder, load_pretrained
from groprompt.precision import check_precision

MODEL_TYPES = ("sam3_video",)
"""``model_type`` of a SAM 3 video folder (``facebook/sam3`` holds one; the image model loads from it too)."""
TOKENIZER_CONFIG = "tokenizer_config.json"
VOCABULARIES = (("tokenizer.json",), ("vocab.json", "merges.txt"))
"""Either file set holds the CLIP tokenizer's vocabulary; without one the tokenizer would load with three tokens."""
THRESHOLDS = ("score_threshold_detection", "new_det_thresh")
"""The detection thresholds a user may change (``Sam3VideoConfig``: keep a detection above the first, start a new
masklet from one above the second; library defaults 0.5 and 0.7)."""


@dataclass(frozen=True)
class Masklet:
    """One object SAM 3 found for a prompt, over a video of T frames.

    Attributes:
        obj_id: the library's object id (ids are given in order of first detection).
        scores: ``(T,)`` float64, the object's score on each frame where the library outputs it, nan elsewhere.
        masks: frame index -> ``(H, W)`` bool mask at the frame's size, for the frames where it is output.
        size: ``(H, W)`` of the frames.
    """

    obj_id: int
    scores: np.ndarray
    masks: dict[int, np.ndarray]
    size: tuple[int, int]

    @property
    def present(self) -> np.ndarray:
        """``(T,)`` bool: the frames where the object is output."""
        return ~np.isnan(self.scores)

    @property
    def mean_score(self) -> float:
        """The mean score over the frames where the object is present (nan if none)."""
        present = self.scores[self.present]
        return float(present.mean()) if present.size else float("nan")

    def mask(self, index: int) -> np.ndarray:
        """``(H, W)`` bool mask on frame ``index``; all False where the object is absent."""
        found = self.masks.get(index)
        return found if found is not None else np.zeros(self.size, dtype=bool)


class Sam3Video:
    """A SAM 3 video model and its processor, loaded from a local folder, in inference mode.

    Args:
        folder: the Hugging Face folder (``config.json`` of model type ``sam3_video``, ``model.safetensors``,
            ``processor_config.json``, the tokenizer's files), as ``save_pretrained`` writes it.
        what: the folder as the user knows it, for messages (``"SAM 3 checkpoint (option sam3)"``).
        device: where the model runs; frames are prepared and stored on the CPU, as in the library's example.
        precision: ``fp32``, ``tf32`` or ``bf16`` (:mod:`groprompt.precision`; bf16 is autocast, weights stay
            float32).
        thresholds: overrides of :data:`THRESHOLDS`, in [0, 1]; the folder's config values otherwise.
    """

    def __init__(self, folder: str | Path, *, what: str = "SAM 3 checkpoint", device: str = "cpu",
                 precision: str = "fp32", thresholds: dict[str, float] | None = None) -> None:
        self.precision = check_precision(precision, f"{what}: precision")
        thresholds = _checked_thresholds(thresholds or {}, what)
        self.device = resolve_device(device)
        check_hf_folder(folder, what=what, model_types=MODEL_TYPES, needs_processor=True,
                        extra_files=(TOKENIZER_CONFIG,))
        _check_vocabulary(Path(folder), what)
        from transformers import Sam3VideoModel, Sam3VideoProcessor

        _without_hub_kernel()
        self.model = load_pretrained(Sam3VideoModel, folder, what=what, **thresholds).to(self.device).eval()
        self.processor = load_pretrained(Sam3VideoProcessor, folder, what=what)
        self.context = self.model.config.detector_config.text_config.max_position_embeddings
        """Tokens the text encoder takes, its special tokens included."""

    def fit_prompt(self, text: str) -> str:
        """``text`` if it tokenizes into :attr:`context` tokens or fewer, else its longest word prefix that does."""
        if len(self.processor.tokenizer(text).input_ids) <= self.context:
            return text
        words = text.split()
        for count in range(len(words) - 1, 0, -1):
            prompt = " ".join(words[:count])
            if len(self.processor.tokenizer(prompt).input_ids) <= self.context:
                return prompt
        raise GroPromptError(f"the prompt {text!r} does not fit SAM 3's {self.context}-token text encoder, even its "
                             "first word", fix="shorten the expression")

    def masklets(self, frames: Sequence[np.ndarray], prompt: str) -> list[Masklet]:
        """The masklets of ``prompt`` (fitted with :meth:`fit_prompt`) over ``frames``, ``(H, W, 3) uint8`` RGB in
        video order, by increasing object id; empty if SAM 3 finds nothing."""
        from groprompt.precision import forward_precision

        if not frames:
            raise GroPromptError("SAM 3 was given a video of no frames", fix="give at least one frame")
        size = tuple(frames[0].shape[:2])
        session = self.processor.init_video_session(video=list(frames), inference_device=self.device,
                                                    processing_device="cpu", video_storage_device="cpu")
        self.processor.add_text_prompt(inference_session=session, text=self.fit_prompt(prompt))
        scores: dict[int, np.ndarray] = {}
        masks: dict[int, dict[int, np.ndarray]] = {}
        with forward_precision(self.precision, self.device):
            for output in self.model.propagate_in_video_iterator(inference_session=session):
                result = self.processor.postprocess_outputs(session, output)
                frame_masks = result["masks"].cpu().numpy()
                for k, obj_id in enumerate(result["object_ids"].tolist()):
                    scores.setdefault(obj_id, np.full(len(frames), np.nan))[output.frame_idx] = float(
                        result["scores"][k])
                    masks.setdefault(obj_id, {})[output.frame_idx] = frame_masks[k]
        return [Masklet(obj_id, scores[obj_id], masks[obj_id], size) for obj_id in sorted(scores)]


def _checked_thresholds(thresholds: dict[str, float], what: str) -> dict[str, float]:
    """The overrides that are set, each a number in [0, 1]; a named error otherwise."""
    chosen = {name: value for name, value in thresholds.items() if value is not None}
    for name, value in chosen.items():
        if name not in THRESHOLDS:
            raise GroPromptError(f"{what}: unknown threshold {name!r}", fix=f"use one of: {', '.join(THRESHOLDS)}")
        if not 0.0 <= float(value) <= 1.0:
            raise GroPromptError(f"{what}: {name}={value} is not a probability",
                                 fix=f"give {name} between 0 and 1")
    return {name: float(value) for name, value in chosen.items()}


def _check_vocabulary(folder: Path, what: str) -> None:
    """Refuse a folder whose tokenizer has no vocabulary file (:data:`VOCABULARIES`)."""
    if not any(all((folder / name).is_file() for name in names) for names in VOCABULARIES):
        raise GroPromptError(f"{what} folder lacks the tokenizer's vocabulary (tokenizer.json, or vocab.json and "
                             "merges.txt)", path=folder,
                             fix="copy the whole folder written by save_pretrained of the model and its processor")


def _without_hub_kernel() -> None:
    """Mark transformers' optional SAM 3 kernel as unavailable, so the library never fetches it (module docstring).

    The library keeps the outcome of its one attempt to load the kernel in this module variable (None: not tried,
    False: unavailable); setting it to False is taking its own fallback without the attempt.
    """
    from transformers.models.sam3_video import modeling_sam3_video

    modeling_sam3_video.cv_utils_kernel = False
