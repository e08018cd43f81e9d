"""J (DAVIS region similarity): hand-computed cases and bit-equality with the official formula."""

from __future__ import annotations

import numpy as np
import pytest
from davis_reference import reference_iou
from mask_samples import blob_pair, noise_pair

from groprompt.errors import GroPromptError
from groprompt.metrics import region_similarity
from groprompt.metrics.region import joint_histogram, pair_region_similarity

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


@pytest.mark.parametrize("seed", range(4))
def test_every_pair_from_one_histogram_equals_pair_by_pair(seed):
    """pair_region_similarity of a joint histogram is region_similarity of each (prediction id, object) pair, bit
    for bit: with void left out, and with void counted as background (the semi-supervised task)."""
    rng = np.random.default_rng(seed)
    frames, height, width = 3, int(rng.integers(4, 30)), int(rng.integers(4, 30))
    gt = rng.integers(0, 4, size=(frames, height, width))           # codes 1..3 objects, 0 background
    gt[rng.random(gt.shape) < 0.1] = 4                               # code 4: void
    gt[0, 0, 0] = 3
    pred = rng.integers(0, 3, size=(frames, height, width))          # prediction codes 1, 2
    pred[1] = 0                                                      # an empty frame: J 1 where the object is absent
    histogram = joint_histogram(pred, gt, 3, 5)
    for void in (4, None):
        pairs = pair_region_similarity(histogram, [1, 2, 3], void)
        assert pairs.shape == (frames, 2, 3)
        for p in (1, 2):
            for col, g in enumerate((1, 2, 3)):
                expected = region_similarity(pred == p, gt == g, gt == 4 if void is not None else None)
                assert np.array_equal(pairs[:, p - 1, col], expected)
