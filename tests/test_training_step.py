"""One clip's losses (groprompt/training/step.py) against hand-computed values, with a scripted prompter.

The stand-in prompter returns fixed boxes and scores, and the stand-in segmentor's "prompt encoder" is the identity
on pixel boxes, so L_box, L^f and the gradient-accumulation scaling can be checked by hand, as can the rule that
L_box-only training forwards the positive sentence only.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from groprompt.losses import modality_contrastive_loss
from groprompt.prompting.modalcon import ModalConHead
from groprompt.prompting.prompter import PrompterOutput
from groprompt.training import ClipInputs, TrainingConfig, TrainingModel
from groprompt.training.step import clip_scales

POSITIVE, NEGATIVE = "the red square", "the green square"
# Two queries (normalised cx, cy, w, h). q0 is confident for both sentences.
BOXES = torch.tensor([[0.55, 0.5, 0.2, 0.2], [0.3, 0.3, 0.1, 0.1]])
SCORES = torch.tensor([0.9, 0.1])
WIDTH = 3  # text feature width D


class ScriptedPrompter(nn.Module):
    """Every frame gets :data:`BOXES` / :data:`SCORES`; text features are 2 for S^i and 1 for S^j."""

    shortest_edge = longest_edge = None

    def __init__(self) -> None:
        super().__init__()
        self.shift = nn.Parameter(torch.zeros(4))
        self.calls: list[list[str]] = []
        self.frames: list[list[int]] = []

    def forward(self, pixels: torch.Tensor, sentences: list[str], frames: list[int]) -> PrompterOutput:
        self.calls.append(list(sentences))
        self.frames.append(list(frames))
        count = len(sentences)
        boxes = BOXES.expand(count, 2, 4) + self.shift
        scores = SCORES.expand(count, 2)
        top = scores.argmax(dim=1)
        level = torch.tensor([2.0 if sentence == POSITIVE else 1.0 for sentence in sentences])
        return PrompterOutput(pred_boxes=boxes, logits=torch.zeros(count, 2, 5), scores=scores, top_index=top,
                              top_box=boxes[torch.arange(count), top], top_score=scores.max(dim=1).values,
                              text_features=level[:, None, None].expand(count, 4, WIDTH),
                              text_mask=torch.ones(count, 4, dtype=torch.bool), detection=None)


class IdentityPrompts:
    """A segmentor whose prompt embedding of a pixel box is the box itself (so distances are in pixels)."""

    def prompt_embedding(self, boxes: torch.Tensor, original_size: tuple[int, int]) -> torch.Tensor:
        assert original_size == (100, 100)
        return boxes.float()


def _clip(negative: str | None, visual: torch.Tensor | None = None) -> ClipInputs:
    # Frame 0: the object at (40, 40, 60, 60) px of a 100 x 100 frame; frame 1: absent.
    boxes = torch.tensor([[40.0, 40.0, 60.0, 60.0], [float("nan")] * 4])
    return ClipInputs(pixels=torch.zeros(2, 3, 8, 8), boxes=boxes, supervised=torch.tensor([True, False]),
                      frame_size=(100, 100), sentence=POSITIVE, negative=negative, visual_tokens=visual)


# Hand values. q0 = (0.55, 0.5, 0.2, 0.2) against the truth (0.5, 0.5, 0.2, 0.2): L1 = 0.05; in corners
# (0.45, 0.4, 0.65, 0.6) vs (0.4, 0.4, 0.6, 0.6): intersection 0.15 x 0.2 = 0.03, union 0.05, IoU 0.6, the
# enclosing box 0.25 x 0.2 = 0.05 = union, so GIoU 0.6. L_box = 5 x 0.05 + 2 x 0.4 = 1.05 (frame 1 is absent).
L_BOX = 1.05
# TextCon at frame 0: p^i = q0 in pixels (45, 40, 65, 60), p-hat = (40, 40, 60, 60), p^j = S^j's top-1 = q0 again:
# max(0, |(5, 0, 5, 0)| - 0) = sqrt(50).
L_F = math.sqrt(50)


def test_box_and_textcon_terms_match_hand_values():
    prompter = ScriptedPrompter()
    model = TrainingModel(prompter, None, IdentityPrompts(), TrainingConfig(prompter_size="tiny", lambda_v=0.0))
    losses = model(_clip(NEGATIVE), box_scale=0.5, contrastive_scale=1.0)
    assert losses["l_box"].item() == pytest.approx(L_BOX, rel=1e-5)
    assert (losses["l1"].item(), losses["giou"].item()) == (pytest.approx(0.05, rel=1e-5), pytest.approx(0.4))
    assert losses["l_f"].item() == pytest.approx(L_F, rel=1e-5)
    assert losses["l_v"].item() == 0.0
    # objective = L_box x 1/2 (two clips in the batch) + lambda_f x L^f x 1/1 (one clip with a negative).
    assert losses["objective"].item() == pytest.approx(0.5 * L_BOX + 0.01 * L_F, rel=1e-5)
    # One forward of 2T items: T frames with S^i, then the same T frames with S^j (each frame given once).
    assert prompter.calls == [[POSITIVE, POSITIVE, NEGATIVE, NEGATIVE]]
    assert prompter.frames == [[0, 1, 0, 1]]
    losses["objective"].backward()
    assert prompter.shift.grad is not None and prompter.shift.grad.abs().sum() > 0


def test_box_only_training_forwards_the_positive_sentence_only():
    prompter = ScriptedPrompter()
    config = TrainingConfig(prompter_size="tiny", lambda_f=0.0, lambda_v=0.0)
    model = TrainingModel(prompter, None, None, config)  # no segmentor at all
    losses = model(_clip(None), box_scale=1.0, contrastive_scale=1.0)
    assert prompter.calls == [[POSITIVE, POSITIVE]] and prompter.frames == [[0, 1]]
    assert losses["objective"].item() == pytest.approx(L_BOX, rel=1e-5)
    assert (losses["l_f"].item(), losses["l_v"].item()) == (0.0, 0.0)


def test_clip_without_negative_skips_contrastive_terms():
    prompter = ScriptedPrompter()
    model = TrainingModel(prompter, None, IdentityPrompts(), TrainingConfig(prompter_size="tiny", lambda_v=0.0))
    losses = model(_clip(None), box_scale=1.0, contrastive_scale=1.0)
    assert prompter.calls == [[POSITIVE, POSITIVE]]
    assert losses["l_f"].item() == 0.0
    assert losses["objective"].item() == pytest.approx(L_BOX, rel=1e-5)


def test_modalcon_uses_the_selected_boxes_and_both_sentence_features():
    torch.manual_seed(0)
    head = ModalConHead(prompt_dim=4, visual_dim=2, text_dim=WIDTH)
    visual = torch.randn(2, 2, 3, 3)
    config = TrainingConfig(prompter_size="tiny", lambda_f=0.0, lambda_v=0.1)
    model = TrainingModel(ScriptedPrompter(), head, IdentityPrompts(), config)
    losses = model(_clip(NEGATIVE, visual), box_scale=1.0, contrastive_scale=0.5)
    anchors = torch.tensor([[45.0, 40.0, 65.0, 60.0]] * 2)  # q0 in pixels, at both frames (absent ones too)
    video_feature = head(visual[None], anchors[None])
    expected = modality_contrastive_loss(video_feature, torch.full((1, WIDTH), 2.0), torch.ones(1, WIDTH),
                                         torch.tensor([True]))
    assert expected.item() > 0.5  # the margin is active, so the wiring of z^i and z^j matters
    assert losses["l_v"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert losses["objective"].item() == pytest.approx(L_BOX + 0.1 * 0.5 * expected.item(), rel=1e-5)


def test_clip_scales():
    from types import SimpleNamespace

    clips = [SimpleNamespace(negative=object()), SimpleNamespace(negative=None), SimpleNamespace(negative=object())]
    assert clip_scales(clips, TrainingConfig()) == (pytest.approx(1 / 3), 0.5, 2)
    assert clip_scales(clips, TrainingConfig(lambda_f=0.0, lambda_v=0.0)) == (pytest.approx(1 / 3), 1.0, 0)
