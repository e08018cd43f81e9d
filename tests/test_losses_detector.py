"""The detector objective of the plain fine-tuning baseline (groprompt/losses/detector.py, ``detector_loss``)
against hand-computed values: the class score in the matching cost decides which query is matched, the focal,
L1 and GIoU terms of every decoder layer, and frames without the referred object left out.

The case: one clip of two frames, three queries, text positions [CLS] red square [SEP] and one of -inf padding, so
the phrase tokens are positions 1 and 2. Frame 0 holds the object at (0.5, 0.5, 0.2, 0.2) (normalised cx, cy, w, h);
on frame 1 it is absent. On frame 0:

* q0 = (0.52, 0.5, 0.2, 0.2): L1 0.02; corners (0.42, 0.4, 0.62, 0.6) against (0.4, 0.4, 0.6, 0.6): intersection
  0.18 x 0.2 = 0.036, union 0.044, hull 0.22 x 0.2 = 0.044, so GIoU = IoU = 9/11. Box cost 5 x 0.02 - 2 x 9/11
  = -1.536.
* q1 = (0.55, 0.5, 0.2, 0.2): L1 0.05; intersection 0.03, union 0.05 = hull: GIoU 0.6. Box cost 0.25 - 1.2 = -0.95.
* q2 = (0.1, 0.1, 0.1, 0.1): L1 1.0, far.

Phrase logits ±ln 9 give scores 0.9 and 0.1. On layer 0 q1 scores 0.9 and q0 0.1: costs -0.95 - 0.9 = -1.85 and
-1.536 - 0.1 = -1.636, so the class cost makes q1 the match although q0's box is nearer (box cost alone picks q0).
On layer 1 q0 scores 0.9: q0 is matched. Focal per phrase token (alpha 0.25, gamma 2): the matched query at
p = 0.9, target 1: 0.25 x 0.1² x ln(10/9); an unmatched one at p = 0.1, target 0: 0.75 x 0.1² x ln(10/9). Per
layer: 2 tokens x (0.25 + 2 x 0.75) x 0.01 x ln(10/9) = 0.035 ln(10/9).
"""

from __future__ import annotations

import math

import pytest
import torch

from groprompt.losses import FOCAL_WEIGHT, LayerPredictions, detector_loss
from groprompt.losses.detector import phrase_mean_score

LN9 = math.log(9)
FOCAL_PER_LAYER = 0.035 * math.log(10 / 9)
TARGET = [0.5, 0.5, 0.2, 0.2]
NEAR, SECOND, FAR = [0.52, 0.5, 0.2, 0.2], [0.55, 0.5, 0.2, 0.2], [0.1, 0.1, 0.1, 0.1]
PHRASE = torch.tensor([[False, True, True, False]] * 2)


def _logits(confident: int) -> torch.Tensor:
    """``(T=2, Q=3, L=5)``: on the phrase tokens, +ln 9 for query ``confident``, -ln 9 for the others; 0 on [CLS]
    and [SEP] (never read: they are not phrase tokens) and -inf on the padding position."""
    logits = torch.full((2, 3, 5), -LN9)
    logits[:, confident] = LN9
    logits[..., 0] = logits[..., 3] = 0.0
    logits[..., 4] = -math.inf
    return logits


def _predictions() -> LayerPredictions:
    # Frame 1 (absent object) repeats frame 0's predictions: were it scored, every query would add focal terms.
    boxes = torch.tensor([NEAR, SECOND, FAR]).expand(2, 2, 3, 4).clone()
    return LayerPredictions(torch.stack([_logits(1), _logits(0)]).requires_grad_(), boxes.requires_grad_())


GT = torch.tensor([TARGET, [math.nan] * 4])
PRESENT = torch.tensor([True, False])


def test_class_cost_decides_the_match_and_every_layer_is_scored():
    predictions = _predictions()
    loss = detector_loss(predictions, GT, PRESENT, PHRASE)
    # Layer 0 matches q1 (L1 0.05, 1 - GIoU 0.4), layer 1 q0 (L1 0.02, 1 - GIoU 2/11).
    assert loss.l1.item() == pytest.approx(0.05 + 0.02, abs=1e-6)
    assert loss.giou.item() == pytest.approx(0.4 + 2 / 11, abs=1e-6)
    assert loss.focal.item() == pytest.approx(2 * FOCAL_PER_LAYER, rel=1e-5)
    expected = FOCAL_WEIGHT * 2 * FOCAL_PER_LAYER + 5 * 0.07 + 2 * (0.4 + 2 / 11)
    assert loss.total.item() == pytest.approx(expected, rel=1e-5)
    loss.total.backward()
    # The absent frame gets no gradient at all; on frame 0 the matched query's box is pulled on, per layer.
    assert predictions.logits.grad[:, 1].abs().sum() == 0 and predictions.boxes.grad[:, 1].abs().sum() == 0
    assert predictions.boxes.grad[0, 0, 1].abs().sum() > 0 and predictions.boxes.grad[0, 0, 0].abs().sum() == 0
    assert predictions.boxes.grad[1, 0, 0].abs().sum() > 0 and predictions.boxes.grad[1, 0, 1].abs().sum() == 0


def test_without_the_class_score_the_nearest_box_would_be_matched():
    # The same boxes with equal scores for every query: layer 0 then matches q0, the nearer box.
    equal = LayerPredictions(torch.zeros(1, 2, 3, 5), torch.tensor([NEAR, SECOND, FAR]).expand(1, 2, 3, 4))
    loss = detector_loss(equal, GT, PRESENT, PHRASE)
    assert loss.l1.item() == pytest.approx(0.02, abs=1e-6) and loss.giou.item() == pytest.approx(2 / 11, abs=1e-6)
    assert phrase_mean_score(_logits(1)[:1], PHRASE[:1])[0].tolist() == pytest.approx([0.1, 0.9, 0.1])


def test_box_weights_and_the_normaliser():
    # Weights 1 and 1 on the box terms; the focal weight stays Grounding DINO's 2.
    loss = detector_loss(_predictions(), GT, PRESENT, PHRASE, l1_weight=1.0, giou_weight=1.0)
    assert loss.total.item() == pytest.approx(2 * 2 * FOCAL_PER_LAYER + 0.07 + 0.4 + 2 / 11, rel=1e-5)
    # Two supervised frames with identical predictions: the per-frame terms are divided by the 2 boxes.
    both = detector_loss(_predictions(), torch.tensor([TARGET, TARGET]), torch.tensor([True, True]), PHRASE)
    assert both.total.item() == pytest.approx(detector_loss(_predictions(), GT, PRESENT, PHRASE).total.item(),
                                              rel=1e-5)


def test_a_clip_without_a_supervised_frame_adds_zero():
    predictions = _predictions()
    loss = detector_loss(predictions, torch.full((2, 4), math.nan), torch.tensor([False, False]), PHRASE)
    assert loss.total.item() == 0.0
    loss.total.backward()
    assert predictions.logits.grad.abs().sum() == 0


def test_shapes_are_checked():
    from groprompt.errors import GroPromptError

    with pytest.raises(GroPromptError, match="gt_boxes has shape"):
        detector_loss(_predictions(), torch.zeros(3, 4), torch.tensor([True, False, True]), PHRASE)
