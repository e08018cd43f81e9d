"""Shared per-frame work of the prompter (groprompt/prompting/prompter.py): the image backbone and input projections
run once per frame for every sentence on it, and the result equals Grounding DINO's own forward on a copy of the
frame per sentence (the unshared path), in inference and in training (gradients included)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from groprompt.errors import GroPromptError
from groprompt.prompting import apply_freezing, build_prompter, preprocess_frames

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SENTENCES = ["the red circle", "a blue square on the left", "the small green shape moving right"]
FRAME = 64  # the tiny ResNet needs 32-pixel multiples


@pytest.fixture(scope="module")
def prompter():
    torch.manual_seed(0)
    return build_prompter("tiny").eval()


@pytest.fixture(scope="module")
def pixels() -> torch.Tensor:
    return preprocess_frames(np.random.default_rng(0).integers(0, 256, (2, FRAME, FRAME, 3), dtype=np.uint8))


def _unshared(prompter, pixels: torch.Tensor, sentences: list[str], frames: list[int]):
    """transformers' own forward, each sentence on its own copy of its frame."""
    text = prompter.tokenize(sentences)
    return prompter.detector(pixel_values=pixels[frames], input_ids=text["input_ids"],
                             token_type_ids=text["token_type_ids"], attention_mask=text["attention_mask"])


def _objective(output) -> torch.Tensor:
    """A loss that reaches the backbone (at random init the box head's last layer is zero, so boxes alone do not)."""
    logits = output.logits
    return output.pred_boxes.square().sum() + torch.where(torch.isfinite(logits), logits, 0).sum()


class _BackboneCalls:
    """Batch sizes of the image backbone's calls."""

    def __init__(self, prompter) -> None:
        self.sizes: list[int] = []
        self._hook = prompter.detector.model.backbone.register_forward_hook(
            lambda module, args, output: self.sizes.append(args[0].shape[0]))

    def __enter__(self) -> list[int]:
        return self.sizes

    def __exit__(self, *exc) -> None:
        self._hook.remove()


def test_every_sentence_of_every_frame_equals_the_unshared_forward(prompter, pixels):
    frames = [0, 0, 0, 1, 1, 1]
    with torch.no_grad(), _BackboneCalls(prompter) as calls:
        shared = prompter(pixels, SENTENCES * 2, frames=frames)
    assert calls == [2]  # one backbone pass over the two frames, not six
    with torch.no_grad():
        reference = _unshared(prompter, pixels, SENTENCES * 2, frames)
    torch.testing.assert_close(shared.pred_boxes, reference.pred_boxes, rtol=0, atol=1e-5)
    real = torch.isfinite(reference.logits)
    assert torch.equal(torch.isfinite(shared.logits), real)
    torch.testing.assert_close(shared.logits[real], reference.logits[real], rtol=0, atol=1e-4)
    assert torch.equal(shared.top_index, shared.scores.argmax(dim=1))


def test_one_sentence_per_frame_is_the_models_own_forward_to_the_bit(prompter, pixels):
    """Without frame indices each sentence has its own frame: the features are those transformers computes."""
    with torch.no_grad():
        ours = prompter(pixels, SENTENCES[:2])
        reference = _unshared(prompter, pixels, SENTENCES[:2], [0, 1])
    assert torch.equal(ours.pred_boxes, reference.pred_boxes) and torch.equal(ours.logits, reference.logits)


def test_encoded_frames_serve_later_calls(prompter, pixels):
    with torch.no_grad():
        features = prompter.encode_images(pixels[1:])
        with _BackboneCalls(prompter) as calls:
            first = prompter(features, SENTENCES[:2], frames=[0, 0])
            second = prompter(features, SENTENCES[2:], frames=[0])
        together = prompter(pixels[1:], SENTENCES, frames=[0, 0, 0])
    assert calls == []
    assert len(features) == 1 and features.size == (FRAME, FRAME)
    torch.testing.assert_close(torch.cat((first.top_box, second.top_box)), together.top_box, rtol=0, atol=1e-5)


def test_gradients_through_shared_features_equal_the_unshared_ones(pixels):
    """Training with a trainable backbone: the shared frame's gradient is the sum over its sentences."""
    torch.manual_seed(0)
    prompter = build_prompter("tiny")
    apply_freezing(prompter, ["image_backbone", "input_proj", "decoder", "bbox_embed"])
    other = copy.deepcopy(prompter)
    frames = [0, 1, 0, 1]
    sentences = [SENTENCES[0]] * 2 + [SENTENCES[1]] * 2
    torch.manual_seed(1)  # the same dropout masks in the decoder, which trains
    _objective(prompter.train()(pixels, sentences, frames=frames)).backward()
    torch.manual_seed(1)
    _objective(_unshared(other.train(), pixels, sentences, frames)).backward()
    pairs = [(name, param.grad, dict(other.named_parameters())[name].grad)
             for name, param in prompter.named_parameters() if param.requires_grad]
    backbone = [grad for name, grad, _ in pairs if ".backbone." in name and grad is not None]
    assert backbone and any(grad.abs().sum() > 0 for grad in backbone)
    for name, grad, expected in pairs:  # sums in another order: equal up to float rounding
        assert (grad - expected).norm() <= 1e-5 * expected.norm() + 1e-8, name


def test_frame_indices_are_checked(prompter, pixels):
    with pytest.raises(GroPromptError, match="2 sentences for \\(3,\\) frame indices"):
        prompter(pixels, SENTENCES[:2], frames=[0, 1, 1])
    with pytest.raises(GroPromptError, match="outside the 2 frames given"):
        prompter(pixels, SENTENCES[:2], frames=[0, 2])
    with pytest.raises(GroPromptError, match="give one frame per sentence"):
        prompter(pixels, SENTENCES)  # three sentences, two frames, no indices
