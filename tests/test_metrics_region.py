"""J (DAVIS region similarity): hand-computed cases and bit-equality with the official formula."""

from __future__ import annotations

import numpy as np
import pytest
from davis_reference import reference_iou
from mask_samples import blob_pair, noise_pair

from groprompt.errors import GroPromptError
from groprompt.metrics import region_similarity

PRED = np.array([[0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]], dtype=bool)
GT = np.array([[0, 1, 1, 1], [0, 1, 1, 1], [0, 0, 0, 0]], dtype=bool)


def test_hand_computed():
    # Intersection 4 pixels, union 6.
    assert region_similarity(PRED, GT) == 4 / 6
    # Column 3 void: union loses its 2 pixels there.
    void = np.zeros_like(GT)
    void[:, 3] = True
    assert region_similarity(PRED, GT, void) == 1.0
    # Void over a pixel of the intersection removes it from both counts: 3 / 5.
    void = np.zeros_like(GT)
    void[0, 1] = True
    assert region_similarity(PRED, GT, void) == 3 / 5


def test_edge_rules():
    empty, one = np.zeros((3, 4), bool), np.zeros((3, 4), bool)
    one[2, 3] = True  # a one-pixel object on the border
    assert region_similarity(empty, empty) == 1.0  # both empty
    assert region_similarity(empty, one) == 0.0  # empty prediction
    assert region_similarity(one, empty) == 0.0  # empty ground truth
    assert region_similarity(one, one) == 1.0
    assert region_similarity(one, one, one) == 1.0  # everything void: union empty -> 1
    assert isinstance(region_similarity(one, one), float)


def test_stack_equals_frames():
    rng = np.random.default_rng(0)
    pred, gt = blob_pair(rng, 5, 20, 30, scale=4)
    pred[2] = gt[2] = False
    void = rng.random(pred.shape) < 0.05
    stack = region_similarity(pred, gt, void)
    assert stack.shape == (5,) and stack.dtype == np.float64 and stack[2] == 1.0
    assert np.array_equal(stack, [region_similarity(p, g, v) for p, g, v in zip(pred, gt, void, strict=True)])


@pytest.mark.parametrize("seed", range(5))
def test_bit_equal_to_official_formula(seed):
    rng = np.random.default_rng(seed)
    pred, gt = (blob_pair(rng, 4, 37, 53, scale=5) if seed % 2 else noise_pair(rng, 4, 37, 53))
    void = rng.random(pred.shape) < 0.1
    for p, g, v in zip(pred, gt, void, strict=True):
        assert region_similarity(p, g, v) == reference_iou(p, g, v)
        assert region_similarity(p, g) == reference_iou(p, g)


def test_refuses_label_maps_and_shape_mismatch():
    with pytest.raises(GroPromptError, match="boolean"):
        region_similarity(GT.astype(np.uint8) * 255, GT)
    with pytest.raises(GroPromptError, match="differs"):
        region_similarity(PRED, GT.T)
    with pytest.raises(GroPromptError, match=r"\(H, W\)"):
        region_similarity(PRED[0], GT[0])
