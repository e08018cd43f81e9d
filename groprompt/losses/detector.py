"""Grounding DINO's own decoder objective: the class-aware one-to-one matching, phrase focal loss, L1 and GIoU.

Two trainings use it: the grounder's pre-training (:mod:`groprompt.pretraining.grounder_loss` adds its dense encoder
term) and the plain fine-tuning baseline (``objective: detector``, docs/method_spec.md §2), which fine-tunes the
prompter with this objective on the same referring boxes instead of GroPrompt's L_box (:func:`detector_loss`).

On every decoder layer, per image: a one-to-one matching of queries to the image's boxes of least total cost
``5 L1 - 2 GIoU - mean phrase score`` (Hungarian; with one box, the query of least cost), so the query that is both
near the box and scores the sentence is the match; sigmoid focal loss (alpha 0.25, gamma 2) of every query's
token logits against the sentence's **phrase tokens** (the real tokens that are not one of Grounding DINO's phrase
delimiters [CLS], [SEP], ".", "?"), target 1 at the matched queries and 0 elsewhere; L1 and GIoU of the matched
queries' boxes; each divided by the number of boxes.

Boxes: model outputs and targets are normalised ``(cx, cy, w, h)``; GIoU is taken on normalised corners. L1 is
summed over the four coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from groprompt.boxes import cxcywh_to_xyxy
from groprompt.losses._checks import check_shape
from groprompt.losses.box import GIOU_WEIGHT, L1_WEIGHT, generalized_box_iou

if TYPE_CHECKING:
    from transformers import GroundingDinoForObjectDetection
    from transformers.models.grounding_dino.modeling_grounding_dino import GroundingDinoObjectDetectionOutput

FOCAL_WEIGHT = 2.0
"""Weight of the focal classification terms (Grounding DINO's ``cls_loss_coef``)."""


def phrase_token_mask(input_ids: Tensor, attention_mask: Tensor, delimiters: Tensor) -> Tensor:
    """``(B, N)`` bool: the phrase tokens of tokenised sentences (real tokens that are not phrase delimiters).

    Args:
        input_ids: ``(B, N)`` token ids.
        attention_mask: ``(B, N)`` 1 at real tokens, 0 at padding.
        delimiters: ids of [CLS], [SEP], "." and "?" (Grounding DINO's ``model.special_tokens``).
    """
    return attention_mask.bool() & ~torch.isin(input_ids, delimiters.to(input_ids.device))


def sigmoid_focal_loss(logits: Tensor, targets: Tensor, alpha: float = 0.25, gamma: float = 2.0) -> Tensor:
    """Element-wise sigmoid focal loss (Lin et al., 2017), same shape as ``logits``.

    ``-alpha_t (1 - p_t)^gamma log(p_t)`` with ``p = sigmoid(logits)``, ``p_t = p`` where the target is 1 and
    ``1 - p`` where it is 0, ``alpha_t = alpha`` for targets 1 and ``1 - alpha`` for targets 0.
    """
    probability = logits.sigmoid()
    cross_entropy = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = probability * targets + (1 - probability) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return alpha_t * (1 - p_t) ** gamma * cross_entropy


def phrase_focal_loss(logits: Tensor, positive: Tensor, phrase: Tensor, normaliser: float) -> Tensor:
    """Focal loss of token-level logits against the phrase tokens only, summed and divided by ``normaliser``.

    Args:
        logits: ``(B, K, L)`` logits of K proposals (encoder tokens or decoder queries) against L >= N text
            positions (past the real tokens transformers fills -inf; those are never read).
        positive: ``(B, K)`` bool, the proposals whose target is the sentence (1 on its phrase tokens).
        phrase: ``(B, N)`` bool phrase-token mask (:func:`phrase_token_mask`).
        normaliser: the number of positives (clamped to at least 1).
    Returns:
        a scalar.
    """
    mask = phrase[:, None, :].expand(-1, logits.shape[1], -1)
    # where(), not a product: the -inf logits at non-phrase positions must not reach the loss (inf * 0 = nan).
    finite = torch.where(mask, logits[..., : phrase.shape[1]], torch.zeros((), device=logits.device))
    targets = (positive[:, :, None] & mask).to(logits.dtype)
    loss = sigmoid_focal_loss(finite, targets) * mask
    return loss.sum() / max(float(normaliser), 1.0)


def phrase_mean_score(logits: Tensor, phrase: Tensor) -> Tensor:
    """``(B, K)`` mean over the phrase tokens of ``sigmoid(logits)``; ``logits`` ``(B, K, L)``, ``phrase`` ``(B, N)``
    bool. The class score of the matching cost (0 for a sentence without a phrase token)."""
    probability = logits[..., : phrase.shape[1]].sigmoid()
    weights = phrase[:, None, :].to(probability.dtype)
    return (probability * weights).sum(-1) / weights.sum(-1).clamp_min(1.0)


def box_terms(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Summed L1 and summed ``1 - GIoU`` of paired ``(P, 4)`` normalised cxcywh boxes."""
    l1 = (pred - target).abs().sum()
    giou = (1 - generalized_box_iou(cxcywh_to_xyxy(pred), cxcywh_to_xyxy(target))).sum()
    return l1, giou


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
    """Unweighted decoder losses ``{"dec_focal", "dec_l1", "dec_giou"}``, summed over layers, per target box
    (divided by the number of real boxes, at least 1).

    Each layer matches queries to the image's boxes one to one by least total ``5 L1 - 2 GIoU - mean phrase
    score`` (:func:`match_queries`; no gradient through the matching).

    Args:
        targets: ``(B, G, 4)`` normalised cxcywh; ``valid``: ``(B, G)`` bool; ``phrase``: ``(B, N)`` bool.
    """
    count = max(float(valid.sum()), 1.0)
    totals = {"dec_focal": targets.new_zeros(()), "dec_l1": targets.new_zeros(()), "dec_giou": targets.new_zeros(())}
    for logits, boxes in zip(predictions.logits, predictions.boxes, strict=True):
        with torch.no_grad():
            l1 = (boxes[:, :, None] - targets[:, None]).abs().sum(-1)  # (B, Q, G)
            giou = generalized_box_iou(cxcywh_to_xyxy(boxes)[:, :, None], cxcywh_to_xyxy(targets)[:, None])
            cost = L1_WEIGHT * l1 - GIOU_WEIGHT * giou - phrase_mean_score(logits, phrase)[:, :, None]
            image, query, box = match_queries(cost, valid)
        positive = torch.zeros(boxes.shape[:2], dtype=torch.bool, device=boxes.device)
        positive[image, query] = True
        box_l1, box_giou = box_terms(boxes[image, query], targets[image, box])
        totals["dec_focal"] = totals["dec_focal"] + phrase_focal_loss(logits, positive, phrase, count)
        totals["dec_l1"] = totals["dec_l1"] + box_l1 / count
        totals["dec_giou"] = totals["dec_giou"] + box_giou / count
    return totals


@dataclass(frozen=True)
class DetectorLoss:
    """The detector objective of one clip and its unweighted parts (scalars, summed over the decoder layers).

    Attributes:
        total: ``FOCAL_WEIGHT * focal + l1_weight * l1 + giou_weight * giou``, differentiable.
        focal, l1, giou: the parts, per supervised frame.
    """

    total: Tensor
    focal: Tensor
    l1: Tensor
    giou: Tensor


def detector_loss(predictions: LayerPredictions, gt_boxes: Tensor, present: Tensor, phrase: Tensor,
                  l1_weight: float = L1_WEIGHT, giou_weight: float = GIOU_WEIGHT) -> DetectorLoss:
    """Grounding DINO's decoder objective on one clip's referring boxes: the plain fine-tuning baseline
    (docs/method_spec.md §2, ``objective: detector``).

    Each frame where the referred object is present is one image with one target box, the object's; every decoder
    layer matches it one query (:func:`decoder_term`: the class score is in the cost), and the frames' terms are
    divided by the number of those frames, as Grounding DINO divides by the boxes of its batch. Frames where the
    object is absent are left out, as L_box leaves them out (§2), so both objectives learn from the same frames.

    Args:
        predictions: ``(D, T, Q, L)`` logits and ``(D, T, Q, 4)`` boxes of the clip's T frames
            (:func:`decoder_layer_predictions`), float32.
        gt_boxes: ``(T, 4)`` normalised ``(cx, cy, w, h)``; values at absent frames are ignored (nan is fine).
        present: ``(T,)`` bool, frames with box supervision.
        phrase: ``(T, N)`` bool phrase-token mask of the sentence on each frame (:func:`phrase_token_mask`).
        l1_weight, giou_weight: weights of the L1 and ``1 - GIoU`` terms (the focal weight is :data:`FOCAL_WEIGHT`).
    Returns:
        :class:`DetectorLoss`; zero (still differentiable) for a clip without a supervised frame.
    """
    layers, frames = check_shape(predictions.boxes, "predictions.boxes", (None, None, None, 4))[:2]
    check_shape(predictions.logits, "predictions.logits", (layers, frames, predictions.boxes.shape[2], None))
    check_shape(gt_boxes, "gt_boxes", (frames, 4))
    check_shape(present, "present", (frames,))
    check_shape(phrase, "phrase", (frames, None))
    kept = present.bool()
    one_box = torch.ones(int(kept.sum()), 1, dtype=torch.bool, device=kept.device)
    supervised = LayerPredictions(predictions.logits[:, kept], predictions.boxes[:, kept])
    parts = decoder_term(supervised, gt_boxes[kept][:, None], one_box, phrase[kept])
    focal, l1, giou = parts["dec_focal"], parts["dec_l1"], parts["dec_giou"]
    return DetectorLoss(total=FOCAL_WEIGHT * focal + l1_weight * l1 + giou_weight * giou,
                        focal=focal, l1=l1, giou=giou)
