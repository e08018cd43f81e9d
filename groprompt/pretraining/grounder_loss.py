"""The objective of the grounder's pre-training: dense encoder supervision plus Grounding DINO's decoder term.

Recipe of ``docs/stack_notes.md`` ("A stand-in grounder recipe that does learn on this CPU"). GroPrompt's fine-tuning
uses L_box (docs/method_spec.md §2); its plain fine-tuning baseline (``objective: detector``) uses the same decoder
term as here, without the encoder term.

A sentence may name several boxes of its frame (a grounding phrase names every object it fits): every one of them is
supervised, as Grounding DINO's own objective supervises every box a phrase names.

* **Encoder term** (two-stage proposals, one per encoder token): FCOS-style positives for any of the image's boxes,
  each assigned the least-area box that claims it (:func:`~groprompt.pretraining.dense_targets.assign_tokens`);
  sigmoid focal loss (alpha 0.25, gamma 2, weight 2) of every token against the phrase tokens, target 1 at
  positives; L1 (weight 5) and GIoU (weight 2) of the positives' proposal boxes against their assigned box; all
  three divided by the number of positives.
* **Decoder term**, on every decoder layer (:func:`groprompt.losses.detector.decoder_term`): per image, a
  one-to-one matching of queries to the image's boxes of least total cost ``5 L1 - 2 GIoU - mean phrase score``
  (Hungarian; with one box, the query of least cost); focal (2) with target 1 at the matched queries, L1 (5) and
  GIoU (2) of their boxes; divided by the number of boxes.

Boxes: model outputs and targets are normalised ``(cx, cy, w, h)``; GIoU is taken on normalised corners. L1 is
summed over the four coordinates.
"""

from __future__ import annotations

import torch
from torch import Tensor
from transformers import GroundingDinoForObjectDetection
from transformers.models.grounding_dino.modeling_grounding_dino import GroundingDinoObjectDetectionOutput

from groprompt.boxes import cxcywh_to_xyxy
from groprompt.losses.box import GIOU_WEIGHT, L1_WEIGHT
from groprompt.losses.detector import (
    FOCAL_WEIGHT,
    box_terms,
    decoder_layer_predictions,
    decoder_term,
    phrase_focal_loss,
)
from groprompt.pretraining.dense_targets import TokenLayout, assign_tokens


def encoder_term(detection: GroundingDinoObjectDetectionOutput, layout: TokenLayout, targets: Tensor,
                 valid: Tensor, phrase: Tensor) -> dict[str, Tensor]:
    """Unweighted encoder losses ``{"enc_focal", "enc_l1", "enc_giou"}`` (scalars), each divided by the positives.

    Args:
        layout: the S encoder tokens of the batch's frame size.
        targets: ``(B, G, 4)`` target boxes, normalised cxcywh; ``valid``: ``(B, G)`` bool, the real ones.
        phrase: ``(B, N)`` phrase-token mask.

    Tokens whose proposal transformers marks invalid (infinite coordinates: a cell centre within 1% of the frame
    border, or padding) are never positive; they stay negatives, which keeps them out of the decoder's top-k.
    """
    coord_logits = detection.enc_outputs_coord_logits
    usable = torch.isfinite(coord_logits).all(-1)
    positive, assigned = assign_tokens(layout.to(targets.device), cxcywh_to_xyxy(targets), valid)
    positive = positive & usable
    count = float(positive.sum())
    focal = phrase_focal_loss(detection.enc_outputs_class, positive, phrase, count)
    image, token = torch.nonzero(positive, as_tuple=True)
    l1, giou = box_terms(coord_logits[image, token].sigmoid(), targets[image, assigned[image, token]])
    return {"enc_focal": focal, "enc_l1": l1 / max(count, 1.0), "enc_giou": giou / max(count, 1.0)}


def grounding_loss(detector: GroundingDinoForObjectDetection, detection: GroundingDinoObjectDetectionOutput,
                   layout: TokenLayout, targets: Tensor, valid: Tensor, phrase: Tensor,
                   attention_mask: Tensor) -> tuple[Tensor, dict[str, float]]:
    """The weighted pre-training loss (scalar, differentiable) and its unweighted parts as floats (for logs).

    Args:
        detector, detection: the detector and its output for B frames with one sentence each.
        layout: encoder token layout of the frames' size.
        targets: ``(B, G, 4)`` the boxes each sentence names, normalised cxcywh; ``valid``: ``(B, G)`` bool, the
            real ones (at least one per frame).
        phrase: ``(B, N)`` phrase-token mask of the sentences; ``attention_mask``: ``(B, N)`` their real tokens.
    """
    parts = encoder_term(detection, layout, targets, valid, phrase)
    parts |= decoder_term(decoder_layer_predictions(detector, detection, attention_mask), targets, valid, phrase)
    weights = {"focal": FOCAL_WEIGHT, "l1": L1_WEIGHT, "giou": GIOU_WEIGHT}
    total = sum(weights[name.split("_")[1]] * value for name, value in parts.items())
    return total, {name: float(value.detach()) for name, value in parts.items()}
