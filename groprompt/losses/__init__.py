"""GroPrompt's training losses: L_box (docs/method_spec.md §2), TextCon (§3), ModalCon (§4) and their total (§5);
and Grounding DINO's own decoder objective (:mod:`.detector`), of the grounder's pre-training and of the plain
fine-tuning baseline (``objective: detector``, §2)."""

from groprompt.losses.box import (
    GIOU_WEIGHT,
    L1_WEIGHT,
    MATCHINGS,
    BoxLoss,
    box_loss,
    generalized_box_iou,
)
from groprompt.losses.contrastive import (
    PromptEncoderFn,
    TextConLoss,
    modality_contrastive_loss,
    sample_negative_expression,
    sentence_feature,
    text_contrastive_loss,
    triplet_margin0,
)
from groprompt.losses.detector import (
    FOCAL_WEIGHT,
    DetectorLoss,
    LayerPredictions,
    decoder_layer_predictions,
    detector_loss,
    phrase_token_mask,
)
from groprompt.losses.total import (
    PAPER_REFYTVOS,
    LossWeights,
    total_loss,
)

__all__ = [
    "FOCAL_WEIGHT",
    "GIOU_WEIGHT",
    "L1_WEIGHT",
    "MATCHINGS",
    "PAPER_REFYTVOS",
    "BoxLoss",
    "DetectorLoss",
    "LayerPredictions",
    "LossWeights",
    "PromptEncoderFn",
    "TextConLoss",
    "box_loss",
    "decoder_layer_predictions",
    "detector_loss",
    "generalized_box_iou",
    "modality_contrastive_loss",
    "phrase_token_mask",
    "sample_negative_expression",
    "sentence_feature",
    "text_contrastive_loss",
    "total_loss",
    "triplet_margin0",
]
