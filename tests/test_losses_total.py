"""The total loss and its weights (docs/method_spec.md §5)."""

from __future__ import annotations

import math

import pytest
import torch

from groprompt.errors import GroPromptError
from groprompt.losses import (
    PAPER_REFYTVOS,
    LossWeights,
    total_loss,
)


def test_total_hand_value_with_paper_weights():
    # 1 + 0.01 * 2 + 0.1 * 3 = 1.32
    total = total_loss(torch.tensor(1.0), torch.tensor(2.0), torch.tensor(3.0),
                       PAPER_REFYTVOS.lambda_f, PAPER_REFYTVOS.lambda_v)
    assert total.item() == pytest.approx(1.32)


def test_box_only_needs_no_contrastive_inputs():
    box = torch.tensor(1.5, requires_grad=True)
    total = total_loss(box, None, None, 0.0, 0.0)
    assert total.item() == 1.5
    total.backward()
    assert box.grad.item() == 1.0
    # one term on, the other off: 1.5 + 1.0 * 2
    assert total_loss(box, None, torch.tensor(2.0), 0.0, 1.0).item() == pytest.approx(3.5)


def test_missing_term_with_positive_weight_is_an_error():
    with pytest.raises(GroPromptError, match="TextCon"):
        total_loss(torch.tensor(1.0), None, torch.tensor(1.0), 0.01, 0.1)
    with pytest.raises(GroPromptError, match=">= 0"):
        total_loss(torch.tensor(1.0), torch.tensor(1.0), torch.tensor(1.0), -0.1, 0.1)
    with pytest.raises(GroPromptError, match=">= 0"):
        LossWeights(lambda_f=math.nan, lambda_v=0.0)


def test_paper_weights_and_which_terms_are_on():
    assert (PAPER_REFYTVOS.lambda_f, PAPER_REFYTVOS.lambda_v) == (0.01, 0.1)
    assert PAPER_REFYTVOS.contrastive and LossWeights(0.0, 1e-3).contrastive
    assert not LossWeights(0.0, 0.0).contrastive


def test_float_terms_give_the_logged_total():
    # the training step's log row: 0.5 + 0.01 * 2 + 0.1 * 3 = 0.82
    assert total_loss(0.5, 2.0, 3.0, 0.01, 0.1) == pytest.approx(0.82)
