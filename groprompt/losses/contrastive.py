"""The two contrastive terms of TAP-CL: TextCon L^f (docs/method_spec.md §3, paper Eq. 2), ModalCon L^v (§4, Eq. 3).

Both are triplet losses with margin 0, ``max(0, ||a - p||_2 - ||a - n||_2)``. The ModalCon head that produces the
video feature ``f^i`` lives in :mod:`groprompt.prompting.modalcon`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from groprompt.data.model import Expression
from groprompt.errors import GroPromptError
from groprompt.losses._checks import check_shape

PromptEncoderFn = Callable[[Tensor], Tensor]
"""A frozen prompt encoder: ``(N, 4)`` xyxy pixel boxes of the clip's frames -> ``(N, D)`` prompt embeddings,
differentiable w.r.t. the boxes (for SAM: the two sparse corner tokens, flattened, D = 2 x embed_dim)."""


def triplet_margin0(anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
    """``max(0, ||anchor - positive||_2 - ||anchor - negative||_2)`` over the last axis: ``(..., D)`` -> ``(...)``."""
    d_positive = torch.linalg.vector_norm(anchor - positive, dim=-1)
    d_negative = torch.linalg.vector_norm(anchor - negative, dim=-1)
    return (d_positive - d_negative).clamp_min(0)


@dataclass(frozen=True)
class TextConLoss:
    """L^f of a batch.

    Attributes:
        loss: scalar, per clip summed over present frames, averaged over the clips that have a negative
            (0 when none has).
        skipped: how many clips had no negative expression (§3: counted in the training log).
    """

    loss: Tensor
    skipped: int


def text_contrastive_loss(
    anchor_boxes: Tensor,
    positive_boxes: Tensor,
    negative_boxes: Tensor,
    present: Tensor,
    prompt_encoder: PromptEncoderFn,
    has_negative: Tensor | None = None,
) -> TextConLoss:
    """TextCon, the frame-level triplet loss L^f = Σ_t max(0, ||p^i_t - p̂^i_t|| - ||p^i_t - p^j_t||) (§3, Eq. 2).

    Args:
        anchor_boxes: ``(B, T, 4)`` xyxy pixels, the predicted box B^i_t for the clip's sentence S^i (the query
            :func:`~groprompt.losses.box.box_loss` selected); gradient flows into it.
        positive_boxes: ``(B, T, 4)`` xyxy pixels, the ground-truth box of S^i's object (nan where absent is fine).
        negative_boxes: ``(B, T, 4)`` xyxy pixels, the top-1 box B^j_t for the negative sentence S^j on the same
            frames; gradient flows into it.
        present: ``(B, T)`` bool, frames where S^i's object is present; only these have a positive.
        prompt_encoder: the frozen prompt encoder, called once on the stacked boxes of all clips, so all clips of
            the batch must share one frame size (one clip per GPU in the paper; SynRVOS has one size).
        has_negative: ``(B,)`` bool, clips for which a negative sentence was found; None means all.

    Returns:
        :class:`TextConLoss`.
    """
    batch, frames, _ = check_shape(anchor_boxes, "anchor_boxes", (None, None, 4))
    check_shape(positive_boxes, "positive_boxes", (batch, frames, 4))
    check_shape(negative_boxes, "negative_boxes", (batch, frames, 4))
    check_shape(present, "present", (batch, frames))
    if has_negative is None:
        has_negative = torch.ones(batch, dtype=torch.bool, device=anchor_boxes.device)
    check_shape(has_negative, "has_negative", (batch,))
    has_negative = has_negative.bool()
    counted = int(has_negative.sum())
    if counted == 0:
        return TextConLoss(loss=anchor_boxes.new_zeros(()), skipped=batch)

    # Encode only the frames that count: absent frames have no positive box, and it saves encoder work.
    use = present.bool() & has_negative[:, None]
    clip_of_row = torch.arange(batch, device=anchor_boxes.device)[:, None].expand(batch, frames)[use]
    rows = int(use.sum())
    embeddings = prompt_encoder(torch.cat((anchor_boxes[use], positive_boxes[use], negative_boxes[use])))
    anchor, positive, negative = embeddings.split(rows)
    per_frame = triplet_margin0(anchor, positive, negative)
    per_clip = per_frame.new_zeros(batch).index_add(0, clip_of_row, per_frame)
    return TextConLoss(loss=per_clip.sum() / counted, skipped=batch - counted)


def sample_negative_expression(
    expressions: Sequence[Expression], current: Expression, rng: np.random.Generator
) -> Expression | None:
    """S^j for S^i = ``current`` (§3): uniform among ``expressions`` (of the same video) that share no object with
    it (for one-object expressions: refer to a different object); None if there is none (both contrastive terms
    are then skipped for the clip). Expressions without a known object are never candidates: they might refer to
    the same one."""
    mine = set(current.referents)
    candidates = [e for e in expressions if e.referents and mine.isdisjoint(e.referents)]
    if not candidates:
        return None
    return candidates[int(rng.integers(len(candidates)))]


def sentence_feature(last_hidden_state: Tensor, attention_mask: Tensor) -> Tensor:
    """The sentence feature z of §4: the mean of the text backbone's last hidden states over the sentence's tokens.

    "The sentence's tokens" are those the attention mask keeps, so [CLS], [SEP] and the trailing "." of the
    prompt count and padding does not: this is the attention-mask mean pooling that sentence encoders such as
    all-MiniLM-L6-v2 (the embedded default's text backbone) were trained with.

    Args:
        last_hidden_state: ``(B, L, D)`` float, the frozen text backbone's output.
        attention_mask: ``(B, L)``, 1/True for real tokens, 0/False for padding.

    Returns:
        ``(B, D)``, detached (the text backbone is frozen and ModalCon must not train it).
    """
    batch, length, _ = check_shape(last_hidden_state, "last_hidden_state", (None, None, None))
    check_shape(attention_mask, "attention_mask", (batch, length))
    weights = attention_mask.to(last_hidden_state.dtype)[..., None]
    counts = weights.sum(dim=1)
    if bool((counts == 0).any()):
        raise GroPromptError("a sentence has no tokens in its attention mask",
                             fix="tokenise non-empty sentences; check the expressions file for empty texts")
    return ((last_hidden_state * weights).sum(dim=1) / counts).detach()


def modality_contrastive_loss(video_features: Tensor, z_positive: Tensor, z_negative: Tensor, valid: Tensor) -> Tensor:
    """ModalCon, the video-level triplet loss L^v = max(0, ||f^i - z^i|| - ||f^i - z^j||) (§4, Eq. 3).

    Args:
        video_features: ``(B, D)`` f^i from :class:`~groprompt.prompting.modalcon.ModalConHead`.
        z_positive: ``(B, D)`` z^i, the feature of the clip's sentence (:func:`sentence_feature`).
        z_negative: ``(B, D)`` z^j, the feature of the negative sentence (anything finite where not ``valid``).
        valid: ``(B,)`` bool, clips that have a negative sentence.

    Returns:
        Scalar: the mean over valid clips, 0 when there is none.
    """
    batch, width = check_shape(video_features, "video_features", (None, None))
    check_shape(z_positive, "z_positive", (batch, width))
    check_shape(z_negative, "z_negative", (batch, width))
    check_shape(valid, "valid", (batch,))
    valid = valid.bool()
    if not bool(valid.any()):
        return video_features.new_zeros(())
    return triplet_margin0(video_features[valid], z_positive[valid], z_negative[valid]).mean()
