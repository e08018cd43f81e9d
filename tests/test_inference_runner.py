"""``groprompt infer`` and the inference runner, with the GT box + SAM oracle and small test methods.

The dataset (Ref-YouTube-VOS layout, :mod:`datasets_fixtures`) has two videos of 24 x 32 frames. In ``v1``
object 1 is a 6-pixel square at rows 4..10, columns 2+2t..8+2t; object 2 the same at rows 12..18, but absent from
frame 1. ``v2`` has one object, as ``v1``'s object 1. A random tiny SAM is the segmentor: its masks mean nothing,
so the tests check what the harness does with them (which box it got, where it went, what was written).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from datasets_fixtures import ToyVideo, moving_squares, write_refytvos

from groprompt.cli import main
from groprompt.data.registry import open_dataset
from groprompt.errors import GroPromptError
from groprompt.inference import read_boxes, read_masks, run_inference
from groprompt.masks import read_label_png
from groprompt.methods import FrameOutput, Method, VideoHeader
from groprompt.segmentation import Segmentor, load_sam

BASELINES = Path(__file__).resolve().parents[1] / "baselines"
NAN = [np.nan] * 4


def _labels() -> tuple[np.ndarray, np.ndarray]:
    v1 = moving_squares(num_frames=3, size=(24, 32), num_objects=2)
    v1[1][v1[1] == 2] = 0  # object 2 leaves the frame at t = 1
    return v1, moving_squares(num_frames=2, size=(24, 32), num_objects=1)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    v1, v2 = _labels()
    videos = [ToyVideo("v1", v1, [{"exp": "the upper square", "obj_id": "1"},
                                  {"exp": "the lower square", "obj_id": "2"}]),
              ToyVideo("v2", v2, [{"exp": "the square", "obj_id": "1"}])]
    write_refytvos(root, "train", videos)
    write_refytvos(root, "valid", videos, with_annotations=False)
    return root


@pytest.fixture
def segmentor(sam_file) -> Segmentor:
    """A fresh segmentor (its own memory-only cache and counters)."""
    return Segmentor(load_sam(sam_file)[0])


def infer(root: Path, sam_file: Path, out: Path, *extra: str, method: str = "gt-box-sam", split: str = "train",
          baselines: Path = BASELINES) -> int:
    return main(["infer", "--method", method, "--dataset-kind", "refytvos", "--data", str(root), "--split", split,
                 "--segmentor", str(sam_file), "--out", str(out), "--baselines-dir", str(baselines), *extra])


@pytest.fixture(scope="module")
def gt_run(root, sam_file, tmp_path_factory) -> Path:
    """One finished gt-box-sam run with a submission; tests copy it before changing anything."""
    out = tmp_path_factory.mktemp("gt_run") / "out"
    assert infer(root, sam_file, out, "--submission") == 0
    return out


def test_gt_boxes_are_tight_boxes_and_absent_object_gives_empty_mask(gt_run, root, sam_file):
    boxes = read_boxes(gt_run / "boxes" / "v1.csv")
    frames, upper, scores = boxes["0"]
    assert frames == ["00000", "00005", "00010"]
    # Hand-computed tight boxes (x0, y0, x1, y1), exclusive ends.
    np.testing.assert_array_equal(upper, [[2, 4, 8, 10], [4, 4, 10, 10], [6, 4, 12, 10]])
    np.testing.assert_array_equal(boxes["1"][1], [[2, 12, 8, 18], NAN, [6, 12, 12, 18]])
    assert np.isnan(scores).all()  # an oracle has no confidence

    masks = read_masks(gt_run / "masks" / "v1.json")
    assert masks["1"].shape == (3, 24, 32) and not masks["1"][1].any()
    # Each mask is SAM's answer to exactly the GT box on exactly that frame.
    video = open_dataset("refytvos", root, "train").video("v1")
    segmentor = Segmentor(load_sam(sam_file)[0])
    for t in (0, 2):
        expected = segmentor.segment_frames([video.read_frame(t)], [np.stack([upper[t], boxes["1"][1][t]])],
                                            [f"check/{t}"])[0]
        np.testing.assert_array_equal(masks["0"][t], expected[0])
        np.testing.assert_array_equal(masks["1"][t], expected[1])


def test_pngs_hold_the_masks_as_0_and_255(gt_run):
    masks = read_masks(gt_run / "masks" / "v1.json")
    for exp_id in ("0", "1"):
        for t, frame in enumerate(("00000", "00005", "00010")):
            png = read_label_png(gt_run / "Annotations" / "v1" / exp_id / f"{frame}.png")
            assert set(np.unique(png)) <= {0, 255}
            np.testing.assert_array_equal(png == 255, masks[exp_id][t])


def test_run_stats_count_one_encoder_pass_per_frame(gt_run):
    stats = json.loads((gt_run / "run_stats.json").read_text())
    assert stats["method"] == "gt-box-sam" and stats["options"] == {} and stats["split"] == "train"
    assert (stats["videos_run"], stats["frames"], stats["expressions"], stats["expression_frames"]) == (2, 5, 3, 8)
    # 8 expression-frames, 5 frames: each frame is embedded once and shared by its expressions.
    assert stats["segmentor_cache"]["encoder_passes"] == 5 == stats["segmentor_cache"]["distinct_frames"]
    assert stats["seconds"] >= stats["segmentor_seconds"] > 0


def test_submission_zip_holds_every_png(gt_run):
    with zipfile.ZipFile(gt_run / "submission.zip") as archive:
        names = sorted(archive.namelist())
        expected = sorted([f"Annotations/v1/{e}/{f}.png" for e in "01" for f in ("00000", "00005", "00010")]
                          + [f"Annotations/v2/0/{f}.png" for f in ("00000", "00005")])
        assert names == expected
        assert archive.read("Annotations/v1/1/00005.png") == (gt_run / "Annotations/v1/1/00005.png").read_bytes()


def test_resume_skips_done_videos_and_redoes_one_without_marker(gt_run, root, sam_file, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(gt_run, out)
    (out / "done" / "v2.json").unlink()
    kept = (out / "boxes" / "v1.csv").stat().st_mtime_ns
    (out / "Annotations" / "v2" / "0" / "00005.png").write_bytes(b"half-written")
    assert infer(root, sam_file, out) == 0
    stats = json.loads((out / "run_stats.json").read_text())
    assert (stats["videos_skipped"], stats["videos_run"], stats["frames"]) == (1, 1, 2)
    assert (out / "boxes" / "v1.csv").stat().st_mtime_ns == kept
    assert (out / "done" / "v2.json").is_file()
    assert read_label_png(out / "Annotations" / "v2" / "0" / "00005.png").shape == (24, 32)


def test_a_done_video_with_a_missing_png_is_redone(gt_run, root, sam_file, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(gt_run, out)
    (out / "Annotations" / "v1" / "1" / "00010.png").unlink()
    assert infer(root, sam_file, out) == 0
    assert json.loads((out / "run_stats.json").read_text())["videos_run"] == 1
    assert (out / "Annotations" / "v1" / "1" / "00010.png").is_file()


class Flaky(Method):
    """A box per expression (the whole frame); raises on one frame while ``crash_at`` is set."""

    name = "flaky"
    description = "test method"
    crash_at: tuple[str, int] | None = None

    def start(self, video):
        assert isinstance(video, VideoHeader)  # online and not an oracle: no pixels, no ground truth
        self.video = video.name

    def predict(self, frame, index, expressions, ground_truth=None):
        assert ground_truth is None
        if (self.video, index) == self.crash_at:
            raise RuntimeError("killed")
        height, width = frame.shape[:2]
        return [FrameOutput(box=np.array([0.0, 0.0, width, height]), score=0.5) for _ in expressions]


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_killed_run_leaves_no_temp_files_and_no_marker_then_completes(root, sam_file, tmp_path):
    dataset = open_dataset("refytvos", root, "train")
    segmentor = Segmentor(load_sam(sam_file)[0], batch_size=1)  # SAM windows of one frame: frame 0 is written
    method = Flaky()
    method.crash_at = ("v2", 1)
    with pytest.raises(RuntimeError, match="killed"):
        run_inference(method, dataset, tmp_path, segmentor=segmentor, progress=False)
    files = _files(tmp_path)
    assert not [f for f in files if Path(f).name.startswith(".")]  # no temporary file survives
    assert "done/v1.json" in files and "done/v2.json" not in files
    assert "Annotations/v2/0/00000.png" not in files  # v2 was half done: only in its staging folder
    assert ".partial/v2/Annotations/v2/0/00000.png" in files
    method.crash_at = None
    stats = run_inference(method, dataset, tmp_path, segmentor=segmentor, progress=False)
    assert (stats["videos_skipped"], stats["videos_run"]) == (1, 1)
    assert not (tmp_path / ".partial" / "v2").exists()
    frames, boxes, scores = read_boxes(tmp_path / "boxes" / "v2.csv")["0"]
    np.testing.assert_array_equal(boxes, [[0, 0, 32, 24]] * 2)
    np.testing.assert_array_equal(scores, [0.5, 0.5])


def test_output_folder_of_another_run_is_refused(gt_run, root, segmentor, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(gt_run, out)
    dataset = open_dataset("refytvos", root, "train")
    with pytest.raises(GroPromptError, match="results of another run.*'gt-box-sam'.*this run is method 'flaky'"):
        run_inference(Flaky(), dataset, out, segmentor=segmentor, progress=False)


class Masker(Method):
    """Ends-to-end: returns the left half of the frame as its mask (no box)."""

    name = "masker"
    description = "test method"
    outputs_masks = True

    def predict(self, frame, index, expressions, ground_truth=None):
        mask = np.zeros(frame.shape[:2], dtype=bool)
        mask[:, : frame.shape[1] // 2] = True
        return [FrameOutput(box=None, mask=mask) for _ in expressions]


def test_mask_method_skips_the_segmentor(root, tmp_path):
    stats = run_inference(Masker(), open_dataset("refytvos", root, "train"), tmp_path, segmentor=None,
                          progress=False)
    assert stats["segmentor_cache"] is None and stats["segmentor"] is None
    masks = read_masks(tmp_path / "masks" / "v2.json")["0"]
    assert masks[:, :, :16].all() and not masks[:, :, 16:].any()
    assert np.isnan(read_boxes(tmp_path / "boxes" / "v2.csv")["0"][1]).all()


class Peeker(Method):
    """Offline: records whether the video it is given carries ground truth."""

    name = "peeker"
    description = "test method"
    online = False
    seen: list = []

    def start(self, video):
        self.seen.append(video.annotations)

    def predict(self, frame, index, expressions, ground_truth=None):
        assert ground_truth is None
        return [FrameOutput(box=None) for _ in expressions]


def test_offline_method_gets_the_video_without_ground_truth(root, segmentor, tmp_path):
    dataset = open_dataset("refytvos", root, "train")
    stats = run_inference(Peeker(), dataset, tmp_path, segmentor=segmentor, progress=False)
    assert Peeker.seen == [None, None]
    assert stats["segmentor_cache"]["encoder_passes"] == 0  # no box on any frame: nothing to embed
    assert not read_masks(tmp_path / "masks" / "v1.json")["0"].any()


@pytest.mark.parametrize("outputs, message", [
    (lambda n: [FrameOutput(box=None)] * (n + 1), "returned 3 outputs for 2 expressions"),
    (lambda n: [FrameOutput(box=np.array([0.0, 1.0, np.nan, 3.0]))] * n, "expected 4 finite numbers"),
    (lambda n: [FrameOutput(box=np.zeros(3))] * n, "expected 4 finite numbers"),
    (lambda n: [None] * n, "not a FrameOutput"),
])
def test_malformed_method_outputs_are_named_errors(root, segmentor, tmp_path, outputs, message):
    class Broken(Method):
        name, description = "broken", "test method"

        def predict(self, frame, index, expressions, ground_truth=None):
            return outputs(len(expressions))

    dataset = open_dataset("refytvos", root, "train")
    with pytest.raises(GroPromptError, match=f"{message}.*video v1") as error:
        run_inference(Broken(), dataset, tmp_path, segmentor=segmentor, progress=False)
    assert error.value.frame == "00000"
    assert not (tmp_path / "done").exists()


@pytest.mark.parametrize("change, message", [
    ({"--method": "nope"}, "unknown method 'nope'; available: .*gt-box-sam"),
    ({"--option": "colour=red"}, "no option.*colour"),
    ({"--option": "colour"}, "not of the form key=value"),
    ({"--split": "valid"}, "reads the ground truth, but 2 videos of this split have none"),
    ({"--split": "test"}, "no expressions file for split 'test'"),
    ({"--segmentor": "missing.pt"}, "SAM checkpoint not found"),
    ({"--segmentor-variant": "vit_b"}, "holds a different size"),
    ({"--device": "nonsense"}, "unknown device 'nonsense'"),
])
def test_bad_inputs_fail_before_any_output(root, sam_file, tmp_path, capsys, change, message):
    arguments = {"--method": "gt-box-sam", "--dataset-kind": "refytvos", "--data": str(root), "--split": "train",
                 "--segmentor": str(sam_file), "--out": str(tmp_path / "out"), "--baselines-dir": str(BASELINES)}
    arguments.update(change)
    assert main(["infer", *[part for pair in arguments.items() for part in pair]]) == 2
    assert re.search(message, capsys.readouterr().err, re.S)
    assert not (tmp_path / "out").exists()


def test_box_method_without_segmentor_is_refused(root, tmp_path, capsys):
    command = ["infer", "--method", "gt-box-sam", "--dataset-kind", "refytvos", "--data", str(root), "--split",
               "train", "--out", str(tmp_path / "out"), "--baselines-dir", str(BASELINES)]
    assert main(command) == 2
    assert "outputs boxes and needs a segmentor" in capsys.readouterr().err


def test_written_files_are_complete_json(gt_run):
    for path in (gt_run / "masks").glob("*.json"):
        assert json.loads(path.read_text())["format"] == "groprompt-masks/1"
    assert not [name for _, _, names in os.walk(gt_run) for name in names if name.startswith(".")]
