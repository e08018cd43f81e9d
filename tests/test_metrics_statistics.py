"""Per-object mean / recall / decay (DAVIS db_statistics, without its uint8 wrap) and the global summary."""

from __future__ import annotations

import math

import numpy as np
import pytest
from davis_reference import reference_statistics

from groprompt.errors import GroPromptError
from groprompt.metrics import ObjectStatistics, decay_bins, object_statistics, summarize_objects


def test_hand_computed_with_nan():
    # 5 frames: edges round(linspace(1, 5, 5)) - 1 = 0..4, so bins are [0:2], [1:3], [2:4], [3:5].
    stats = object_statistics(np.array([1.0, 0.4, 0.6, 0.2, np.nan]))
    assert stats.mean == pytest.approx(0.55)  # (1 + .4 + .6 + .2) / 4, the nan frame skipped
    assert stats.recall == pytest.approx(0.4)  # 2 of 5 frames above 0.5; nan counts as a miss
    assert stats.decay == pytest.approx(0.5)  # mean(1, .4) - nanmean(.2, nan)
    assert decay_bins(5) == [slice(0, 2), slice(1, 3), slice(2, 4), slice(3, 5)]


def test_single_frame_and_all_nan():
    assert object_statistics(np.array([0.7])) == ObjectStatistics(mean=0.7, recall=1.0, decay=0.0)
    nan_stats = object_statistics(np.full(4, np.nan))
    assert math.isnan(nan_stats.mean) and math.isnan(nan_stats.decay) and nan_stats.recall == 0.0


def test_300_frames_no_uint8_wrap():
    # Edges: round(linspace(1, 300, 5) + 1e-10) - 1 = round([1, 75.75, 150.5, 225.25, 300]) - 1
    #      = [0, 75, 150, 224, 299].
    values = np.concatenate([np.full(76, 1.0), np.full(148, 0.2), np.full(76, 0.0)])  # frames 0-75, 76-223, 224-299
    assert decay_bins(300)[0] == slice(0, 76) and decay_bins(300)[-1] == slice(224, 300)
    stats = object_statistics(values)
    assert stats.decay == 1.0  # first bin all 1.0, last bin all 0.0
    assert stats.mean == pytest.approx((76 * 1.0 + 148 * 0.2) / 300)
    assert stats.recall == pytest.approx(76 / 300)
    # The official uint8 cast turns edge 299 into 43: the last bin values[224:44] is empty and the decay nan.
    _, _, official_decay = reference_statistics(values, np.uint8)
    assert math.isnan(official_decay)
    assert reference_statistics(values, np.int64)[2] == stats.decay


@pytest.mark.parametrize("frames", [1, 2, 3, 4, 5, 7, 17, 100, 254, 255])
def test_equals_official_below_256_frames(frames):
    rng = np.random.default_rng(frames)
    values = rng.random(frames)
    values[rng.random(frames) < 0.1] = np.nan
    stats = object_statistics(values)
    expected = reference_statistics(values, np.uint8)
    np.testing.assert_array_equal([stats.mean, stats.recall, stats.decay], expected)


def test_official_wrap_starts_at_256_frames():
    # 256 frames: edges [0, 64, 128, 191, 255]; the last bin ends at uint8(255) + 1, which wraps to 0.
    values = np.linspace(1, 0, 256)
    assert math.isnan(reference_statistics(values, np.uint8)[2])
    assert decay_bins(256) == [slice(0, 65), slice(64, 129), slice(128, 192), slice(191, 256)]
    assert object_statistics(values).decay == pytest.approx(np.mean(values[0:65]) - np.mean(values[191:256]))


def test_refuses_empty_or_2d():
    with pytest.raises(GroPromptError):
        object_statistics(np.array([]))
    with pytest.raises(GroPromptError):
        object_statistics(np.zeros((2, 3)))


def test_summary_by_hand():
    j = [ObjectStatistics(0.8, 0.9, 0.1), ObjectStatistics(0.6, 0.5, -0.1)]
    f = [ObjectStatistics(0.7, 1.0, 0.2), ObjectStatistics(0.5, 0.0, 0.0)]
    summary = summarize_objects(j, f)
    expected = {"J&F-Mean": 65, "J-Mean": 70, "J-Recall": 70, "J-Decay": 0, "F-Mean": 60, "F-Recall": 50,
                "F-Decay": 10}
    assert list(summary) == list(expected)
    assert summary == pytest.approx(expected)


def test_summary_refuses_mismatch_and_empty():
    with pytest.raises(GroPromptError, match="same objects"):
        summarize_objects([ObjectStatistics(1, 1, 0)], [])
    with pytest.raises(GroPromptError, match="at least one"):
        summarize_objects([], [])
