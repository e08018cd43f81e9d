"""Clip sampling (groprompt/training/clips.py): windows, epoch order, sharding, negatives, box-only views."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from training_fixtures import write_toy_split

from groprompt.data.model import BoxOnlyVideo, Expression
from groprompt.data.registry import open_dataset
from groprompt.errors import GroPromptError
from groprompt.training import ClipSampler, TrainVideo, box_only_videos, sample_window

NAN = np.full(4, np.nan)


def _video(name: str, boxes: dict[int, np.ndarray], expressions: list[Expression]) -> TrainVideo:
    frames = len(next(iter(boxes.values())))
    view = BoxOnlyVideo(dataset="toy", split="train", name=name, frame_paths=tuple(Path(f"{t}.jpg") for t in
                        range(frames)), size=(10, 10), expressions=tuple(expressions), boxes=boxes,
                        annotated=np.ones(frames, dtype=bool))
    return TrainVideo(view, tuple(f"{t:05d}" for t in range(frames)))


def _track(present: list[bool]) -> np.ndarray:
    return np.array([[t, 0, t + 2, 2] if here else NAN for t, here in enumerate(present)], dtype=float)


def _windows(present: list[bool], length: int, draws: int = 200) -> set[tuple[int, ...]]:
    rng = np.random.default_rng(0)
    return {tuple(sample_window(np.array(present), length, rng).tolist()) for _ in range(draws)}


# ------------------------------------------------------------------------------------------- windows


def test_window_always_holds_the_only_present_frame():
    # Present only at frame 2 of 8, T = 3: the windows containing frame 2 start at 0, 1 or 2.
    assert _windows([False, False, True] + [False] * 5, 3) == {(0, 1, 2), (1, 2, 3), (2, 3, 4)}


def test_window_stays_inside_the_video():
    # Present only at the last of 6 frames, T = 4: the only window is 2..5.
    assert _windows([False] * 5 + [True], 4) == {(2, 3, 4, 5)}
    # Present everywhere in 4 frames, T = 2: every start 0..2 occurs.
    assert _windows([True] * 4, 2) == {(0, 1), (1, 2), (2, 3)}


def test_short_video_is_padded_by_repeating_its_last_frame():
    assert _windows([True, False], 5) == {(0, 1, 1, 1, 1)}


# ------------------------------------------------------------------------------------------- the sampler


@pytest.fixture()
def sampler() -> ClipSampler:
    two = _video("two", {1: _track([True] * 6), 2: _track([False, False, True, True, True, True]),
                         3: _track([False] * 6)},
                 [Expression("0", "red", 1), Expression("1", "green", 2), Expression("2", "also red", 1),
                  Expression("3", "never there", 3)])
    single = _video("single", {1: _track([True, True])}, [Expression("0", "lonely", 1), Expression("1", "?", None)])
    return ClipSampler([two, single], clip_length=3, seed=7)


def test_pairs_leave_out_expressions_without_a_present_object(sampler):
    assert [(index, expression.exp_id) for index, expression in sampler.pairs] == [(0, "0"), (0, "1"), (0, "2"),
                                                                                   (1, "0")]
    assert sampler.unusable == [("two", "3"), ("single", "1")]


def test_clip_fields(sampler):
    for position in range(40):
        clip = sampler.clip(epoch=0, position=position, pair=1)  # "green": object 2, present from frame 2 on
        assert clip.expression.exp_id == "1" and len(clip.frames) == 3
        assert np.all(np.diff(clip.frames) == 1) and clip.frames.max() >= 2
        np.testing.assert_array_equal(clip.boxes, clip.video.view.boxes[2][clip.frames])
        np.testing.assert_array_equal(clip.supervised, clip.frames >= 2)
        # S^j: an expression of another object of the same video (§3 does not ask that object to be present).
        assert clip.negative is not None and clip.negative.obj_id in (1, 3)
    negatives = [sampler.clip(0, position, 1).negative.exp_id for position in range(300)]
    assert set(negatives) == {"0", "2", "3"}
    assert all(80 <= negatives.count(exp_id) <= 120 for exp_id in ("0", "2", "3"))  # uniform: 100 each expected
    padded = sampler.clip(epoch=0, position=0, pair=3)  # the two-frame video, T = 3
    assert padded.frames.tolist() == [0, 1, 1] and padded.supervised.tolist() == [True, True, False]
    assert padded.negative is None  # no other object in its video


def test_epoch_order_is_a_seeded_permutation(sampler):
    orders = [sampler.epoch_order(epoch).tolist() for epoch in range(4)]
    assert all(sorted(order) == [0, 1, 2, 3] for order in orders)
    assert len({tuple(order) for order in orders}) > 1  # reshuffled every epoch
    assert sampler.epoch_order(2).tolist() == orders[2]


def test_clips_do_not_depend_on_the_number_of_processes(sampler):
    def key(clip):
        return clip.expression.exp_id, clip.video.view.name, clip.frames.tolist(), getattr(clip.negative, "exp_id",
                                                                                               None)

    assert sampler.steps_per_epoch(world_size=2, batch_clips=1) == 2
    assert sampler.steps_per_epoch(world_size=1, batch_clips=1) == 4
    assert sampler.steps_per_epoch(world_size=2, batch_clips=2) == 1
    single = [key(sampler.batch(3, step, 0, 1, 1)[0]) for step in range(4)]
    sharded = [key(sampler.batch(3, step, rank, 2, 1)[0]) for step in range(2) for rank in range(2)]
    assert sharded == single
    # One step of 2 ranks x 2 clips covers the same 4 clips.
    assert [key(c) for rank in range(2) for c in sampler.batch(3, 0, rank, 2, 2)] == single


def test_last_global_batch_wraps_around(sampler):
    # 4 pairs, 3 clips per step: step 1 takes positions 3, 4, 5 = order[3], order[0], order[1].
    order = sampler.epoch_order(0)
    clips = sampler.batch(0, 1, 0, 1, 3)
    names = [(clip.video.view.name, clip.expression.exp_id) for clip in clips]
    expected = [(sampler.videos[sampler.pairs[p][0]].view.name, sampler.pairs[p][1].exp_id)
                for p in (order[3], order[0], order[1])]
    assert names == expected


def test_split_without_a_usable_clip_is_an_error():
    video = _video("empty", {1: _track([False, False])}, [Expression("0", "ghost", 1)])
    with pytest.raises(GroPromptError, match="no usable training clip"):
        ClipSampler([video], clip_length=2, seed=0)


# ------------------------------------------------------------------------------------------- box-only views


def test_box_only_videos_from_a_dataset(tmp_path):
    dataset = open_dataset("refytvos", write_toy_split(tmp_path), "train")
    videos = box_only_videos(dataset, progress=False)
    assert [video.view.name for video in videos] == ["single", "two_0", "two_1"]
    two_0 = videos[1]
    # moving_squares: object k's box in frame t is (2 + step t, 4 + 8 (k - 1)) + 8 pixels; two_0 has step 6.
    np.testing.assert_array_equal(two_0.view.boxes[2][3], [20, 12, 28, 20])
    assert two_0.frame_key(3) == "refytvos/train/two_0/00015"
    assert not hasattr(two_0.view, "annotations")


def test_box_only_videos_need_ground_truth(tmp_path):
    from datasets_fixtures import ToyVideo, moving_squares, write_refytvos

    write_refytvos(tmp_path, "train", [ToyVideo("v", moving_squares(2, (32, 32), 1), [{"exp": "x", "obj_id": "1"}])],
                   with_annotations=False)
    with pytest.raises(GroPromptError, match="needs a split with ground truth"):
        box_only_videos(open_dataset("refytvos", tmp_path, "train"), progress=False)


# ------------------------------------------------------------------------------------------- several referents


def _multi_object_video() -> TrainVideo:
    # Object 1 at x 0..2 on frames 0-2, object 2 at x 5..9 (y 4..8) on frames 1-3: "both" refers to the two.
    left = np.array([[0, 0, 2, 2]] * 3 + [NAN], dtype=float)
    right = np.array([NAN] + [[5, 4, 9, 8]] * 3, dtype=float)
    return _video("pair", {1: left, 2: right, 3: _track([True] * 4)},
                  [Expression("0", "both", None, obj_ids=(1, 2)), Expression("1", "left one", 1),
                   Expression("2", "other", 3)])


def test_an_expression_of_several_objects_trains_on_the_box_of_their_union():
    sampler = ClipSampler([_multi_object_video()], clip_length=4, seed=0)
    assert [expression.exp_id for _, expression in sampler.pairs] == ["0", "1", "2"]
    # By hand: frame 0 object 1 alone, frames 1-2 the hull of both, frame 3 object 2 alone.
    np.testing.assert_array_equal(sampler.targets[0], [[0, 0, 2, 2], [0, 0, 9, 8], [0, 0, 9, 8], [5, 4, 9, 8]])
    clip = sampler.clip(0, 0, 0)
    np.testing.assert_array_equal(clip.boxes, sampler.targets[0][clip.frames])


def test_skip_leaves_expressions_of_several_objects_out():
    sampler = ClipSampler([_multi_object_video()], clip_length=4, seed=0, multi_object_target="skip")
    assert [expression.exp_id for _, expression in sampler.pairs] == ["1", "2"]
    assert sampler.unusable == [("pair", "0")]


def test_a_negative_sentence_shares_no_object_with_the_positive():
    from groprompt.losses.contrastive import sample_negative_expression

    expressions = _multi_object_video().view.expressions
    rng = np.random.default_rng(0)
    drawn = {sample_negative_expression(expressions, expressions[0], rng).exp_id for _ in range(50)}
    assert drawn == {"2"}  # "left one" names object 1, one of "both"'s
    drawn = {sample_negative_expression(expressions, expressions[1], rng).exp_id for _ in range(50)}
    assert drawn == {"2"}  # "both" names object 1 too
    drawn = {sample_negative_expression(expressions, expressions[2], rng).exp_id for _ in range(50)}
    assert drawn == {"0", "1"}


def test_the_multi_object_target_is_a_checked_setting():
    from groprompt.training.config import TrainingConfig

    assert TrainingConfig(prompter_size="tiny").multi_object_target == "union"
    with pytest.raises(GroPromptError, match="multi_object_target 'largest' is not one of union, skip"):
        TrainingConfig(prompter_size="tiny", multi_object_target="largest")
