"""The objective of the grounder's pre-training: dense encoder supervision plus a one-query decoder term.

Recipe of ``docs/stack_notes.md`` ("A stand-in grounder recipe that does learn on this CPU"); pre-training only —
GroPrompt's fine-tuning uses L_box alone (docs/method_spec.md §2).

A sentence may name several boxes of its frame (a grounding phrase names every object it fits): every one of them is
supervised, as Grounding DINO's own objective supervises every box a phrase names.

* **Encoder term** (two-stage proposals, one per encoder token): FCOS-style positives for any of the image's boxes,
  each assigned the least-area box that claims it (:func:`~groprompt.pretraining.dense_targets.assign_tokens`);
  sigmoid focal loss (alpha 0.25, gamma 2, weight 2) of every token against the phrase tokens, target 1 at
  positives; L1 (weight 5) and GIoU (weight 2) of the positives' proposal boxes against their assigned box; all
  three divided by the number of positives.
* **Decoder term**, on every decoder layer: per image, a one-to-one matching of queries to the image's boxes of
  least total cost ``5 L1 - 2 GIoU - mean phrase score`` (Hungarian; with one box, the query of least cost);
  focal (2) with target 1 at the matched queries, L1 (5) and GIoU (2) of their boxes; divided by the number of
  boxes.

Boxes: model outputs and targets are normalised ``(cx, cy, w, h)``; GIoU is taken on normalised corners. L1 is
summed over the four coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor
from transformers import GroundingDinoForObjectDetection
from transformers.models.grounding_dino.modeling_grounding_dino import GroundingDinoObjectDetectionOutput

from groprompt.boxes import cxcywh_to_xyxy
from groprompt.losses.box import GIOU_WEIGHT, L1_WEIGHT, generalized_box_iou
from groprompt.pretraining.dense_targets import TokenLayout, assign_tokens, phrase_focal_loss

FOCAL_WEIGHT = 2.0
"""Weight of the focal classification terms (encoder and decoder)."""


@dataclass(frozen=True)
class LayerPredictions:
    """Every decoder layer's outputs (D layers, B images, Q queries, L text positions).

    Attributes:
        logits: ``(D, B, Q, L)`` text-token logits (-inf past the real tokens).
        boxes: ``(D, B, Q, 4)`` normalised ``(cx, cy, w, h)``.
    """

    logits: Tensor
    boxes: Tensor


def decoder_layer_predictions(detector: GroundingDinoForObjectDetection, detection: GroundingDinoObjectDetectionOutput,
                              attention_mask: Tensor) -> LayerPredictions:
    """Apply each decoder layer's classification and box heads to that layer's output.

    transformers returns only the last layer's ``logits`` and ``pred_boxes`` unless its own loss runs; the heads are
    re-applied here as its detection head does: layer ``l`` refines the reference box layer ``l`` started from
    (the two-stage initial boxes for layer 0). The last entry equals ``detection.logits`` / ``pred_boxes``.
    """
    hidden = detection.intermediate_hidden_states
    text = detection.encoder_last_hidden_state_text
    logits, boxes = [], []
    for layer in range(hidden.shape[1]):
        reference = (detection.init_reference_points if layer == 0
                     else detection.intermediate_reference_points[:, layer - 1])
        logits.append(detector.class_embed[layer](vision_hidden_state=hidden[:, layer], text_hidden_state=text,
                                                  text_token_mask=attention_mask.bool()))
        delta = detector.bbox_embed[layer](hidden[:, layer])
        boxes.append((delta + torch.special.logit(reference, eps=1e-5)).sigmoid())
    return LayerPredictions(torch.stack(logits), torch.stack(boxes))


def phrase_mean_score(logits: Tensor, phrase: Tensor) -> Tensor:
    """``(B, K)`` mean over the phrase tokens of ``sigmoid(logits)``; ``logits`` ``(B, K, L)``, ``phrase`` ``(B, N)``
    bool with at least one True per row. The recipe's query score (matching, and its optional top-1 selection)."""
    probability = logits[..., : phrase.shape[1]].sigmoid()
    weights = phrase[:, None, :].to(probability.dtype)
    return (probability * weights).sum(-1) / weights.sum(-1).clamp_min(1.0)


def _box_terms(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Summed L1 and summed ``1 - GIoU`` of paired ``(P, 4)`` normalised cxcywh boxes."""
    l1 = (pred - target).abs().sum()
    giou = (1 - generalized_box_iou(cxcywh_to_xyxy(pred), cxcywh_to_xyxy(target))).sum()
    return l1, giou


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
    l1, giou = _box_terms(coord_logits[image, token].sigmoid(), targets[image, assigned[image, token]])
    return {"enc_focal": focal, "enc_l1": l1 / max(count, 1.0), "enc_giou": giou / max(count, 1.0)}


def match_queries(cost: Tensor, valid: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """One-to-one matching of queries to each image's boxes, of least total cost (Hungarian).

    Args:
        cost: ``(B, Q, G)`` cost of each query for each box; ``valid``: ``(B, G)`` bool, the real boxes (at most
            Q per image).
    Returns:
        ``(image, query, box)`` int64 index tensors of the matched pairs, one pair per real box.
    """
    images, queries, boxes = [], [], []
    for image, (image_cost, image_valid) in enumerate(zip(cost.detach().cpu(), valid.cpu(), strict=True)):
        real = torch.nonzero(image_valid).flatten()
        rows, cols = linear_sum_assignment(image_cost[:, real].double().numpy())
        images += [image] * len(rows)
        queries += rows.tolist()
        boxes += real[cols].tolist()
    as_index = lambda values: torch.tensor(values, dtype=torch.int64, device=cost.device)  # noqa: E731
    return as_index(images), as_index(queries), as_index(boxes)


def decoder_term(predictions: LayerPredictions, targets: Tensor, valid: Tensor, phrase: Tensor) -> dict[str, Tensor]:
    """Unweighted decoder losses ``{"dec_focal", "dec_l1", "dec_giou"}``, summed over layers, per target box.

    Each layer matches queries to the image's boxes one to one by least total ``5 L1 - 2 GIoU - mean phrase
    score`` (:func:`match_queries`; no gradient through the matching).

    Args:
        targets: ``(B, G, 4)`` normalised cxcywh; ``valid``: ``(B, G)`` bool; ``phrase``: ``(B, N)`` bool.
    """
    count = float(valid.sum())
    totals = {"dec_focal": targets.new_zeros(()), "dec_l1": targets.new_zeros(()), "dec_giou": targets.new_zeros(())}
    for logits, boxes in zip(predictions.logits, predictions.boxes, strict=True):
        with torch.no_grad():
            l1 = (boxes[:, :, None] - targets[:, None]).abs().sum(-1)  # (B, Q, G)
            giou = generalized_box_iou(cxcywh_to_xyxy(boxes)[:, :, None], cxcywh_to_xyxy(targets)[:, None])
            cost = L1_WEIGHT * l1 - GIOU_WEIGHT * giou - phrase_mean_score(logits, phrase)[:, :, None]
            image, query, box = match_queries(cost, valid)
        positive = torch.zeros(boxes.shape[:2], dtype=torch.bool, device=boxes.device)
        positive[image, query] = True
        box_l1, box_giou = _box_terms(boxes[image, query], targets[image, box])
        totals["dec_focal"] = totals["dec_focal"] + phrase_focal_loss(logits, positive, phrase, count)
        totals["dec_l1"] = totals["dec_l1"] + box_l1 / count
        totals["dec_giou"] = totals["dec_giou"] + box_giou / count
    return totals


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
