"""SynRVOS on disk: the Ref-YouTube-VOS layout, byte-identical regeneration, atomic output, reading back."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from groprompt.cli import main
from groprompt.data.refytvos import load_refytvos
from groprompt.data.synrvos import generate_synrvos, get_preset
from groprompt.data.synrvos import writer as writer_module
from groprompt.errors import GroPromptError

TINY = get_preset("smoke").replace(name="tiny", train_videos=3, valid_videos=2, pretrain_frames=12)


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synrvos") / "data"
    generate_synrvos(root, TINY, seed=7, workers=1, progress=False)
    return root


def test_layout(dataset: Path):
    for split in ("pretrain", "train", "valid"):
        assert (dataset / split / "meta.json").is_file()
        assert (dataset / "meta_expressions" / split / "meta_expressions.json").is_file()
    meta = json.loads((dataset / "train" / "meta.json").read_text())["videos"]
    expressions = json.loads((dataset / "meta_expressions/train/meta_expressions.json").read_text())["videos"]
    assert sorted(meta) == sorted(expressions) == ["train_00000", "train_00001", "train_00002"]
    for name, entry in expressions.items():
        frames = entry["frames"]
        assert frames == [f"{t:05d}" for t in range(len(frames))] and 8 <= len(frames) <= 16
        for frame in frames:
            assert (dataset / "train/JPEGImages" / name / f"{frame}.jpg").is_file()
            with Image.open(dataset / "train/Annotations" / name / f"{frame}.png") as png:
                assert png.mode == "P" and png.size == (96, 96)
                labels = np.asarray(png)
            # An object is listed for exactly the frames where its label appears.
            for obj_id, obj in meta[name]["objects"].items():
                assert (frame in obj["frames"]) == bool((labels == int(obj_id)).any())
        for expression in entry["expressions"].values():
            assert set(expression) == {"exp", "obj_id", "kind"}
            assert expression["obj_id"] in meta[name]["objects"]
    manifest = json.loads((dataset / "synrvos.json").read_text())
    assert manifest["preset"] == "tiny" and manifest["seed"] == 7 and manifest["version"] == 2
    assert manifest["config"]["frame_size"] == 96 and manifest["splits"]["valid"]["videos"] == 2
    assert manifest["phrase_kind"] == "phrase" and "one expression entry per object" in manifest["pretrain_phrases"]
    valid = manifest["splits"]["valid"]
    assert valid["lookalike_share"] == round(valid["expressions_lookalike"] / valid["expressions"], 4)
    pretrain = manifest["splits"]["pretrain"]
    assert pretrain["phrases_naming_several_share"] == round(pretrain["phrases_naming_several"] / pretrain["phrases"],
                                                             4)
    assert not list(dataset.parent.glob(".*partial"))


META_FILES_DIGEST = "996910f5a0612c343ba8a8a285bb3c531be2142f7ab32a4dd94ea0a72a09fa79"
"""sha256 over (path, sha256) of the JSON files of TINY at seed 7, as generated before the MeViS layout was added
(they fix every scene's objects, masks' extents and expressions; JPEG and PNG bytes also depend on the codec build)."""


def test_default_layout_is_unchanged(dataset: Path):
    """Adding a layout must not move the default one: a change here needs a GENERATOR_VERSION bump (and this pin)."""
    combined = hashlib.sha256()
    for path in sorted(dataset.rglob("*.json")):
        combined.update(str(path.relative_to(dataset)).encode())
        combined.update(hashlib.sha256(path.read_bytes()).digest())
    assert combined.hexdigest() == META_FILES_DIGEST


def test_same_seed_same_bytes_whatever_the_workers(dataset: Path, tmp_path: Path):
    again = tmp_path / "again"
    generate_synrvos(again, TINY, seed=7, workers=2, progress=False)
    assert digest(again) == digest(dataset)
    other = tmp_path / "other"
    generate_synrvos(other, TINY, seed=8, workers=1, progress=False)
    theirs, ours = digest(other), digest(dataset)
    assert sum(theirs.get(name) != value for name, value in ours.items()) > 0.9 * len(ours)


def test_reads_back_with_the_refytvos_reader(dataset: Path):
    for split in ("pretrain", "train", "valid"):
        data = load_refytvos(dataset, split, dataset_name="synrvos")
        assert len(data) == {"pretrain": 12, "train": 3, "valid": 2}[split]
        kinds = {expression.kind for _, expression in data.expressions()}
        assert kinds <= ({"phrase"} if split == "pretrain" else {"appearance", "location", "motion"})
        for video in data:
            assert video.has_annotations and video.size == (96, 96)
            assert video.num_frames == 1 if split == "pretrain" else video.num_frames >= 8
            boxes = video.boxes()
            for expression in video.expressions:
                # Every expression's object appears in at least one frame.
                assert (~np.isnan(boxes[expression.obj_id][:, 0])).any()
    video = load_refytvos(dataset, "valid").videos[0]
    frame = video.read_frame(0)
    assert frame.shape == (96, 96, 3) and frame.dtype == np.uint8
    masks = video.annotation(0).masks
    assert masks and all(mask.dtype == bool and mask.shape == (96, 96) for mask in masks.values())


def test_refuses_a_non_empty_output_unless_forced(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(GroPromptError, match="not empty"):
        generate_synrvos(target, TINY, seed=7, progress=False)
    assert main(["synrvos", "--out", str(target), "--preset", "smoke", "--seed", "1"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (target / "keep.txt").read_text() == "mine"
    generate_synrvos(target, TINY, seed=7, force=True, progress=False)
    assert not (target / "keep.txt").exists() and digest(target) == digest(dataset)


def test_an_interrupted_run_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    real = writer_module.generate_video

    def failing(config, seed, split, index, backgrounds):
        if split == "train" and index == 1:
            raise KeyboardInterrupt
        return real(config, seed, split, index, backgrounds)

    monkeypatch.setattr(writer_module, "generate_video", failing)
    with pytest.raises(KeyboardInterrupt):
        generate_synrvos(tmp_path / "out", TINY, seed=7, workers=1, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_cli_generates_with_size_overrides(tmp_path: Path, capsys: pytest.CaptureFixture):
    out = tmp_path / "cli"
    code = main(["synrvos", "--out", str(out), "--preset", "smoke", "--seed", "2", "--workers", "1",
                 "--frame-size", "64", "--train-videos", "1", "--valid-videos", "1", "--pretrain-frames", "2"])
    assert code == 0 and "written to" in capsys.readouterr().out
    manifest = json.loads((out / "synrvos.json").read_text())
    assert manifest["preset"] == "smoke" and manifest["config"]["frame_size"] == 64
    assert load_refytvos(out, "train").videos[0].size == (64, 64)
    assert main(["synrvos", "--out", str(tmp_path / "bad"), "--preset", "smoke", "--frame-size", "8"]) == 2
    assert main(["synrvos", "--out", str(tmp_path / "bad"), "--preset", "smoke", "--seed", "-1"]) == 2
    assert not (tmp_path / "bad").exists()
