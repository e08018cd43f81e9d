"""TextCon (docs/method_spec.md §3), ModalCon's loss and sentence feature (§4), negative sampling, by hand values."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
from segment_anything.modeling import PromptEncoder

from groprompt.data.model import Expression
from groprompt.errors import GroPromptError
from groprompt.losses import (
    modality_contrastive_loss,
    sample_negative_expression,
    sentence_feature,
    text_contrastive_loss,
    triplet_margin0,
)

NAN = math.nan


def _identity(boxes: torch.Tensor) -> torch.Tensor:
    """A stand-in encoder: the box itself is its embedding, so distances are between boxes."""
    return boxes


def test_triplet_hand_values():
    anchor = torch.zeros(2, 2)
    positive = torch.tensor([[3.0, 4.0], [6.0, 8.0]])  # d_p = 5, 10
    negative = torch.tensor([[6.0, 8.0], [3.0, 4.0]])  # d_n = 10, 5
    # d_p < d_n -> 0;  d_p > d_n -> 10 - 5
    assert triplet_margin0(anchor, positive, negative).tolist() == [0.0, 5.0]


def test_textcon_hand_values_with_absent_frame_and_skipped_clip():
    # clip 0: frame 0 d_p = 5 (3-4-5 triangle), d_n = 1 -> 4; frame 1 d_p = 0, d_n = 2 -> 0;
    #         frame 2 absent (nan positive) -> not counted.  Clip sum 4.
    # clip 1: frame 0 d_p = 2, d_n = 0 -> 2; frames 1, 2 d_p = d_n = 0 -> 0.  Clip sum 2.
    # clip 2: no negative expression -> skipped, even though its triplets would be large.
    # loss = (4 + 2) / 2 counted clips = 3
    anchor = torch.zeros(3, 3, 4, requires_grad=True)
    positive = torch.tensor([
        [[3, 4, 0, 0], [0, 0, 0, 0], [NAN] * 4],
        [[2, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
        [[100, 0, 0, 0], [100, 0, 0, 0], [100, 0, 0, 0]],
    ], dtype=torch.float32)
    negative = torch.tensor([
        [[1, 0, 0, 0], [0, 2, 0, 0], [0, 0, 0, 0]],
        [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
        [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
    ], dtype=torch.float32, requires_grad=True)
    present = torch.tensor([[True, True, False], [True, True, True], [True, True, True]])
    has_negative = torch.tensor([True, True, False])
    result = text_contrastive_loss(anchor, positive, negative, present, _identity, has_negative=has_negative)
    assert result.loss.item() == pytest.approx(3.0)
    assert result.skipped == 1
    result.loss.backward()
    assert torch.isfinite(anchor.grad).all() and torch.isfinite(negative.grad).all()
    assert anchor.grad[2].abs().sum() == 0  # skipped clip
    assert anchor.grad[0, 2].abs().sum() == 0  # absent frame


def test_textcon_all_skipped_is_zero():
    boxes = torch.zeros(2, 3, 4)
    result = text_contrastive_loss(boxes, boxes, boxes, torch.ones(2, 3, dtype=torch.bool), _identity,
                                   has_negative=torch.zeros(2, dtype=torch.bool))
    assert result.loss.item() == 0.0
    assert result.skipped == 2


def _frozen_sam_prompt_encoder(image_size: tuple[int, int]):
    """A real (small, randomly initialised) SAM prompt encoder wrapped as the TextCon callable.

    Boxes in xyxy pixels of a ``image_size`` (H, W) frame are scaled by input_size / longest side (what SAM's
    ResizeLongestSide does), embedded as the two sparse corner tokens, flattened: (N, 4) -> (N, 2 * 8).
    """
    torch.manual_seed(0)
    input_size = 64
    encoder = PromptEncoder(embed_dim=8, image_embedding_size=(4, 4), input_image_size=(input_size, input_size),
                            mask_in_chans=4)
    encoder.requires_grad_(False).eval()
    scale = input_size / max(image_size)

    def embed(boxes: torch.Tensor) -> torch.Tensor:
        sparse, _ = encoder(points=None, boxes=boxes * scale, masks=None)
        return sparse.flatten(1)

    return encoder, embed


def test_textcon_gradient_flows_through_frozen_sam_prompt_encoder():
    encoder, embed = _frozen_sam_prompt_encoder((48, 32))
    assert embed(torch.zeros(5, 4)).shape == (5, 16)
    # the anchor sits near the negative box and far from the ground truth, so the triplet is active
    anchor = torch.tensor([[[20.0, 10.0, 30.0, 40.0], [21.0, 11.0, 31.0, 41.0]]], requires_grad=True)
    positive = torch.tensor([[[2.0, 2.0, 12.0, 20.0], [3.0, 2.0, 13.0, 20.0]]])
    negative = torch.tensor([[[19.0, 10.0, 30.0, 39.0], [22.0, 11.0, 31.0, 40.0]]], requires_grad=True)
    result = text_contrastive_loss(anchor, positive, negative, torch.ones(1, 2, dtype=torch.bool), embed)
    # the loss equals the hand-assembled formula over the encoder's own embeddings
    p_i, p_hat, p_j = embed(anchor[0]), embed(positive[0]), embed(negative[0])
    expected = ((p_i - p_hat).norm(dim=1) - (p_i - p_j).norm(dim=1)).clamp_min(0).sum()
    assert result.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert result.loss.item() > 0
    result.loss.backward()
    assert anchor.grad.abs().sum() > 0
    assert negative.grad.abs().sum() > 0
    assert all(parameter.grad is None for parameter in encoder.parameters())


def test_textcon_rejects_mismatched_shapes():
    boxes = torch.zeros(1, 2, 4)
    with pytest.raises(GroPromptError, match="negative_boxes"):
        text_contrastive_loss(boxes, boxes, torch.zeros(1, 3, 4), torch.ones(1, 2, dtype=torch.bool), _identity)


def test_modalcon_loss_hand_values():
    f = torch.zeros(3, 2, requires_grad=True)
    z_pos = torch.tensor([[3.0, 4.0], [0.0, 1.0], [50.0, 0.0]])  # d_p = 5, 1, 50
    z_neg = torch.tensor([[0.0, 1.0], [3.0, 4.0], [1.0, 0.0]])  # d_n = 1, 5, 1
    valid = torch.tensor([True, True, False])
    # clip 0: 5 - 1 = 4; clip 1: 1 - 5 < 0 -> 0; clip 2 not valid.  mean over valid = 2
    loss = modality_contrastive_loss(f, z_pos, z_neg, valid)
    assert loss.item() == pytest.approx(2.0)
    loss.backward()
    assert f.grad[2].abs().sum() == 0 and f.grad[1].abs().sum() == 0 and f.grad[0].abs().sum() > 0
    assert modality_contrastive_loss(f, z_pos, z_neg, torch.zeros(3, dtype=torch.bool)).item() == 0.0


def test_sentence_feature_is_masked_mean_and_detached():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]],
                           [[1.0, 1.0], [2.0, 2.0], [6.0, 3.0]]], requires_grad=True)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    z = sentence_feature(hidden, mask)
    # (1+3)/2, (2+4)/2 ; (1+2+6)/3, (1+2+3)/3 -- the padding token (100) is left out
    assert z.tolist() == [[2.0, 3.0], [3.0, 2.0]]
    assert not z.requires_grad
    with pytest.raises(GroPromptError, match="no tokens"):
        sentence_feature(hidden, torch.tensor([[1, 0, 0], [0, 0, 0]]))


def _expressions():
    return [Expression("0", "a", obj_id=1), Expression("1", "b", obj_id=1),
            Expression("2", "c", obj_id=2), Expression("3", "d", obj_id=3)]


def test_sample_negative_is_uniform_over_other_objects():
    expressions = _expressions()
    rng = np.random.default_rng(0)
    draws = Counter(sample_negative_expression(expressions, expressions[0], rng).exp_id for _ in range(2000))
    assert set(draws) == {"2", "3"}  # never the same object, not even its other expression "1"
    assert abs(draws["2"] - 1000) < 100  # binomial sd ~22
    first, second = np.random.default_rng(7), np.random.default_rng(7)
    assert [sample_negative_expression(expressions, expressions[3], first) for _ in range(20)] == \
        [sample_negative_expression(expressions, expressions[3], second) for _ in range(20)]


def test_sample_negative_none_without_other_object():
    expressions = _expressions()[:2]
    assert sample_negative_expression(expressions, expressions[1], np.random.default_rng(0)) is None


def test_sample_negative_skips_expressions_of_unknown_objects():
    expressions = [*_expressions()[:2], Expression("9", "withheld", obj_id=None)]
    assert sample_negative_expression(expressions, expressions[0], np.random.default_rng(0)) is None
