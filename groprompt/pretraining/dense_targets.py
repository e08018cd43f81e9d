"""Dense FCOS-style targets of the grounder's pre-training.

The stand-in grounder learns localisation in CPU minutes only when every two-stage encoder token is supervised,
not just one matched query (``docs/stack_notes.md``, "A stand-in grounder recipe that does learn on this CPU"):

* a token is **positive** for a target box when its reference centre lies strictly inside the box; the token of
  the finest level nearest the box centre is always positive, so a box smaller than a cell still has one;
* classification is scored against the **phrase tokens** of the sentence only, with the focal loss of Grounding
  DINO's own objective (:func:`groprompt.losses.detector.phrase_focal_loss`).

Tokens are numbered as transformers' Grounding DINO flattens its feature maps: level by level, finest first, each
level row-major. A token's reference centre is the centre of its cell, normalised to [0, 1] (``(j + 0.5) / W``,
``(i + 0.5) / H``): the centre of transformers' two-stage proposal for an unpadded frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class TokenLayout:
    """Where the S encoder tokens of a frame size sit.

    Attributes:
        centres: ``(S, 2)`` float32 reference centres ``(x, y)`` normalised to [0, 1].
        levels: ``(S,)`` int64 feature level of each token (0 the finest).
        shapes: ``(height, width)`` of each level's feature map, finest first.
    """

    centres: Tensor
    levels: Tensor
    shapes: tuple[tuple[int, int], ...]

    def __len__(self) -> int:
        return len(self.levels)

    def to(self, device: torch.device | str) -> TokenLayout:
        return TokenLayout(self.centres.to(device), self.levels.to(device), self.shapes)


def token_layout(shapes: Sequence[tuple[int, int]]) -> TokenLayout:
    """The layout of feature maps of the given ``(height, width)`` shapes, finest level first."""
    centres, levels = [], []
    for level, (height, width) in enumerate(shapes):
        rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
        centres.append(torch.stack([(cols.flatten() + 0.5) / width, (rows.flatten() + 0.5) / height], dim=1))
        levels.append(torch.full((height * width,), level, dtype=torch.int64))
    return TokenLayout(torch.cat(centres).float(), torch.cat(levels), tuple((int(h), int(w)) for h, w in shapes))


def detector_token_layout(detector: nn.Module, height: int, width: int) -> TokenLayout:
    """The token layout a Grounding DINO detector uses for ``height`` x ``width`` frames.

    Runs one forward pass on a blank frame and reads the feature-map shapes the encoder receives, so the layout
    follows whatever backbone and number of levels the detector has.
    """
    captured: list[list[tuple[int, int]]] = []

    def grab(_module: nn.Module, _args: tuple, kwargs: dict) -> None:
        captured.append(list(kwargs["spatial_shapes_list"]))

    device = next(detector.parameters()).device
    hook = detector.model.encoder.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with torch.no_grad():
            # [CLS] . [SEP]: any tokens will do, the text does not change the image feature shapes.
            ids = torch.tensor([[101, 1012, 102]], device=device)
            detector(pixel_values=torch.zeros(1, 3, height, width, device=device), input_ids=ids,
                     attention_mask=torch.ones_like(ids))
    finally:
        hook.remove()
    return token_layout(captured[0])


def dense_positives(layout: TokenLayout, boxes: Tensor) -> Tensor:
    """Which encoder tokens are positive for each target box.

    Args:
        layout: the S tokens (:func:`token_layout`).
        boxes: ``(B, 4)`` target boxes, normalised ``(x0, y0, x1, y1)``.
    Returns:
        ``(B, S)`` bool: True where the token's centre lies strictly inside the box, and at the finest-level token
        nearest the box centre (ties go to the lower token index).
    """
    x, y = layout.centres[:, 0], layout.centres[:, 1]
    inside = ((x[None] > boxes[:, 0:1]) & (x[None] < boxes[:, 2:3])
              & (y[None] > boxes[:, 1:2]) & (y[None] < boxes[:, 3:4]))
    finest = torch.nonzero(layout.levels == 0).flatten()
    box_centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    distance = (layout.centres[finest][None] - box_centres[:, None]).square().sum(-1)
    nearest = finest[distance.argmin(dim=1)]
    inside[torch.arange(len(boxes), device=boxes.device), nearest] = True
    return inside


def assign_tokens(layout: TokenLayout, boxes: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
    """Positive tokens of images with several target boxes each, and the box each positive regresses to.

    A token is positive when it is positive (:func:`dense_positives`) for any of its image's boxes; where boxes
    overlap it is assigned the one of least area, as FCOS resolves ambiguous locations (the smaller object would
    otherwise lose the tokens it shares with a larger one).

    Args:
        boxes: ``(B, G, 4)`` normalised ``(x0, y0, x1, y1)``; rows where ``valid`` is False are ignored.
        valid: ``(B, G)`` bool, at least one True per image.
    Returns:
        ``(B, S)`` bool positives and ``(B, S)`` int64 index (into G) of each token's assigned box (meaningful at
        positives only).
    """
    batch, count = valid.shape
    per_box = dense_positives(layout, boxes.reshape(-1, 4)).reshape(batch, count, -1) & valid[:, :, None]
    area = ((boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1]))[:, :, None]
    cost = torch.where(per_box, area, torch.full_like(area, torch.inf))
    return per_box.any(dim=1), cost.argmin(dim=1)
