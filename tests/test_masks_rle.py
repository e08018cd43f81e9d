"""COCO compressed RLE, decoded and checked in numpy (groprompt.masks.decode_rle): hand-written counts strings,
the column-major convention, pycocotools' own encodings, and the malformed strings pycocotools decodes silently."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from groprompt.masks import decode_rle, encode_rle


def _coco_string(runs: list[int], height: int, width: int) -> str:
    """pycocotools' compressed string of an uncompressed run list (the reference encoder)."""
    return coco_mask.frPyObjects({"size": [height, width], "counts": runs}, height, width)["counts"].decode()


def test_hand_written_counts_are_column_major():
    # 3 x 4, pixels (row 0, column 1) and (row 2, column 3). Column by column: 3 zeros (column 0), one 1, 7 zeros,
    # one 1: runs 3, 1, 7, 1; the fourth is stored as 1 - 1 = 0 (its difference from the run two before).
    mask = np.zeros((3, 4), dtype=bool)
    mask[0, 1] = mask[2, 3] = True
    assert _coco_string([3, 1, 7, 1], 3, 4) == "3170"
    np.testing.assert_array_equal(decode_rle({"size": [3, 4], "counts": "3170"}), mask)
    # Row-major reading would put the pixels at (0, 3) and (2, 0) instead: the test tells the orders apart.
    assert not decode_rle({"size": [3, 4], "counts": "3170"})[0, 3]


def test_hand_written_first_run_of_ones_empty_and_full_masks():
    corner = np.zeros((2, 2), dtype=bool)
    corner[0, 0] = True
    np.testing.assert_array_equal(decode_rle({"size": [2, 2], "counts": "013"}), corner)  # runs 0, 1, 3
    assert not decode_rle({"size": [3, 4], "counts": "<"}).any()                         # one run of 12 zeros
    assert decode_rle({"size": [3, 4], "counts": b"0<"}).all()                           # 0 zeros, 12 ones
    assert decode_rle({"size": [0, 0], "counts": "0"}).shape == (0, 0)


def test_negative_difference_and_multi_character_runs():
    # Runs 1, 5, 1, 2: the fourth is stored as 2 - 5 = -3, one character with the sign bit ('M').
    assert _coco_string([1, 5, 1, 2], 3, 3) == "151M"
    expected = np.repeat([0, 1, 0, 1], [1, 5, 1, 2]).astype(bool).reshape(3, 3).T
    np.testing.assert_array_equal(decode_rle({"size": [3, 3], "counts": "151M"}), expected)
    runs = [1000, 40, 3, 2000, 57]  # several 5-bit groups per run
    string = _coco_string(runs, 50, 62)
    np.testing.assert_array_equal(decode_rle({"size": [50, 62], "counts": string}),
                                  np.repeat(np.arange(5) % 2, runs).astype(bool).reshape(62, 50).T)


def test_pycocotools_encodings_decode_to_their_masks():
    rng = np.random.default_rng(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for height, width, density in [(7, 5, 0.5), (120, 90, 0.02), (64, 64, 0.97), (1, 300, 0.3)]:
            mask = rng.random((height, width)) < density
            mask[:, :2] = rng.random((height, 1)) < 0.5  # long vertical runs too
            np.testing.assert_array_equal(decode_rle(encode_rle(mask)), mask)
            reference = coco_mask.decode(coco_mask.encode(np.asfortranarray(mask.astype(np.uint8))))
            np.testing.assert_array_equal(decode_rle(encode_rle(mask)), reference.astype(bool))


@pytest.mark.parametrize(("rle", "problem"), [
    ({"size": [3, 4], "counts": ""}, "empty"),
    ({"size": [3, 4], "counts": "3"}, "cover 3 pixels, not height x width = 12"),
    ({"size": [3, 4], "counts": "31700"}, "not height x width"),
    ({"size": [3, 4], "counts": "3p"}, "outside"),
    ({"size": [3, 4], "counts": "3\x00"}, "outside"),
    ({"size": [3, 4], "counts": "3ü"}, "outside"),
    ({"size": [3, 4], "counts": "3P"}, "truncated"),
    ({"size": [3, 4], "counts": "1M"}, "negative"),
    ({"size": [3], "counts": "<"}, "size"),
    ({"size": [3, -4], "counts": "<"}, "size"),
    ({"counts": "<"}, "size"),
    ({"size": [3, 4], "counts": [12]}, "not a compressed string"),
])
def test_malformed_rle_is_refused(rle, problem):
    with pytest.raises(ValueError, match=problem):
        decode_rle(rle)
