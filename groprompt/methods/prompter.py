"""GroPrompt, and the shared code of every method whose boxes come from a Grounding-DINO prompter.

:class:`PrompterMethod` loads a prompter checkpoint (:func:`groprompt.prompting.build_prompter`) and returns, per
frame and expression, the box of the query of highest confidence, with no score threshold (docs/method_spec.md §1, §7:
RVOS always has one referent). It is online (§6): a frame's boxes depend on that frame and the sentences only. The
frame is resized on the prompter's device, its image backbone and input projections run once
(:meth:`groprompt.prompting.Prompter.encode_images`), and the expressions of the frame go through the text-dependent
half together, ``batch_size`` sentences per forward pass, in the run's precision (:mod:`groprompt.precision`).

The rows of Table 6 that use a prompter differ only in the checkpoint they load (§7): :class:`GroPrompt` a
fine-tuned prompter (L_box only, or L_box + L_contra), ``baselines/grounded_sam.py`` the pre-trained grounder
zero-shot. Heavy libraries are imported when a method is created, so listing methods stays fast.

**Several boxes (not in the paper).** With the option ``multi_box_threshold`` set, a frame's answer for an
expression is the top-1 box *and* every other query whose confidence exceeds the threshold (strictly, as Grounding
DINO's ``box_threshold``), for expressions that refer to several objects (MeViS). SAM decodes each box alone and the
mask is their union (:mod:`groprompt.inference.prompts`); the top-1 box is kept whatever its confidence, so a mask
never loses what the top-1 box gives. This departs from the paper's top-1 box (§7); unset (the default), the method
is the paper's, and its outputs are unchanged. ``boxes/<video>.csv`` keeps the top-1 box and its score;
``masks/<video>.json`` records every box prompted. Each extra box costs one mask-decoder pass, and near-duplicate
queries are not merged (no NMS), so a low threshold is slow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from groprompt.data.model import Expression, FrameAnnotation
from groprompt.devices import resolve_device
from groprompt.errors import GroPromptError
from groprompt.methods.base import FrameOutput, Method
from groprompt.precision import check_precision

if TYPE_CHECKING:
    from torch import Tensor
    from transformers import GroundingDinoConfig

    from groprompt.prompting import Prompter, PrompterOutput


class PrompterMethod(Method):
    """Top-1 box of a Grounding-DINO prompter per frame and expression (docs/method_spec.md §1, §7).

    Args:
        checkpoint: the prompter's weights: a Hugging Face folder (``config.json`` + ``model.safetensors``, as
            ``save_pretrained`` writes it) or an original IDEA-Research ``.pth``.
        size: the prompter size the checkpoint was made for (``swin-t``, ``swin-b``, ``tiny``); it also fixes the
            frame resize. A folder holding another size is an error.
        tokenizer: folder of the text backbone's tokenizer, if neither the checkpoint folder nor the size has one.
        device: where the prompter runs (``cpu``, ``cuda``, ``cuda:1``).
        batch_size: sentences per forward pass of the text-dependent half.
        precision: ``fp32``, ``tf32`` or ``bf16`` (``groprompt infer --precision`` sets it, for SAM too).
        multi_box_threshold: not in the paper (module docstring): also prompt SAM with every query whose confidence
            exceeds this, in [0, 1], the mask being the union; None (default): the paper's top-1 box alone.
    """

    def __init__(self, checkpoint: Path, size: str = "swin-t", tokenizer: Path | None = None, device: str = "cpu",
                 batch_size: int = 8, precision: str = "fp32", multi_box_threshold: float | None = None) -> None:
        if batch_size < 1:
            raise GroPromptError(f"method {self.name!r}: batch_size must be >= 1, got {batch_size}",
                                 fix="pass --option batch_size=8 (or any positive number)")
        if multi_box_threshold is not None and not 0.0 <= multi_box_threshold <= 1.0:
            raise GroPromptError(f"method {self.name!r}: multi_box_threshold must lie in [0, 1], got "
                                 f"{multi_box_threshold}",
                                 fix="pass --option multi_box_threshold=0.3, say, or leave it out for the top-1 box")
        self.batch_size = batch_size
        self.precision = check_precision(precision, f"method {self.name!r} option precision")
        self.multi_box_threshold = multi_box_threshold
        self.prompter = load_prompter(checkpoint, size, tokenizer, device)

    def predict(self, frame: np.ndarray, index: int, expressions: Sequence[Expression],
                ground_truth: FrameAnnotation | None = None) -> list[FrameOutput]:
        sentences = [expression.text for expression in expressions]
        if self.multi_box_threshold is None:
            boxes, scores = self.top1_boxes(frame, sentences)
            return [FrameOutput(box=box, score=float(score)) for box, score in zip(boxes, scores, strict=True)]
        boxes, scores = self.query_boxes(frame, sentences)
        return [self._top1_and_above(sentence_boxes, sentence_scores)
                for sentence_boxes, sentence_scores in zip(boxes, scores, strict=True)]

    def _top1_and_above(self, boxes: np.ndarray, scores: np.ndarray) -> FrameOutput:
        """The top-1 query's box, and as extra boxes every other query whose confidence exceeds the threshold, most
        confident first, from one sentence's ``(Q, 4)`` boxes and ``(Q,)`` confidences."""
        order = np.argsort(-scores, kind="stable")  # ties to the lowest index, as the top-1 (select_top1)
        above = order[1:][scores[order[1:]] > self.multi_box_threshold]
        return FrameOutput(box=boxes[order[0]], score=float(scores[order[0]]), extra_boxes=boxes[above],
                           extra_scores=scores[above])

    def top1_boxes(self, frame: np.ndarray, sentences: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The top-1 box of each sentence on one frame.

        Args:
            frame: ``(H, W, 3) uint8`` RGB.
            sentences: the referring expressions (normalised by the prompter).
        Returns:
            ``(K, 4)`` float32 ``(x0, y0, x1, y1)`` pixels of the frame and ``(K,)`` float32 confidences in [0, 1].
        """
        if not sentences:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        return self._prompt(frame, sentences, lambda output: (output.top_box, output.top_score))

    def query_boxes(self, frame: np.ndarray, sentences: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Every query's box and confidence for each sentence on one frame (Q queries).

        Args:
            frame: ``(H, W, 3) uint8`` RGB.
            sentences: the referring expressions (normalised by the prompter).
        Returns:
            ``(K, Q, 4)`` float32 ``(x0, y0, x1, y1)`` pixels of the frame and ``(K, Q)`` float32 confidences in
            [0, 1]; a sentence's top-1 box and confidence are :meth:`top1_boxes`' to the bit.
        """
        if not sentences:
            queries = self.prompter.detector.config.num_queries
            return np.zeros((0, queries, 4), np.float32), np.zeros((0, queries), np.float32)
        return self._prompt(frame, sentences, lambda output: (output.pred_boxes, output.scores))

    def _prompt(self, frame: np.ndarray, sentences: Sequence[str],
                pick: Callable[[PrompterOutput], tuple[Tensor, Tensor]]) -> tuple[np.ndarray, np.ndarray]:
        """Run the prompter on one frame, ``batch_size`` sentences at a time; ``pick`` takes the normalised
        ``(cx, cy, w, h)`` boxes and the confidences wanted from each pass. Returns them for every sentence, boxes
        as float32 xyxy pixels of the frame, confidences as float32."""
        import torch

        from groprompt.boxes import normalized_cxcywh_to_pixel_xyxy
        from groprompt.precision import forward_precision
        from groprompt.prompting import preprocess_frames

        height, width = frame.shape[:2]
        prompter = self.prompter
        boxes, scores = [], []
        with torch.inference_mode():
            # np.require copies a read-only frame (PIL's), which torch.from_numpy would warn about.
            uploaded = torch.from_numpy(np.require(frame[None], requirements=["C", "W"])).to(prompter.device)
            pixels = preprocess_frames(uploaded, prompter.shortest_edge, prompter.longest_edge)
            with forward_precision(self.precision, prompter.device):
                features = prompter.encode_images(pixels)
                for start in range(0, len(sentences), self.batch_size):
                    chunk = list(sentences[start:start + self.batch_size])
                    chunk_boxes, chunk_scores = pick(prompter(features, chunk, frames=[0] * len(chunk)))
                    boxes.append(chunk_boxes.cpu())
                    scores.append(chunk_scores.cpu())
        pixel_boxes = normalized_cxcywh_to_pixel_xyxy(torch.cat(boxes).numpy(), width, height)
        return pixel_boxes.astype(np.float32), torch.cat(scores).numpy().astype(np.float32)


class GroPrompt(PrompterMethod):
    """GroPrompt (Table 6): a prompter fine-tuned with L_box (and L_contra) on video clips, top-1 box per frame."""

    name = "groprompt"
    description = "GroPrompt: the fine-tuned Grounding-DINO prompter's top-1 box per frame, segmented by SAM."


def load_prompter(checkpoint: Path, size: str, tokenizer: Path | None, device: str) -> Prompter:
    """A prompter of ``size`` from ``checkpoint`` on ``device``, in eval mode, for inference.

    Raises :class:`GroPromptError` for a missing checkpoint, an unusable device, or a checkpoint folder of another
    size (the loaders of :mod:`groprompt.prompting` report other problems: missing files, wrong shapes).
    """
    from groprompt.prompting import build_prompter, prompter_config

    path = Path(checkpoint)
    if not path.exists():
        raise GroPromptError("prompter checkpoint not found", path=path,
                             fix="pass --option checkpoint=PATH: a Hugging Face folder or an original .pth")
    target = resolve_device(device)
    prompter = build_prompter(size, path, tokenizer)
    expected, found = _shape_summary(prompter_config(size)), _shape_summary(prompter.detector.config)
    differences = [f"{key}: file {found[key]}, size {size!r} {expected[key]}" for key in expected
                   if expected[key] != found[key]]
    if differences:
        raise GroPromptError(f"the prompter checkpoint is not of size {size!r} ({'; '.join(differences)})",
                             path=path, fix="set --option size= to the size the checkpoint was trained with")
    # Eval mode only: inference runs under torch.inference_mode, so requires_grad is irrelevant here (and setting
    # it False everywhere makes Prompter.train recurse through freezing.keep_frozen_parts_in_eval).
    return prompter.to(target).eval()


def _shape_summary(config: GroundingDinoConfig) -> dict[str, object]:
    """The fields that tell prompter sizes apart (backbone, widths, depths, queries)."""
    backbone = config.backbone_config
    return {
        "backbone": getattr(backbone, "model_type", None),
        "backbone widths": getattr(backbone, "embed_dim", None) or list(getattr(backbone, "hidden_sizes", []) or []),
        "backbone depths": list(getattr(backbone, "depths", []) or []),
        "text width": config.text_config.hidden_size,
        "d_model": config.d_model,
        "encoder layers": config.encoder_layers,
        "decoder layers": config.decoder_layers,
        "queries": config.num_queries,
    }
