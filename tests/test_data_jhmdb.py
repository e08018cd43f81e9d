"""JHMDB-Sentences reader on a tiny copy in the official layout (real PNG frames and .mat masks)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from datasets_fixtures import JHMDBVideo, moving_squares, write_jhmdb
from scipy.io import savemat

from groprompt.data.jhmdb import load_jhmdb
from groprompt.errors import GroPromptError


def _actor(num_frames: int, absent: tuple[int, ...] = ()) -> np.ndarray:
    masks = moving_squares(num_frames=num_frames, num_objects=1) == 1
    masks[list(absent)] = False
    return masks


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jhmdb(tmp_path_factory.mktemp("jhmdb"), [
        JHMDBVideo("pullup_man_1", "pullup", _actor(5), "man in black pulling up", samples=[1, 3, 5]),
        JHMDBVideo("a_runner_2", "run", _actor(4, absent=(3,)), "a woman running, fast", samples=[2, 3, 4]),
    ])


@pytest.fixture()
def copy(root: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(root, tmp_path / "jhmdb"))


def test_videos_sample_frames_and_masks(root: Path):
    dataset = load_jhmdb(root, "test")
    assert dataset.name == "jhmdb" and [v.name for v in dataset] == ["a_runner_2", "pullup_man_1"]
    video = dataset.video("pullup_man_1")
    assert video.frame_names == ("00001", "00002", "00003", "00004", "00005") and video.size == (24, 32)
    assert video.object_ids == (1,)
    assert [(e.exp_id, e.text, e.obj_id) for e in video.expressions] == [("0", "man in black pulling up", 1)]
    assert video.annotated_frames().tolist() == [True, False, True, False, True]  # frames 1, 3, 5 (1-based)
    np.testing.assert_array_equal(video.annotation(2).masks[1], _actor(5)[2])  # frame number 3 -> part_mask[..., 2]
    boxes = video.boxes()[1]
    np.testing.assert_array_equal(boxes[[0, 2, 4]], [[2, 4, 8, 10], [6, 4, 12, 10], [10, 4, 16, 10]])
    assert np.isnan(boxes[[1, 3]]).all()
    assert video.read_frame(0).shape == (24, 32, 3)


def test_absent_actor_has_no_mask(root: Path):
    video = load_jhmdb(root).video("a_runner_2")
    assert video.expressions[0].text == "a woman running, fast" and video.expressions[0].exp_id == "1"
    assert video.annotation(3).masks == {}
    np.testing.assert_array_equal(video.box_only().present(1), [False, True, True, False])


def test_missing_part_mask_key_names_the_mat(copy: Path):
    mat = copy / "puppet_mask" / "run" / "a_runner_2" / "puppet_mask.mat"
    savemat(mat, {"other": np.zeros((2, 2))})
    with pytest.raises(GroPromptError, match=r'lacks the key "part_mask" \(has \[\'other\'\]\)') as error:
        load_jhmdb(copy)  # found from the file's header, when loading
    assert "a_runner_2/puppet_mask.mat" in str(error.value)


def test_sample_frame_without_mask(copy: Path):
    frames = copy / "Rename_Images" / "run" / "a_runner_2"
    shutil.copy(frames / "00004.png", frames / "00005.png")  # an image past the masks' last frame
    path = copy / "jhmdb_sentences_samples_metadata.json"
    samples = json.loads(path.read_text())
    samples.append(["a_runner_2", "./jhmdb_sentences/Rename_Images/run/a_runner_2/00005.png", "x.mat", 5, "q"])
    path.write_text(json.dumps(samples))
    with pytest.raises(GroPromptError, match="mask file has 4 frames; sample frame 5 has no mask") as error:
        load_jhmdb(copy)  # found from the file's header, when loading
    assert "puppet_mask.mat" in str(error.value)


def test_video_without_samples_and_malformed_metadata(copy: Path):
    path = copy / "jhmdb_sentences_samples_metadata.json"
    samples = json.loads(path.read_text())
    path.write_text(json.dumps([s for s in samples if s[0] != "a_runner_2"]))
    with pytest.raises(GroPromptError, match="no sample frames") as error:
        load_jhmdb(copy)
    assert "video a_runner_2" in str(error.value) and "samples_metadata.json" in str(error.value)
    path.write_text(json.dumps([["a_runner_2", 7]]))
    with pytest.raises(GroPromptError, match="sample 0 is not"):
        load_jhmdb(copy)


def test_missing_frames_folder_and_mask_file(copy: Path):
    (copy / "puppet_mask" / "pullup" / "pullup_man_1" / "puppet_mask.mat").unlink()
    with pytest.raises(GroPromptError, match="mask file is missing") as error:
        load_jhmdb(copy)
    assert "pullup_man_1/puppet_mask.mat" in str(error.value)
    shutil.rmtree(copy / "Rename_Images" / "pullup")
    with pytest.raises(GroPromptError, match="no frame folder"):
        load_jhmdb(copy)


def test_only_the_test_split(root: Path):
    with pytest.raises(GroPromptError, match="evaluation only"):
        load_jhmdb(root, "train")
