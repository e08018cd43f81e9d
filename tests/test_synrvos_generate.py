"""SynRVOS content: a sample of the default preset's videos exercises what the benchmark is for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from groprompt.data.synrvos import Checker, generate_video, get_preset, video_statistics
from groprompt.data.synrvos.backgrounds import CANDIDATES, available_backgrounds
from groprompt.data.synrvos.expressions import PHRASE, SIDES, TEMPLATES, VOCABULARY
from groprompt.data.synrvos.generate import expression_kinds


@pytest.fixture(scope="module")
def train_sample():
    config = get_preset("default")
    return [generate_video(config, 0, "train", i, available_backgrounds()) for i in range(40)]


@pytest.fixture(scope="module")
def still_sample():
    config = get_preset("default")
    return [generate_video(config, 0, "pretrain", i, available_backgrounds()) for i in range(80)]


def totals(videos) -> dict:
    summed: dict = {}
    for video in videos:
        for key, value in video_statistics(video).items():
            summed[key] = summed.get(key, 0) + value
    return summed


def test_backgrounds_load_offline():
    names = available_backgrounds()
    assert len(names) >= 8 and "astronaut" in names
    assert list(names) == [Path(c).stem for c in CANDIDATES if Path(c).stem in names]  # a fixed order


def test_default_videos_exercise_every_difficulty(train_sample):
    stats = totals(train_sample)
    config = get_preset("default")
    assert config.frames_min * 40 <= stats["frames"] <= config.frames_max * 40
    assert 2 * 40 <= stats["objects"] <= 4 * 40
    assert stats["videos_with_twins"] >= 4  # ModalCon: same appearance, different motion
    assert stats["videos_with_occlusion"] >= 5
    assert stats["objects_absent_in_some_frame"] >= 5  # entering or leaving
    assert stats["objects_changing_size"] >= 5
    for kind in ("appearance", "location", "motion"):
        assert stats[f"expressions_{kind}"] >= 0.15 * stats["expressions"]
    # A box is not a mask: anti-aliased, rotated, non-rectangular shapes.
    assert 0.45 < stats["mask_box_ratio_sum"] / stats["mask_box_pairs"] < 0.75


def test_every_expression_is_unambiguous_and_every_object_referred(train_sample):
    config = get_preset("default")
    margin = config.location_margin * config.frame_size
    for video in train_sample:
        checker = Checker(video.tracks, margin)
        referred = {obj_id for obj_id, _, _ in video.expressions}
        assert referred == {obj.obj_id for obj in video.scene.objects}
        twins = {i for pair in video.scene.twin_pairs() for i in pair}
        per_object: dict[int, int] = {}
        for obj_id, meaning, text in video.expressions:
            assert checker.referents(meaning) == [obj_id], (video.name, text)
            assert meaning.kind in expression_kinds(obj_id in twins)
            assert text.startswith("the ") and text in meaning.wordings()
            per_object[obj_id] = per_object.get(obj_id, 0) + 1
        assert all(1 <= n <= config.expressions_max for n in per_object.values())


def test_still_phrases_name_every_object_they_fit_and_nothing_else(still_sample):
    config = get_preset("default")
    qualifier_words = {word for words in (SIDES, VOCABULARY["motions"]) for word in words} | {
        word for templates in TEMPLATES["location"].values() for template in templates
        for word in template.replace("{desc}", "").split()}
    for video in still_sample:
        checker = Checker(video.tracks, config.location_margin * config.frame_size)
        named: dict[str, list[int]] = {}
        for obj_id, meaning, text in video.expressions:
            assert meaning.kind == PHRASE and text == meaning.description, (video.name, text)
            assert not set(text.split()) & (qualifier_words | {"the"}), text
            named.setdefault(text, []).append(obj_id)
        assert 1 <= len(named) <= config.expressions_max
        for text, objects in named.items():
            meaning = next(m for _, m, t in video.expressions if t == text)
            assert objects == checker.referents(meaning) == sorted(objects), (video.name, text)
    stats = totals(still_sample)
    assert stats["phrases_naming_several"] >= 0.2 * stats["phrases"]  # what fine-tuning must learn to resolve


def test_valid_expressions_are_mostly_lookalikes():
    """The default preset's valid split: at least half the expressions need more than their description."""
    config = get_preset("default")
    videos = [generate_video(config, 0, "valid", i, available_backgrounds()) for i in range(30)]
    stats = totals(videos)
    assert stats["expressions_lookalike"] >= 0.5 * stats["expressions"]
    assert stats["expressions_lookalike"] == stats["expressions_location"] + stats["expressions_motion"]


def test_twins_differ_only_in_motion(train_sample):
    pairs = [(video, pair) for video in train_sample for pair in video.scene.twin_pairs()]
    assert pairs
    for video, (a, b) in pairs:
        first, second = (video.scene.objects[i - 1] for i in (a, b))
        assert first.appearance == second.appearance and first.motion != second.motion
        assert {m.kind for obj_id, m, _ in video.expressions if obj_id in (a, b)} == {"motion"}


def test_small_objects_always_look_smaller_than_large_ones(train_sample):
    radii = {"small": [], "large": []}
    for video in train_sample:
        for obj in video.scene.objects:
            radii[obj.size] += [obj.radius_at(t, video.scene.num_frames) for t in range(video.scene.num_frames)]
    assert max(radii["small"]) < min(radii["large"])


def test_stills_are_still(still_sample):
    stats = totals(still_sample)
    assert stats["frames"] == stats["videos"] == 80
    assert all(obj.motion == "still" for video in still_sample for obj in video.scene.objects)


def test_a_video_depends_only_on_seed_split_and_index():
    config = get_preset("smoke")
    backgrounds = available_backgrounds()
    one = generate_video(config, 3, "valid", 5, backgrounds)
    again = generate_video(config, 3, "valid", 5, backgrounds)
    assert np.array_equal(one.rendering.frames, again.rendering.frames)
    assert [text for _, _, text in one.expressions] == [text for _, _, text in again.expressions]
    other = generate_video(config, 4, "valid", 5, backgrounds)
    assert not np.array_equal(one.rendering.frames, other.rendering.frames)
