"""A2D- / JHMDB-Sentences scores: P@K, overall IoU, mean IoU from hand-computed counts."""

from __future__ import annotations

import numpy as np
import pytest

from groprompt.errors import GroPromptError
from groprompt.metrics import intersection_union, referring_segmentation_scores


def test_counts_from_masks():
    pred = np.array([[0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]], dtype=bool)
    gt = np.array([[0, 1, 1, 1], [0, 1, 1, 1], [0, 0, 0, 0]], dtype=bool)
    assert intersection_union(pred, gt) == (4, 6)
    i, u = intersection_union(np.stack([pred, pred, np.zeros_like(pred)]), np.stack([gt, pred, np.zeros_like(gt)]))
    assert i.tolist() == [4, 4, 0] and u.tolist() == [6, 4, 0]


def test_scores_by_hand():
    # IoUs with the 1e-6 smoothing: (50+e)/(100+e) is just above 0.5, e/(10+e) ~ 1e-7, e/e = 1 (both empty),
    # (90+e)/(100+e) just above 0.9. "> K" is strict, so the first sample passes K = 0.5 and the last K = 0.9.
    scores = referring_segmentation_scores([50, 0, 0, 90], [100, 10, 0, 100])
    assert scores["P@0.5"] == 75.0
    assert scores["P@0.6"] == scores["P@0.7"] == scores["P@0.8"] == scores["P@0.9"] == 50.0
    assert scores["overall IoU"] == pytest.approx(100 * 140 / 210)
    assert scores["mean IoU"] == pytest.approx(100 * (0.5 + 1e-7 + 1.0 + 0.9) / 4, abs=1e-6)
    assert list(scores) == ["P@0.5", "P@0.6", "P@0.7", "P@0.8", "P@0.9", "overall IoU", "mean IoU"]


def test_refuses_bad_counts():
    with pytest.raises(GroPromptError, match="one intersection and one union"):
        referring_segmentation_scores([1, 2], [3])
    with pytest.raises(GroPromptError, match="intersection <= union"):
        referring_segmentation_scores([5], [3])
    with pytest.raises(GroPromptError, match="empty union"):
        referring_segmentation_scores([0, 0], [0, 0])
