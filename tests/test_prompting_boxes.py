"""Box format conversions (groprompt/boxes.py) against hand-computed values, for torch and numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from groprompt.boxes import (
    cxcywh_to_xyxy,
    normalized_cxcywh_to_pixel_xyxy,
    pixel_xyxy_to_normalized_cxcywh,
    xyxy_to_cxcywh,
)


@pytest.mark.parametrize("make", [lambda v: np.array(v, dtype=float), lambda v: torch.tensor(v, dtype=torch.float64)])
def test_cxcywh_xyxy_hand_values(make):
    # centre (0.5, 0.25), size 0.2 x 0.1 -> corners 0.4..0.6, 0.2..0.3
    box = make([[0.5, 0.25, 0.2, 0.1]])
    corners = cxcywh_to_xyxy(box)
    assert type(corners) is type(box)
    np.testing.assert_allclose(np.asarray(corners), [[0.4, 0.2, 0.6, 0.3]])
    np.testing.assert_allclose(np.asarray(xyxy_to_cxcywh(corners)), [[0.5, 0.25, 0.2, 0.1]])


def test_normalised_to_pixels_hand_values():
    # A 200 x 100 (W x H) frame; centre (0.25, 0.5), size 0.5 x 0.2 -> x 0..100, y 40..60.
    box = np.array([0.25, 0.5, 0.5, 0.2])
    np.testing.assert_allclose(normalized_cxcywh_to_pixel_xyxy(box, width=200, height=100), [0, 40, 100, 60])
    # The whole frame, exclusive ends: (0, 0, W, H) <-> centre (0.5, 0.5), size 1 x 1.
    np.testing.assert_allclose(pixel_xyxy_to_normalized_cxcywh(np.array([0, 0, 200, 100]), 200, 100),
                               [0.5, 0.5, 1.0, 1.0])
    # A one-pixel box at column 3, row 7 of that frame: x 3..4, y 7..8.
    np.testing.assert_allclose(pixel_xyxy_to_normalized_cxcywh(np.array([3, 7, 4, 8]), 200, 100),
                               [3.5 / 200, 7.5 / 100, 1 / 200, 1 / 100])


def test_conversions_keep_batch_shape_and_gradients():
    boxes = torch.rand(2, 5, 4, requires_grad=True)
    pixels = normalized_cxcywh_to_pixel_xyxy(boxes, 64, 32)
    assert pixels.shape == (2, 5, 4)
    pixels.sum().backward()
    assert boxes.grad is not None
    back = pixel_xyxy_to_normalized_cxcywh(pixels.detach(), 64, 32)
    torch.testing.assert_close(back, boxes.detach())
