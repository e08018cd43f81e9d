"""``groprompt evaluate --layout referring`` on tiny A2D-Sentences and JHMDB-Sentences releases (official layouts).

Frames are 16x16. Predictions are written as ``groprompt infer`` writes them (``<video>/<exp_id>/<frame>.png``,
0 / 255), on every frame, so that only the sampling decides what is scored. Every I and U below is counted by hand.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from datasets_fixtures import (
    A2DVideo,
    JHMDBVideo,
    ToyVideo,
    write_a2d,
    write_jhmdb,
    write_refytvos,
)

from groprompt.cli import main
from groprompt.data import Dataset, Expression, open_dataset
from groprompt.errors import GroPromptError
from groprompt.evaluation.referring import plan_referring
from groprompt.masks import write_label_png
from groprompt.reporting.results import MethodRuns, read_evaluation

H = W = 16
EPS = 1e-6


def box(rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros((H, W), dtype=bool)
    mask[rows, cols] = True
    return mask


MAN = box(slice(0, 4), slice(0, 10))      # 40 px, instance 1 of vidA
DOG = box(slice(8, 16), slice(0, 5))      # 40 px, instance 2 of vidA, absent from its frame 00003
BALL = box(slice(2, 12), slice(2, 8))     # 60 px, instance 1 of vidB
ACTOR = box(slice(4, 12), slice(4, 12))   # 64 px, the JHMDB actor


def labels(frames: list[dict[int, np.ndarray]]) -> np.ndarray:
    stack = np.zeros((len(frames), H, W), dtype=np.uint8)
    for t, objects in enumerate(frames):
        for obj_id, mask in objects.items():
            stack[t][mask] = obj_id
    return stack


@pytest.fixture(scope="module")
def a2d_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    both, man = {1: MAN, 2: DOG}, {1: MAN}
    return write_a2d(tmp_path_factory.mktemp("a2d"), [
        # exp ids are data rows of a2d_annotation.txt: "0" -> instance 1, "1" -> instance 2 of vidA, "2" -> vidB.
        A2DVideo("vidA", labels([both, both, man, both]), subset=1, annotated=[0, 2],
                 queries=[("1", "the man on top"), ("2", "the dog")]),
        A2DVideo("vidB", labels([{1: BALL}] * 3), subset=1, annotated=[1], queries=[("1", "a ball")]),
        A2DVideo("vidTrain", labels([{1: BALL}] * 2), subset=0, annotated=[0], queries=[("1", "a train ball")]),
    ])


@pytest.fixture(scope="module")
def jhmdb_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jhmdb(tmp_path_factory.mktemp("jhmdb"), [
        JHMDBVideo("pullup_1", "pullup", np.stack([ACTOR] * 5), "a man pulling up", samples=[1, 3, 5])])


def write_masks(pred: Path, video: str, exp_id: str, masks: dict[str, np.ndarray]) -> None:
    for frame, mask in masks.items():
        write_label_png(pred / video / exp_id / f"{frame}.png", mask.astype(np.uint8) * 255)


EMPTY = np.zeros((H, W), dtype=bool)


@pytest.fixture
def a2d_pred(tmp_path: Path) -> Path:
    """The four samples: vidA/0 at 00001 (I 32, U 40) and 00003 (I 24, U 56), vidA/1 at 00001 (I 40, U 40),
    vidB/2 at 00002 (I 60, U 90). vidA/1 has no 00003 file: the dog is absent there, so it is no sample."""
    pred = tmp_path / "Annotations"
    write_masks(pred, "vidA", "0", {"00001": box(slice(0, 4), slice(0, 8)), "00002": MAN,
                                    "00003": box(slice(0, 4), slice(4, 14)), "00004": MAN})
    write_masks(pred, "vidA", "1", {"00001": DOG, "00002": DOG, "00004": DOG})
    write_masks(pred, "vidB", "2", {"00001": EMPTY, "00002": box(slice(2, 12), slice(2, 11)), "00003": EMPTY})
    return pred


def evaluate(capsys, *args: str | Path, workers: str = "1") -> tuple[int, str, str]:
    code = main(["evaluate", *map(str, args), "--workers", workers])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def referring_args(root: Path, kind: str, pred: Path, out: Path) -> tuple:
    return ("--layout", "referring", "--data", root, "--dataset-kind", kind, "--pred", pred, "--out", out)


def read_per_sample(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "per_sample.csv", dtype={"video": str, "expression": str, "frame": str})


def test_a2d_scores_by_hand(tmp_path, a2d_root, a2d_pred, capsys):
    out = tmp_path / "out"
    (out / "per_object.csv").parent.mkdir()
    (out / "per_object.csv").write_text("set,protocol,video\nall,strict,old\n")  # from an earlier J&F evaluation
    code, stdout, _ = evaluate(capsys, *referring_args(a2d_root, "a2d", a2d_pred, out))
    assert code == 0 and "layout referring: a2d test, 2 videos, 4 samples" in stdout
    rows = read_per_sample(out)
    assert list(rows.columns) == ["video", "expression", "object_id", "frame", "intersection", "union", "IoU",
                                  "missing"]
    assert rows[["video", "expression", "object_id", "frame", "intersection", "union"]].values.tolist() == [
        ["vidA", "0", 1, "00001", 32, 40],
        ["vidA", "1", 2, "00001", 40, 40],
        ["vidA", "0", 1, "00003", 24, 56],   # no (vidA, "1", 00003) row: the dog is absent from that frame
        ["vidB", "2", 1, "00002", 60, 90],
    ]
    ious = [(32 + EPS) / (40 + EPS), 1.0, (24 + EPS) / (56 + EPS), (60 + EPS) / (90 + EPS)]
    assert rows["IoU"].tolist() == pytest.approx(ious, rel=1e-12)
    assert not rows["missing"].any()
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 1
    assert list(summary.columns) == ["samples", "missing_frames", "P@0.5", "P@0.6", "P@0.7", "P@0.8", "P@0.9",
                                     "overall IoU", "mean IoU"]
    row = summary.iloc[0]
    # IoUs 0.8 (+5e-9), 1, 0.43, 0.67. 32/40 is exactly 0.8, but the 1e-6 smoothing lifts it above: it passes P@0.8.
    assert (row["samples"], row["missing_frames"]) == (4, 0)
    assert [row[f"P@{k}"] for k in (0.5, 0.6, 0.7, 0.8, 0.9)] == [75, 75, 50, 50, 25]
    assert row["overall IoU"] == pytest.approx(100 * 156 / 226)
    assert row["mean IoU"] == pytest.approx(100 * sum(ious) / 4)
    assert not (out / "per_object.csv").exists()       # would be read as this evaluation's J&F rows


def test_jhmdb_scores_the_three_sample_frames_only(tmp_path, jhmdb_root, capsys):
    pred = tmp_path / "Annotations"
    # Frames 2 and 4 are perfect: were they scored, P@0.9 would be 60, not 33.
    write_masks(pred, "pullup_1", "0", {"00001": ACTOR, "00002": ACTOR, "00003": box(slice(4, 14), slice(4, 14)),
                                        "00004": ACTOR, "00005": EMPTY})
    code, stdout, _ = evaluate(capsys, *referring_args(jhmdb_root, "jhmdb", pred, tmp_path / "out"))
    assert code == 0 and "1 videos, 3 samples" in stdout
    rows = read_per_sample(tmp_path / "out")
    assert rows[["frame", "intersection", "union"]].values.tolist() == [
        ["00001", 64, 64], ["00003", 64, 100], ["00005", 0, 64]]
    row = pd.read_csv(tmp_path / "out" / "summary.csv").iloc[0]
    assert [row[f"P@{k}"] for k in (0.5, 0.6, 0.7, 0.8, 0.9)] == pytest.approx([200 / 3, 200 / 3, 100 / 3,
                                                                                100 / 3, 100 / 3])
    assert row["overall IoU"] == pytest.approx(100 * 128 / 228)
    assert row["mean IoU"] == pytest.approx(100 * (1 + (64 + EPS) / (100 + EPS) + EPS / (64 + EPS)) / 3)


def test_worker_pool_gives_the_same_rows(tmp_path, a2d_root, a2d_pred, capsys):
    # Each job carries its Video (mp4 frame reader, h5 annotation source) to a worker process by pickling.
    for workers in ("1", "2"):
        code, _, _ = evaluate(capsys, *referring_args(a2d_root, "a2d", a2d_pred, tmp_path / workers),
                              workers=workers)
        assert code == 0
    assert (tmp_path / "1" / "per_sample.csv").read_text() == (tmp_path / "2" / "per_sample.csv").read_text()
    assert (tmp_path / "1" / "summary.csv").read_text() == (tmp_path / "2" / "summary.csv").read_text()


def test_missing_prediction_is_named_before_scoring(tmp_path, a2d_root, a2d_pred, capsys, monkeypatch):
    missing = a2d_pred / "vidA" / "0" / "00003.png"
    missing.unlink()
    monkeypatch.setattr("groprompt.evaluation.pipeline.score_jobs", lambda *args: pytest.fail("scoring started"))
    code, _, err = evaluate(capsys, *referring_args(a2d_root, "a2d", a2d_pred, tmp_path / "out"))
    assert code == 2 and "prediction frame is missing" in err and str(missing) in err
    assert "fix:" in err and "--allow-missing" in err
    assert not (tmp_path / "out").exists()


def test_wrong_size_prediction(tmp_path, a2d_root, a2d_pred, capsys):
    bad = a2d_pred / "vidB" / "2" / "00002.png"
    write_label_png(bad, np.zeros((H, W + 2), np.uint8))
    code, _, err = evaluate(capsys, *referring_args(a2d_root, "a2d", a2d_pred, tmp_path / "out"))
    assert code == 2 and str(bad) in err and "16x18" in err and "16x16" in err


def test_missing_expression_and_video_folders(tmp_path, a2d_root, a2d_pred, capsys):
    shutil.rmtree(a2d_pred / "vidA" / "1")
    code, _, err = evaluate(capsys, *referring_args(a2d_root, "a2d", a2d_pred, tmp_path / "out"))
    assert code == 2 and "expression 1" in err and str(a2d_pred / "vidA" / "1") in err
    shutil.rmtree(a2d_pred / "vidB")
    write_masks(a2d_pred, "vidA", "1", {"00001": DOG})
    code, _, err = evaluate(capsys, *referring_args(a2d_root, "a2d", a2d_pred, tmp_path / "out"))
    assert code == 2 and "video vidB" in err and str(a2d_pred / "vidB") in err


def test_allow_missing_counts_empty_masks(tmp_path, a2d_root, a2d_pred, capsys):
    (a2d_pred / "vidA" / "0" / "00001.png").unlink()
    shutil.rmtree(a2d_pred / "vidB")
    out = tmp_path / "out"
    code, stdout, _ = evaluate(capsys, *referring_args(a2d_root, "a2d", a2d_pred, out), "--allow-missing")
    assert code == 0 and "2 of 4 prediction frames were missing" in stdout
    rows = read_per_sample(out)
    assert rows[["intersection", "union", "missing"]].values.tolist() == [
        [0, 40, True], [40, 40, False], [24, 56, False], [0, 60, True]]
    row = pd.read_csv(out / "summary.csv").iloc[0]
    assert row["missing_frames"] == 2 and row["samples"] == 4
    assert row["overall IoU"] == pytest.approx(100 * 64 / 196)
    assert row["P@0.5"] == 25


def test_other_layouts_need_gt_and_refuse_data(tmp_path, a2d_root, a2d_pred, capsys):
    out = tmp_path / "out"
    code, _, err = evaluate(capsys, "--pred", a2d_pred, "--out", out)
    assert code == 2 and "needs the ground-truth annotation folder" in err and "--gt" in err
    for layout in ("auto", "per-expression"):
        code, _, err = evaluate(capsys, "--pred", a2d_pred, "--gt", tmp_path, "--layout", layout,
                                "--data", a2d_root, "--out", out)
        assert code == 2 and f"--data does not apply to the {layout} layout" in err and "--layout referring" in err
    code, _, err = evaluate(capsys, "--pred", a2d_pred, "--gt", tmp_path, "--split", "test", "--out", out)
    assert code == 2 and "--split does not apply" in err
    assert not out.exists()


def test_referring_refuses_per_expression_options_and_needs_data(tmp_path, a2d_root, a2d_pred, capsys):
    args = referring_args(a2d_root, "a2d", a2d_pred, tmp_path / "out")
    for extra in (("--expressions", tmp_path / "meta.json"), ("--gt", tmp_path), ("--protocol", "strict"),
                  ("--boxes", tmp_path)):
        code, _, err = evaluate(capsys, *args, *extra)
        assert code == 2 and f"{extra[0]} does not apply to the referring layout" in err
    code, _, err = evaluate(capsys, "--layout", "referring", "--pred", a2d_pred, "--out", tmp_path / "out")
    assert code == 2 and "--data ROOT and --dataset-kind KIND" in err
    code, _, err = evaluate(capsys, *referring_args(a2d_root, "a2d2", a2d_pred, tmp_path / "out"))
    assert code == 2 and "unknown dataset kind 'a2d2'" in err
    assert not (tmp_path / "out").exists()


def test_plan_refuses_datasets_without_samples(a2d_root, a2d_pred):
    dataset = open_dataset("a2d", a2d_root, "test")
    video = dataset.video("vidB")

    def with_video(**changes: object) -> Dataset:
        return dataclasses.replace(dataset, videos=(dataclasses.replace(video, **changes),))

    with pytest.raises(GroPromptError, match="expression has no object id") as error:
        plan_referring(with_video(expressions=(Expression("2", "a ball", None),)), a2d_pred)
    assert "expression 2" in str(error.value) and "video vidB" in str(error.value)
    with pytest.raises(GroPromptError, match="split test has no ground truth"):
        plan_referring(with_video(annotations=None), a2d_pred)
    with pytest.raises(GroPromptError, match="the ground truth has no sample"):  # instance 7 is on no frame
        plan_referring(with_video(expressions=(Expression("2", "a ball", 7),)), a2d_pred)
    plan = plan_referring(with_video(), a2d_pred)
    assert plan.samples == 1 and plan.warnings == [f"prediction video {a2d_pred / 'vidA'} is not in a2d test; ignored"]


def test_tables_read_the_evaluation(tmp_path, a2d_root, a2d_pred, capsys):
    out = tmp_path / "out"
    assert evaluate(capsys, *referring_args(a2d_root, "a2d", a2d_pred, out))[0] == 0
    evaluation = read_evaluation(out)
    assert evaluation.per_object is None and evaluation.headline_protocol is None
    runs = MethodRuns("grounded-sam", "a2d", (evaluation,))
    assert runs.estimate("P@0.5").mean == pytest.approx(75)
    assert runs.estimate("overall IoU").mean == pytest.approx(100 * 156 / 226)


def test_any_annotated_kind_and_void_pixels(tmp_path, capsys):
    # Ref-YouTube-VOS layout, one frame: object 1 is MAN (40 px), 8 void pixels beside it. A prediction covering
    # both scores I 40, U 40: void pixels count neither way (A2D and JHMDB have none).
    frame = labels([{1: MAN}])[0]
    frame[box(slice(4, 6), slice(0, 4))] = 255
    root = write_refytvos(tmp_path / "ytvos", "train", [ToyVideo("v", frame[np.newaxis], [{"exp": "the man",
                                                                                            "obj_id": "1"}])])
    pred = tmp_path / "Annotations"
    write_masks(pred, "v", "0", {"00000": MAN | box(slice(4, 6), slice(0, 4))})
    code, _, _ = evaluate(capsys, *referring_args(root, "refytvos", pred, tmp_path / "out"), "--split", "train")
    assert code == 0
    assert read_per_sample(tmp_path / "out")[["intersection", "union"]].values.tolist() == [[40, 40]]
