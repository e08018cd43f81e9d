"""Box IoU (Table 6 "Box"): hand-computed cases, absent frames and degenerate boxes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from groprompt.errors import GroPromptError
from groprompt.metrics import box_iou, expression_box_iou, mean_box_iou

NAN = [np.nan] * 4


def test_pairs_by_hand():
    pred = np.array([[0, 0, 2, 2], [0, 0, 2, 2], [0, 0, 1, 1], [0, 0, 4, 2], [1, 1, 1, 3], [1, 1, 1, 1]], float)
    gt = np.array([[1, 1, 3, 3], [0, 0, 2, 2], [1, 0, 2, 1], [1, 0, 3, 2], [0, 0, 2, 2], [1, 1, 1, 1]], float)
    iou = box_iou(pred, gt)
    # overlap 1x1 of two 2x2 boxes: 1 / (4 + 4 - 1); identical; sharing an edge only (exclusive ends): 0;
    # gt inside pred: 4 / 8; zero-area prediction: 0; two identical zero-area boxes: 0, not nan.
    np.testing.assert_allclose(iou, [1 / 7, 1, 0, 0.5, 0, 0], rtol=0, atol=1e-15)


def test_nan_rows_give_nan():
    iou = box_iou(np.array([NAN, [0, 0, 1, 1]]), np.array([[0, 0, 1, 1], NAN]))
    assert np.isnan(iou).all()


def test_expression_mean_over_present_frames():
    pred = np.array([[0, 0, 2, 2], NAN, [5, 5, 6, 6], [0, 0, 2, 2]])
    gt = np.array([[0, 0, 2, 2], [0, 0, 2, 2], NAN, [1, 1, 3, 3]])
    # Frames 0, 1, 3 are present: IoU 1, 0 (no prediction), 1/7; frame 2 (absent) is skipped.
    assert expression_box_iou(pred, gt) == pytest.approx((1 + 0 + 1 / 7) / 3)
    assert math.isnan(expression_box_iou(pred, np.array([NAN] * 4)))


def test_mean_over_expressions_x100():
    first = (np.array([[0, 0, 2, 2], NAN]), np.array([[0, 0, 2, 2], [0, 0, 2, 2]]))  # (1 + 0) / 2
    second = (np.array([[0, 0, 2, 2]]), np.array([[1, 1, 3, 3]]))  # 1 / 7
    never_present = (np.array([[0, 0, 1, 1]]), np.array([NAN]))  # left out
    assert mean_box_iou([first, second, never_present]) == pytest.approx(100 * (0.5 + 1 / 7) / 2)
    with pytest.raises(GroPromptError, match="none of the 1"):
        mean_box_iou([never_present])


def test_refuses_malformed_boxes():
    with pytest.raises(GroPromptError, match="x1 < x0"):
        box_iou(np.array([[10, 10, 5, 5]], float), np.array([[0, 0, 1, 1]], float))
    with pytest.raises(GroPromptError, match=r"\(N, 4\)"):
        box_iou(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(GroPromptError, match="2 predicted boxes for 1"):
        box_iou(np.zeros((2, 4)), np.zeros((1, 4)))
