"""Box formats and the conversions between them (docs/method_spec.md §1).

Two formats meet at the prompter's boundary:

* inside the model, boxes are normalised ``(cx, cy, w, h)``: centre and size as fractions of the frame's width
  and height, in [0, 1];
* on disk and in every numpy API, boxes are ``(x0, y0, x1, y1)`` float pixels of the original frame, with
  exclusive ends (``groprompt.data.model`` convention: the whole frame is ``(0, 0, W, H)``).

Every function takes a torch tensor or a numpy array of shape ``(..., 4)`` and returns the same kind, so losses
(torch, differentiable) and inference code (numpy) share one definition.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

Boxes = TypeVar("Boxes", torch.Tensor, np.ndarray)


def _stack(parts: tuple, like: Boxes) -> Boxes:
    if isinstance(like, torch.Tensor):
        return torch.stack(parts, dim=-1)
    return np.stack(parts, axis=-1)


def cxcywh_to_xyxy(boxes: Boxes) -> Boxes:
    """``(..., 4)`` ``(cx, cy, w, h)`` -> ``(..., 4)`` ``(x0, y0, x1, y1)`` in the same units."""
    cx, cy, w, h = (boxes[..., i] for i in range(4))
    return _stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), boxes)


def xyxy_to_cxcywh(boxes: Boxes) -> Boxes:
    """``(..., 4)`` ``(x0, y0, x1, y1)`` -> ``(..., 4)`` ``(cx, cy, w, h)`` in the same units."""
    x0, y0, x1, y1 = (boxes[..., i] for i in range(4))
    return _stack(((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0), boxes)


def normalized_cxcywh_to_pixel_xyxy(boxes: Boxes, width: float, height: float) -> Boxes:
    """Model boxes -> disk boxes: normalised ``(cx, cy, w, h)`` -> ``(x0, y0, x1, y1)`` pixels of a W x H frame."""
    x0, y0, x1, y1 = (cxcywh_to_xyxy(boxes)[..., i] for i in range(4))
    return _stack((x0 * width, y0 * height, x1 * width, y1 * height), boxes)


def pixel_xyxy_to_normalized_cxcywh(boxes: Boxes, width: float, height: float) -> Boxes:
    """Disk boxes -> model boxes: ``(x0, y0, x1, y1)`` pixels of a W x H frame -> normalised ``(cx, cy, w, h)``."""
    cx, cy, w, h = (xyxy_to_cxcywh(boxes)[..., i] for i in range(4))
    return _stack((cx / width, cy / height, w / width, h / height), boxes)
