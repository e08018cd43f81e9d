"""F (DAVIS contour accuracy): hand-computed edge cases and bit-equality with the straight reference."""

from __future__ import annotations

import numpy as np
import pytest
from davis_reference import reference_bmap, reference_f, reference_f_stack
from mask_samples import blob_pair, noise_pair

from groprompt.errors import GroPromptError
from groprompt.metrics import boundary, boundary_map, boundary_measure, tolerance_radius


def grid(rows: str) -> np.ndarray:
    """A bool mask from rows of '0'/'1', e.g. grid('0110 0110 0000')."""
    return np.array([[c == "1" for c in row] for row in rows.split()], dtype=bool)


# A 3x4 object (columns 1-2 of rows 0-1). A boundary pixel is one whose 2x2 block (itself, right, lower,
# lower-right) is not constant; on the last row only the right neighbour counts, on the last column the lower one:
#   gt      boundary     (0,0):[0 1/0 1] yes  (0,1):[1 1/1 1] no  (0,2):[1 0/1 0] yes
#   0110    1010         (1,0):[0 1/0 0] yes  (1,1):[1 1/0 0] yes (1,2):[1 0/0 0] yes
#   0110    1110         row 2: no right-neighbour change; column 3: no lower-neighbour change
#   0000    0000
GT = grid("0110 0110 0000")
GT_BOUNDARY = grid("1010 1110 0000")
# The same object shifted right so it touches the right border: no boundary along that border, but (1,3) differs
# from the pixel below it.
#   pred    boundary
#   0011    0100
#   0011    0111
#   0000    0000
PRED = grid("0011 0011 0000")
PRED_BOUNDARY = grid("0100 0111 0000")


def test_boundary_maps_by_hand():
    assert np.array_equal(boundary_map(GT), GT_BOUNDARY)
    assert np.array_equal(boundary_map(PRED), PRED_BOUNDARY)
    assert np.array_equal(boundary_map(np.stack([GT, PRED])), np.stack([GT_BOUNDARY, PRED_BOUNDARY]))


def test_one_pixel_objects_by_hand():
    # An interior pixel's boundary is offset up-left: the pixel and its upper, left and upper-left neighbours.
    assert np.array_equal(boundary_map(grid("0000 0100 0000")), grid("1100 1100 0000"))
    # At the bottom-right corner only three pixels remain, and the corner itself never is boundary.
    assert np.array_equal(boundary_map(grid("0000 0000 0001")), grid("0000 0011 0010"))
    # A full frame has no boundary at all.
    assert not boundary_map(np.ones((3, 4), dtype=bool)).any()


def test_tiny_case_by_hand():
    # Radius 0 (bound_th=0): only coinciding pixels match: (1,1) and (1,2). P = 2/4, R = 2/5, F = 2PR/(P+R) = 4/9.
    assert boundary_measure(PRED, GT, bound_th=0) == pytest.approx(4 / 9, abs=1e-15)
    # Default tolerance: ceil(0.008 * |(3, 4)|) = ceil(0.04) = 1, a plus-shaped disk. Every pred pixel has a gt pixel
    # at most one step away ((0,1) next to (0,0), (1,3) next to (1,2)) and vice versa ((1,0) next to (1,1)): F = 1.
    assert tolerance_radius(3, 4) == 1
    assert boundary_measure(PRED, GT) == 1.0


def test_disk_of_radius_one_excludes_diagonals():
    # pred: a one-pixel object at (0,0) -> boundary {(0,0)}; gt: one pixel at (1,1) -> {(0,0),(0,1),(1,0),(1,1)}.
    pred, gt = grid("1000 0000 0000"), grid("0000 0100 0000")
    # Radius 0: P = 1/1, R = 1/4, F = 2 * 0.25 / 1.25 = 0.4.
    assert boundary_measure(pred, gt, bound_th=0) == pytest.approx(0.4, abs=1e-15)
    # Radius 1: gt (1,1) sees pred (0,0) only diagonally, outside disk(1): R = 3/4, F = 1.5 / 1.75 = 6/7.
    assert boundary_measure(pred, gt, bound_th=1) == pytest.approx(6 / 7, abs=1e-15)
    # Radius 2 reaches the diagonal (1 + 1 <= 4): F = 1.
    assert boundary_measure(pred, gt, bound_th=2) == 1.0


@pytest.mark.parametrize(
    ("pred", "gt", "expected"),
    [
        (np.zeros((3, 4), bool), np.zeros((3, 4), bool), 1.0),  # both empty: P = R = 1
        (np.ones((3, 4), bool), np.ones((3, 4), bool), 1.0),  # full frames have no boundary either
        (np.zeros((3, 4), bool), GT, 0.0),  # empty prediction: P = 1, R = 0
        (GT, np.zeros((3, 4), bool), 0.0),  # empty ground truth: P = 0, R = 1
        (np.ones((3, 4), bool), GT, 0.0),  # a full-frame prediction has no boundary: P = 1, R = 0
    ],
)
def test_empty_boundary_rules(pred, gt, expected):
    assert boundary_measure(pred, gt) == expected


def test_no_match_at_all_gives_zero():
    # Two one-pixel objects 10 columns apart in a 3x20 frame (radius 1): P = R = 0, so F = 0 (not nan).
    pred, gt = np.zeros((3, 20), bool), np.zeros((3, 20), bool)
    pred[1, 2], gt[1, 12] = True, True
    assert boundary_measure(pred, gt) == 0.0


def test_disk_wider_than_the_frame():
    # 2x15 frame; pred: pixel (0,14) -> boundary {(0,13), (0,14)}; gt: pixel (0,0) -> boundary {(0,0)}.
    pred, gt = np.zeros((2, 15), bool), np.zeros((2, 15), bool)
    pred[0, 14], gt[0, 0] = True, True
    # Radius 11 reaches neither (13 and 14 columns away); nothing outside the frame counts (cv2.dilate's border).
    assert boundary_measure(pred, gt, bound_th=11) == 0.0
    # Radius 13 reaches (0,13) only: P = 1/2, R = 1/1, F = 1 / 1.5 = 2/3.
    assert boundary_measure(pred, gt, bound_th=13) == pytest.approx(2 / 3, abs=1e-15)


def test_void_clears_pixels_before_the_boundary_is_taken():
    # gt extends into column 3, which is void; with the void cleared, gt equals pred.
    pred, gt, void = grid("0110 0110 0000"), grid("0111 0111 0000"), grid("0001 0001 0001")
    # Without void at radius 0: gt boundary {(0,0),(1,0),(1,1),(1,2),(1,3)}, pred's {(0,0),(0,2),(1,0),(1,1),(1,2)};
    # 4 in common: P = R = 4/5, F = 0.8.
    assert boundary_measure(pred, gt, bound_th=0) == pytest.approx(0.8, abs=1e-15)
    assert boundary_measure(pred, gt, void, bound_th=0) == 1.0
    assert boundary_measure(pred, gt, void, bound_th=0) == reference_f(pred, gt, void, bound_th=0)


def test_tolerance_radius():
    assert tolerance_radius(480, 854) == 8  # ceil(0.008 * 979.6)
    assert tolerance_radius(480, 854, 0.02) == 20
    assert tolerance_radius(480, 854, 3) == 3
    assert tolerance_radius(480, 854, 0) == 0
    for bad in (2.5, -0.1, float("nan")):
        with pytest.raises(GroPromptError):
            tolerance_radius(480, 854, bad)


@pytest.mark.parametrize("seed", range(6))
def test_boundary_map_equals_reference(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((int(rng.integers(2, 30)), int(rng.integers(2, 30)))) < rng.uniform(0.05, 0.95)
    assert np.array_equal(boundary_map(mask), reference_bmap(mask))


@pytest.mark.parametrize("bound_th", [0.008, 0.03, 0.1, 0.25, 0, 1, 2, 5])
@pytest.mark.parametrize(("height", "width"), [(2, 2), (7, 5), (24, 40), (61, 47)])
def test_blobs_equal_reference(bound_th, height, width):
    rng = np.random.default_rng(height * 1000 + width)
    pred, gt = blob_pair(rng, 4, height, width, scale=max(1.0, min(height, width) / 6), error=0.5)
    assert np.array_equal(boundary_measure(pred, gt, bound_th=bound_th), reference_f_stack(pred, gt, bound_th))


@pytest.mark.parametrize("bound_th", [0.008, 0.05, 2])
@pytest.mark.parametrize("seed", range(3))
def test_noise_and_void_equal_reference(bound_th, seed):
    rng = np.random.default_rng(seed)
    height, width = int(rng.integers(3, 50)), int(rng.integers(3, 50))
    pred, gt = noise_pair(rng, 3, height, width)
    pred &= rng.random(pred.shape) < rng.uniform(0.1, 1.0)  # sparse to dense noise
    void = rng.random(pred.shape) < 0.1
    ours = boundary_measure(pred, gt, void, bound_th=bound_th)
    expected = [reference_f(p, g, v, bound_th=bound_th) for p, g, v in zip(pred, gt, void, strict=True)]
    assert np.array_equal(ours, expected)


@pytest.mark.parametrize(("height", "width"), [(1, 1), (1, 9), (8, 1), (2, 3)])
def test_thin_frames_equal_reference(height, width):
    rng = np.random.default_rng(height * 10 + width)
    pred, gt = noise_pair(rng, 8, height, width)
    assert np.array_equal(boundary_measure(pred, gt, bound_th=1), reference_f_stack(pred, gt, 1))
    assert np.array_equal(boundary_map(pred), [reference_bmap(p) for p in pred])


def test_far_apart_and_mixed_frames_equal_reference():
    # Frames whose boundaries are far apart (the block filter drops them), next to close ones and empty ones.
    rng = np.random.default_rng(7)
    pred, gt = blob_pair(rng, 6, 40, 90, scale=6)
    pred[1], gt[1] = False, False
    pred[2, :, 45:], gt[2, :, :45] = False, False
    pred[3] = False
    gt[4] = False
    assert np.array_equal(boundary_measure(pred, gt), reference_f_stack(pred, gt))


def test_stack_equals_frames_and_batches(monkeypatch):
    rng = np.random.default_rng(3)
    pred, gt = blob_pair(rng, 7, 30, 45, scale=5)
    whole = boundary_measure(pred, gt, bound_th=0.05)
    assert whole.shape == (7,) and whole.dtype == np.float64
    assert isinstance(boundary_measure(pred[0], gt[0]), float)
    assert np.array_equal(whole, [boundary_measure(p, g, bound_th=0.05) for p, g in zip(pred, gt, strict=True)])
    monkeypatch.setattr(boundary, "_BATCH_PIXELS", 1)  # one frame per batch
    assert np.array_equal(boundary_measure(pred, gt, bound_th=0.05), whole)


def test_full_resolution_frame_equals_reference():
    rng = np.random.default_rng(11)
    pred, gt = blob_pair(rng, 1, 480, 854, scale=40)
    ours = boundary_measure(pred, gt)
    assert 0.3 < ours[0] < 1.0  # a realistic, non-trivial case
    assert np.array_equal(ours, reference_f_stack(pred, gt))


def test_refuses_non_boolean_and_mismatched_masks():
    with pytest.raises(GroPromptError, match="boolean"):
        boundary_measure(GT.astype(np.uint8), GT)
    with pytest.raises(GroPromptError, match="shape"):
        boundary_measure(GT, GT[:, :3])
    with pytest.raises(GroPromptError, match="void"):
        boundary_measure(GT, GT, GT[:2])
    with pytest.raises(GroPromptError, match="fractional"):
        boundary_measure(GT, GT, bound_th=1.5)


@pytest.mark.parametrize("seed", range(3))
def test_boundaries_taken_once_and_paired_equal_boundary_measure(seed, monkeypatch):
    """F from boundaries computed once per mask (a stack's kept sparse frame by frame, as a video's ground truth is)
    and paired with several masks equals boundary_measure of each pair, in any batching and any frame window."""
    rng = np.random.default_rng(seed)
    frames, height, width = 7, int(rng.integers(10, 60)), int(rng.integers(10, 60))
    preds = [blob_pair(rng, frames, height, width, scale=4)[0] for _ in range(3)]
    preds[1][2] = False                                         # an empty frame
    _, gt = blob_pair(rng, frames, height, width, scale=4)
    gt[4] = True                                                # a full frame: no boundary
    for batch_pixels in (1, boundary._BATCH_PIXELS):
        monkeypatch.setattr(boundary, "_BATCH_PIXELS", batch_pixels)
        scan = boundary.BoundaryScan(height, width, tolerance_radius(height, width, 0.05))
        kept = scan.frame_boundaries(gt)
        assert kept.counts.tolist() == boundary_map(gt).sum(axis=(1, 2)).tolist()
        for first in (0, 2):                                    # all frames, and frames 2.. (a shifted window)
            for pred in preds:
                f = np.empty(frames - first)
                for window in scan.batches(frames - first):
                    shifted = slice(window.start + first, window.stop + first)
                    f[window] = scan.f(scan.of_masks(pred[shifted]), scan.of_frames(kept, shifted))
                assert np.array_equal(f, boundary_measure(pred[first:], gt[first:], bound_th=0.05))
