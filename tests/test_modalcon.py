"""The ModalCon head (docs/method_spec.md §4) and its gradient paths through the ModalCon loss."""

from __future__ import annotations

import pytest
import torch

from groprompt.errors import GroPromptError
from groprompt.losses import modality_contrastive_loss, sentence_feature
from groprompt.prompting.modalcon import ModalConHead


def _head() -> ModalConHead:
    torch.manual_seed(0)
    return ModalConHead(prompt_dim=16, visual_dim=8, text_dim=12)


def test_full_size_parameter_count():
    # visual MLP 256*768+768 + 768*768+768 = 787,968; query MLP 512*768+768 + 768*768+768 = 984,576;
    # single-head attention q,k,v,out: 4*768*768 + 4*768 = 2,362,368; total 4,134,912
    head = ModalConHead(prompt_dim=512, visual_dim=256, text_dim=768)
    assert sum(p.numel() for p in head.parameters() if p.requires_grad) == 4_134_912


def test_output_is_mean_of_per_frame_attention():
    head = _head()
    visual = torch.randn(2, 3, 8, 4, 5)
    prompts = torch.randn(2, 3, 16)
    out = head(visual, prompts)
    assert out.shape == (2, 12)
    # frame t's query sees only frame t's tokens: running each frame alone and averaging gives the same f^i
    per_frame = torch.stack([head(visual[:, t:t + 1], prompts[:, t:t + 1]) for t in range(3)]).mean(0)
    assert torch.allclose(out, per_frame, atol=1e-6)
    # and changing another frame's tokens changes the result (the mean includes every frame)
    changed = visual.clone()
    changed[:, 2] += 1.0
    assert not torch.allclose(head(changed, prompts), out)


def test_single_token_attention_ignores_the_query():
    # with one visual token the softmax weight is 1, so f^i does not depend on the prompt
    head = _head()
    visual = torch.randn(1, 2, 8, 1, 1)
    assert torch.allclose(head(visual, torch.randn(1, 2, 16)), head(visual, torch.randn(1, 2, 16)), atol=1e-6)


def test_gradients_reach_head_and_prompts_not_visual_tokens_or_sentences():
    head = _head()
    visual = torch.randn(2, 2, 8, 3, 3, requires_grad=True)
    prompts = torch.randn(2, 2, 16, requires_grad=True)
    hidden = torch.randn(2, 4, 12, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    z_pos = sentence_feature(hidden, mask)
    # a negative right next to the current f^i makes d_n ~ 0 < d_p, so the triplet is active
    z_neg = head(visual, prompts).detach() + 0.01
    loss = modality_contrastive_loss(head(visual, prompts), z_pos, z_neg, torch.tensor([True, True]))
    assert loss.item() > 0
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())
    assert prompts.grad is not None and prompts.grad.abs().sum() > 0
    assert visual.grad is None
    assert hidden.grad is None


def test_rejects_mismatched_widths():
    head = _head()
    with pytest.raises(GroPromptError, match="visual tokens"):
        head(torch.randn(1, 2, 7, 3, 3), torch.randn(1, 2, 16))
    with pytest.raises(GroPromptError, match="prompt embeddings"):
        head(torch.randn(1, 2, 8, 3, 3), torch.randn(1, 3, 16))
    with pytest.raises(GroPromptError, match="text_dim"):
        ModalConHead(prompt_dim=16, visual_dim=8, text_dim=0)
