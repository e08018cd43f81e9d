"""One clip's losses (docs/method_spec.md §2-§5, paper §3.2): the module that training differentiates.

:class:`TrainingModel` holds what trains (the prompter, frozen per §1, and the ModalCon head of §4) and the frozen
SAM segmentor (a plain attribute, not a submodule: it never trains and DistributedDataParallel must not see it).
Its forward takes one prepared clip (:func:`prepare_clip`) and returns the clip's loss terms and the objective to
back-propagate:

1. The prompter runs the T frames with S^i, and, when a contrastive weight is positive and the clip has a negative
   sentence, the same T frames with S^j in the same batch (one forward of 2T items, so DistributedDataParallel
   sees one forward per backward).
2. L_box (§2) on the query the matching selects, in normalised (cx, cy, w, h); the selected boxes, converted to
   xyxy pixels of the original frame (:mod:`groprompt.boxes`), are B^i_t.
3. TextCon (§3): SAM's frozen prompt encoder embeds B^i_t, the ground-truth box and S^j's top-1 box B^j_t.
4. ModalCon (§4): the ModalCon head attends from p^i_t over SAM's image embedding of frame t (from the
   segmentor's embedding cache, no gradient, the same entries inference uses), averaged over T: f^i; z^i and z^j
   are the detached mean text features of S^i and S^j.
5. L_total (§5). With ``lambda_f = lambda_v = 0`` nothing of 1's second half, 3 or 4 is computed.

With ``objective: detector`` (the plain fine-tuning baseline, §2) the objective is instead Grounding DINO's decoder
objective on the same boxes (:func:`groprompt.losses.detector_loss`: every decoder layer's heads re-applied to that
layer's output, class-aware matching of one query to the object's box per supervised frame, phrase focal loss, L1
and GIoU); L_box of step 2 is still computed, without entering the objective, so that both objectives' logs report
the same measure of the top-1 box.

The image backbone and input projections run once per frame of the clip, for S^i and S^j alike
(:meth:`Prompter.encode_images`); only the text-dependent half runs on the 2T items. In ``bf16`` the prompter and
the ModalCon head run under autocast and every loss is computed in float32 from their float32 outputs.

A batch of B clips is trained clip by clip with gradient accumulation. The objective of one clip is scaled so the
accumulated gradient is that of §2's batch loss: L_box averaged over the B clips, each contrastive term averaged
over the clips that have a negative sentence (the losses' own batch definitions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from groprompt.boxes import normalized_cxcywh_to_pixel_xyxy, pixel_xyxy_to_normalized_cxcywh
from groprompt.losses import (
    LayerPredictions,
    box_loss,
    decoder_layer_predictions,
    detector_loss,
    modality_contrastive_loss,
    phrase_token_mask,
    sentence_feature,
    text_contrastive_loss,
    total_loss,
)
from groprompt.precision import DEFAULT_PRECISION, autocast
from groprompt.prompting.modalcon import ModalConHead
from groprompt.prompting.prompter import Prompter, PrompterOutput, preprocess_frames
from groprompt.segmentation.segmentor import Segmentor
from groprompt.training.clips import Clip
from groprompt.training.config import TrainingConfig

LOSS_TERMS = ("l_box", "l1", "giou", "l_f", "l_v", "l_det")
"""The per-clip loss values :meth:`TrainingModel.forward` reports (unscaled, detached); ``l_det`` is the detector
objective (``objective: detector``; 0 otherwise)."""


@dataclass(frozen=True)
class ClipInputs:
    """One clip on the training device.

    Attributes:
        pixels: ``(T, 3, H', W')`` float32, the frames preprocessed for the prompter.
        boxes: ``(T, 4)`` float32 ground-truth boxes of S^i's object, xyxy pixels of the original frame (nan where
            absent).
        supervised: ``(T,)`` bool, frames with box supervision.
        frame_size: ``(H, W)`` of the original frames.
        sentence: S^i.
        negative: S^j, or None (contrastive terms skipped for this clip); always None when both weights are 0.
        visual_tokens: ``(T, C, h, w)`` float32 SAM image embeddings, present only when ModalCon is on and the
            clip has a negative.
    """

    pixels: Tensor
    boxes: Tensor
    supervised: Tensor
    frame_size: tuple[int, int]
    sentence: str
    negative: str | None
    visual_tokens: Tensor | None


def prepare_clip(clip: Clip, config: TrainingConfig, prompter: Prompter, segmentor: Segmentor | None,
                 device: torch.device) -> ClipInputs:
    """Read the clip's frames and build its :class:`ClipInputs` (frames resized as ``config`` says, §1)."""
    unique = {int(index): clip.video.view.read_frame(int(index)) for index in np.unique(clip.frames)}
    frames = np.stack([unique[int(index)] for index in clip.frames])
    shortest, longest = (config.shortest_edge, config.longest_edge) if config.shortest_edge is not None else (
        prompter.shortest_edge, prompter.longest_edge)
    negative = clip.negative.text if config.contrastive and clip.negative is not None else None
    visual = None
    if negative is not None and config.lambda_v > 0 and segmentor is not None:
        keys = [clip.video.frame_key(int(index)) for index in clip.frames]
        embeddings = segmentor.embeddings(list(frames), keys)
        visual = torch.stack([entry.embedding for entry in embeddings]).to(device, torch.float32)
    return ClipInputs(
        pixels=preprocess_frames(torch.from_numpy(frames).to(device), shortest, longest),  # resized on the device
        boxes=torch.as_tensor(clip.boxes, dtype=torch.float32, device=device),
        supervised=torch.as_tensor(clip.supervised, device=device),
        frame_size=(int(frames.shape[1]), int(frames.shape[2])),
        sentence=clip.expression.text,
        negative=negative,
        visual_tokens=visual,
    )


class TrainingModel(nn.Module):
    """The trainable prompter, the ModalCon head (None unless ``lambda_v > 0``) and the frozen segmentor.

    Args:
        prompter: the prompter, frozen per ``config.trainable`` (§1) by the caller.
        head: the ModalCon head (§4) or None.
        segmentor: the frozen SAM (needed when a contrastive weight is positive).
        config: loss choices and weights.
        precision: ``fp32``, ``tf32`` or ``bf16`` (autocast of the prompter and the head).
    """

    def __init__(self, prompter: Prompter, head: ModalConHead | None, segmentor: Segmentor | None,
                 config: TrainingConfig, precision: str = DEFAULT_PRECISION) -> None:
        super().__init__()
        self.prompter = prompter
        self.head = head
        self.segmentor = segmentor
        self.config = config
        self.precision = precision

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The parameters the optimiser updates, in a fixed order (prompter's trainable groups, then the head)."""
        return [param for param in self.parameters() if param.requires_grad]

    def forward(self, clip: ClipInputs, box_scale: float, contrastive_scale: float) -> dict[str, Tensor]:
        """The clip's loss terms and ``objective`` = L_total with L_box x ``box_scale`` and each contrastive term
        x ``contrastive_scale`` (1 / clips, 1 / clips with a negative, for gradient accumulation); with
        ``objective: detector``, the detector objective x ``box_scale``."""
        config = self.config
        frames = clip.pixels.shape[0]
        height, width = clip.frame_size
        with_negative = clip.negative is not None
        sentences = [clip.sentence] * frames + ([clip.negative] * frames if with_negative else [])
        on_frame = list(range(frames)) * (2 if with_negative else 1)  # S^j's items reuse S^i's frames
        with autocast(self.precision, clip.pixels.device):
            output = self.prompter(clip.pixels, sentences, frames=on_frame)
            layers = (decoder_layer_predictions(self.prompter.detector, output.detection, output.text_mask)
                      if config.objective == "detector" else None)

        gt_normalised = pixel_xyxy_to_normalized_cxcywh(clip.boxes, width, height)
        box = box_loss(output.pred_boxes[None, :frames], output.scores[None, :frames], gt_normalised[None],
                       clip.supervised[None], matching=config.matching, l1_weight=config.l1_weight,
                       giou_weight=config.giou_weight)
        zero = box.total.new_zeros(())
        detector = None if layers is None else self._detector_objective(output, layers, gt_normalised, clip.supervised)
        textcon = modalcon = None
        if config.contrastive:
            selected = output.pred_boxes[torch.arange(frames, device=clip.pixels.device), box.selected[0]]
            anchor = normalized_cxcywh_to_pixel_xyxy(selected, width, height)
            textcon = modalcon = zero
            if with_negative and config.lambda_f > 0:
                negative_boxes = normalized_cxcywh_to_pixel_xyxy(output.top_box[frames:], width, height)
                textcon = text_contrastive_loss(
                    anchor[None], clip.boxes[None], negative_boxes[None], clip.supervised[None],
                    lambda boxes: self.segmentor.prompt_embedding(boxes, clip.frame_size)).loss
            if with_negative and config.lambda_v > 0:
                prompts = self.segmentor.prompt_embedding(anchor, clip.frame_size)
                with autocast(self.precision, clip.pixels.device):
                    video_feature = self.head(clip.visual_tokens[None], prompts[None]).float()
                z_positive = sentence_feature(output.text_features[:1], output.text_mask[:1])
                z_negative = sentence_feature(output.text_features[frames:frames + 1],
                                              output.text_mask[frames:frames + 1])
                modalcon = modality_contrastive_loss(video_feature, z_positive, z_negative,
                                                     torch.ones(1, dtype=torch.bool, device=clip.pixels.device))
        if detector is not None:
            objective = detector * box_scale
        else:
            objective = total_loss(box.total * box_scale,
                                   None if textcon is None else textcon * contrastive_scale,
                                   None if modalcon is None else modalcon * contrastive_scale,
                                   config.lambda_f, config.lambda_v)
        terms = {"l_box": box.total, "l1": box.l1, "giou": box.giou,
                 "l_f": zero if textcon is None else textcon, "l_v": zero if modalcon is None else modalcon,
                 "l_det": zero if detector is None else detector}
        return {"objective": objective, **{name: value.detach() for name, value in terms.items()}}

    def _detector_objective(self, output: PrompterOutput, layers: LayerPredictions, gt_normalised: Tensor,
                            supervised: Tensor) -> Tensor:
        """The detector objective of the clip's T frames of S^i (``objective: detector``, §2), in float32.

        Args:
            output: the prompter's output for the T frames (no negative sentence: the objective has no L_contra).
            layers: every decoder layer's predictions for them (:func:`groprompt.losses.decoder_layer_predictions`).
            gt_normalised: ``(T, 4)`` normalised cxcywh ground truth; supervised: ``(T,)`` bool.
        """
        phrase = phrase_token_mask(output.detection.input_ids, output.text_mask,
                                   self.prompter.detector.model.special_tokens)
        predictions = LayerPredictions(layers.logits.float(), layers.boxes.float())
        return detector_loss(predictions, gt_normalised, supervised, phrase, l1_weight=self.config.l1_weight,
                             giou_weight=self.config.giou_weight).total


def clip_scales(clips: Sequence[Clip], config: TrainingConfig) -> tuple[float, float, int]:
    """``(box_scale, contrastive_scale, clips with a negative)`` of a batch (see the module docstring)."""
    with_negative = sum(clip.negative is not None for clip in clips) if config.contrastive else 0
    return 1.0 / len(clips), 1.0 / max(with_negative, 1), with_negative
