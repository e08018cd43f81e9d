"""``groprompt evaluate`` on tiny folders written here: each layout, auto-detection, outputs, bad inputs.

Frames are 20x20 (F tolerance 1 pixel); blocks A and B are far apart, so a mask on the wrong block scores 0.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from groprompt.cli import main
from groprompt.masks import write_label_png

H, W = 20, 20
FRAMES = ("00000", "00001", "00002")


def block(columns: slice) -> np.ndarray:
    mask = np.zeros((H, W), dtype=bool)
    mask[4:16, columns] = True
    return mask


A, B = block(slice(0, 6)), block(slice(12, 18))


def label_map(objects: dict[int, np.ndarray]) -> np.ndarray:
    labels = np.zeros((H, W), dtype=np.uint8)
    for obj_id, mask in objects.items():
        labels[mask] = obj_id
    return labels


def write_video(folder: Path, objects: dict[int, np.ndarray], frames=FRAMES) -> None:
    for frame in frames:
        write_label_png(folder / f"{frame}.png", label_map(objects))


CORRECT, SWAPPED, EMPTY = {1: A, 2: B}, {1: B, 2: A}, {}


@pytest.fixture
def gt(tmp_path: Path) -> Path:
    """Two videos with objects 1 (block A) and 2 (block B) in every frame."""
    root = tmp_path / "gt"
    for video in ("cat", "dog"):
        write_video(root / video, CORRECT)
    return root


def evaluate(capsys, *args: str | Path) -> tuple[int, str, str]:
    code = main(["evaluate", *map(str, args), "--workers", "1"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read_summary(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "summary.csv").set_index(["set", "protocol"])


def test_davis_layout_swapped_video(tmp_path, gt, capsys):
    pred = tmp_path / "pred"
    write_video(pred / "cat", CORRECT)
    write_video(pred / "dog", SWAPPED)
    code, out, _ = evaluate(capsys, "--pred", pred, "--gt", gt, "--out", tmp_path / "out")
    assert code == 0 and "layout davis" in out
    summary = read_summary(tmp_path / "out")
    measures = ["J-Mean", "F-Mean", "J&F-Mean", "objects"]
    assert summary.loc[("all", "assignment"), measures].tolist() == pytest.approx([100, 100, 100, 4])
    # strict: cat's two objects score 1, dog's two score 0 -> 50.
    assert summary.loc[("all", "strict"), measures].tolist() == pytest.approx([50, 50, 50, 4])
    assert summary.loc[("mean", "strict"), "J&F-Mean"] == pytest.approx(50)
    per_object = pd.read_csv(tmp_path / "out" / "per_object.csv")
    dog = per_object[(per_object.video == "dog") & (per_object.protocol == "assignment")]
    assert dog.set_index("object_id")["pred_id"].to_dict() == {1: 2, 2: 1}
    assert set(per_object.columns) >= {"J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay", "J&F-Mean"}


def test_refdavis_mean_over_four_sets(tmp_path, gt, capsys):
    pred = tmp_path / "pred"
    for k, objects in enumerate((CORRECT, EMPTY, CORRECT, SWAPPED)):
        for video in ("cat", "dog"):
            write_video(pred / f"anno_{k}" / video, objects)
    code, out, _ = evaluate(capsys, "--pred", pred, "--gt", gt, "--out", tmp_path / "out")
    assert code == 0 and "layout refdavis" in out
    summary = read_summary(tmp_path / "out")
    assert summary.loc[("anno_1", "assignment"), "J&F-Mean"] == pytest.approx(0)
    assert summary.loc[("anno_3", "assignment"), "J&F-Mean"] == pytest.approx(100)
    assert summary.loc[("anno_3", "strict"), "J&F-Mean"] == pytest.approx(0)
    assert summary.loc[("mean", "assignment"), "J&F-Mean"] == pytest.approx(75)    # (100 + 0 + 100 + 100) / 4
    assert summary.loc[("mean", "strict"), "J&F-Mean"] == pytest.approx(50)        # (100 + 0 + 100 + 0) / 4
    assert summary.loc[("mean", "strict"), "objects"] == 16


def write_expressions(path: Path, table: dict[str, dict[str, int]]) -> Path:
    videos = {video: {"expressions": {e: {"exp": f"thing {e}", "obj_id": str(o)} for e, o in exps.items()},
                      "frames": list(FRAMES)} for video, exps in table.items()}
    path.write_text(json.dumps({"videos": videos}))
    return path


def write_binary(folder: Path, mask: np.ndarray, frames=FRAMES) -> None:
    """A per-expression prediction: grey-level PNGs, 255 = object."""
    folder.mkdir(parents=True, exist_ok=True)
    for frame in frames:
        Image.fromarray(mask.astype(np.uint8) * 255, mode="L").save(folder / f"{frame}.png")


@pytest.fixture
def per_expression(tmp_path, gt) -> tuple[Path, Path]:
    """cat: e0 -> object 1 (correct), e1 -> object 2 (segments object 1: wrong), e2 -> object 1 (empty)."""
    meta = write_expressions(tmp_path / "meta_expressions.json", {"cat": {"0": 1, "1": 2, "2": 1}})
    pred = tmp_path / "pred"
    write_binary(pred / "cat" / "0", A)
    write_binary(pred / "cat" / "1", A)
    write_binary(pred / "cat" / "2", np.zeros((H, W), bool))
    return pred, meta


def test_per_expression_layout(tmp_path, gt, per_expression, capsys):
    pred, meta = per_expression
    code, out, err = evaluate(capsys, "--pred", pred, "--gt", gt, "--expressions", meta, "--out", tmp_path / "out")
    assert code == 0 and "layout per-expression" in out
    assert "dog" in err and "not evaluated" in err     # GT video without expressions: a warning
    summary = read_summary(tmp_path / "out")
    expected = [100 / 3, 100 / 3, 3]
    assert summary.loc[("all", "expression"), ["J-Mean", "F-Mean", "objects"]].tolist() == pytest.approx(expected)
    rows = pd.read_csv(tmp_path / "out" / "per_object.csv", dtype={"expression": str}).set_index("expression")
    assert rows["J&F-Mean"].to_dict() == {"0": 1.0, "1": 0.0, "2": 0.0}
    assert rows["object_id"].to_dict() == {"0": 1, "1": 2, "2": 1}


def test_per_expression_refuses_assignment_and_needs_expressions(tmp_path, gt, per_expression, capsys):
    pred, meta = per_expression
    code, _, err = evaluate(capsys, "--pred", pred, "--gt", gt, "--expressions", meta, "--protocol", "strict",
                            "--out", tmp_path / "out")
    assert code == 2 and "--protocol strict" in err
    code, _, err = evaluate(capsys, "--pred", pred, "--gt", gt, "--out", tmp_path / "out")
    assert code == 2 and "--expressions" in err
    code, _, err = evaluate(capsys, "--pred", pred, "--gt", gt, "--expressions", tmp_path / "nope.json",
                            "--out", tmp_path / "out")
    assert code == 2 and "nope.json" in err
    bad = tmp_path / "bad.json"
    for text in ("{not json", json.dumps({"videos": {"cat": {"expressions": {"0": {"exp": "x"}}}}}),
                 json.dumps({"videos": {"cat": {"expressions": {"0": {"exp": "x", "obj_id": "255"}}}}})):
        bad.write_text(text)
        code, _, err = evaluate(capsys, "--pred", pred, "--gt", gt, "--expressions", bad, "--out", tmp_path / "out")
        assert code == 2 and str(bad) in err


def test_per_expression_missing_expression_folder(tmp_path, gt, per_expression, capsys):
    pred, meta = per_expression
    shutil.rmtree(pred / "cat" / "0")
    args = ("--pred", pred, "--gt", gt, "--expressions", meta, "--out", tmp_path / "out")
    code, _, err = evaluate(capsys, *args)
    assert code == 2 and str(pred / "cat" / "0") in err
    code, out, _ = evaluate(capsys, *args, "--allow-missing")
    assert code == 0 and "3 of 9 prediction frames were missing" in out
    assert read_summary(tmp_path / "out").loc[("all", "expression"), "J-Mean"] == pytest.approx(0)


def test_expression_pointing_at_unknown_object(tmp_path, gt, capsys):
    meta = write_expressions(tmp_path / "meta.json", {"cat": {"0": 7}})
    write_binary(tmp_path / "pred" / "cat" / "0", A)
    code, _, err = evaluate(capsys, "--pred", tmp_path / "pred", "--gt", gt, "--expressions", meta,
                            "--out", tmp_path / "out")
    assert code == 2 and "object 7" in err and "expression 0" in err and str(gt / "cat") in err
    assert not (tmp_path / "out").exists()


def davis_prediction(tmp_path: Path) -> Path:
    pred = tmp_path / "pred"
    for video in ("cat", "dog"):
        write_video(pred / video, CORRECT)
    return pred


def corrupt_missing_video(pred: Path) -> Path:
    shutil.rmtree(pred / "dog")
    return pred / "dog"


def corrupt_missing_frame(pred: Path) -> Path:
    (pred / "dog" / "00001.png").unlink()
    return pred / "dog" / "00001.png"


def corrupt_wrong_size(pred: Path) -> Path:
    write_label_png(pred / "dog" / "00001.png", np.zeros((H, W + 1), np.uint8))
    return pred / "dog" / "00001.png"


def corrupt_truncated(pred: Path) -> Path:
    path = pred / "dog" / "00001.png"
    path.write_bytes(path.read_bytes()[:-20])
    return path


def corrupt_garbage(pred: Path) -> Path:
    (pred / "dog" / "00001.png").write_bytes(b"not a png at all")
    return pred / "dog" / "00001.png"


def corrupt_rgb(pred: Path) -> Path:
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(pred / "dog" / "00001.png")
    return pred / "dog" / "00001.png"


@pytest.mark.parametrize("corrupt", [corrupt_missing_video, corrupt_missing_frame, corrupt_wrong_size,
                                     corrupt_truncated, corrupt_garbage, corrupt_rgb])
def test_bad_prediction_is_named_before_scoring(tmp_path, gt, capsys, monkeypatch, corrupt):
    bad = corrupt(davis_prediction(tmp_path))
    monkeypatch.setattr("groprompt.evaluation.pipeline.score_jobs", lambda *args: pytest.fail("scoring started"))
    code, out, err = evaluate(capsys, "--pred", tmp_path / "pred", "--gt", gt, "--out", tmp_path / "out")
    assert code == 2 and str(bad) in err and "fix:" in err
    assert not (tmp_path / "out").exists()


def test_bad_ground_truth_is_named(tmp_path, gt, capsys):
    corrupt_rgb(gt)
    code, _, err = evaluate(capsys, "--pred", davis_prediction(tmp_path), "--gt", gt, "--out", tmp_path / "out")
    assert code == 2 and str(gt / "dog" / "00001.png") in err


def test_allow_missing_counts_missing_frames(tmp_path, gt, capsys):
    pred = davis_prediction(tmp_path)
    corrupt_missing_frame(pred)
    shutil.rmtree(pred / "cat")
    code, out, _ = evaluate(capsys, "--pred", pred, "--gt", gt, "--allow-missing", "--out", tmp_path / "out")
    assert code == 0
    assert "4 of 6 prediction frames were missing" in out
    summary = read_summary(tmp_path / "out")
    assert summary.loc[("all", "strict"), "missing_frames"] == 4
    # cat scores 0 (all empty); dog scores 1 on two of its three frames, 0 on the missing one.
    assert summary.loc[("all", "strict"), "J-Mean"] == pytest.approx(100 * (0 + 0 + 2 / 3 + 2 / 3) / 4)


def test_unknown_prediction_video_is_a_warning(tmp_path, gt, capsys):
    pred = davis_prediction(tmp_path)
    write_video(pred / "zebra", CORRECT)
    code, _, err = evaluate(capsys, "--pred", pred, "--gt", gt, "--out", tmp_path / "out")
    assert code == 0 and "warning" in err and str(pred / "zebra") in err


def test_refdavis_needs_all_four_sets(tmp_path, gt, capsys):
    for k in (0, 1, 3):
        for video in ("cat", "dog"):
            write_video(tmp_path / "pred" / f"anno_{k}" / video, CORRECT)
    code, _, err = evaluate(capsys, "--pred", tmp_path / "pred", "--gt", gt, "--out", tmp_path / "out")
    assert code == 2 and str(tmp_path / "pred" / "anno_2") in err


def test_worker_pool_gives_the_same_rows(tmp_path, gt, capsys):
    pred = tmp_path / "pred"
    write_video(pred / "cat", CORRECT)
    write_video(pred / "dog", SWAPPED)
    for workers in ("1", "2"):
        assert main(["evaluate", "--pred", str(pred), "--gt", str(gt), "--out", str(tmp_path / workers),
                     "--workers", workers]) == 0
    assert (tmp_path / "1" / "per_object.csv").read_text() == (tmp_path / "2" / "per_object.csv").read_text()


def test_console_script(tmp_path, gt):
    pred = davis_prediction(tmp_path)
    script = Path(sys.executable).with_name("groprompt")
    result = subprocess.run([str(script), "evaluate", "--pred", str(pred), "--gt", str(gt), "--layout", "davis",
                             "--protocol", "assignment", "--out", str(tmp_path / "out"), "--workers", "1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "assignment" in result.stdout and "strict" not in result.stdout
    assert read_summary(tmp_path / "out").loc[("mean", "assignment"), "J&F-Mean"] == pytest.approx(100)


def test_semi_supervised_reads_and_scores_the_inner_frames_only(tmp_path, gt, capsys):
    # Each video has three ground-truth frames; the semi-supervised task scores (and reads) only 00001, so the
    # first and last prediction frames may be absent. cat is right there, dog swapped (id k against object k).
    pred = tmp_path / "pred"
    write_video(pred / "cat", CORRECT, frames=("00001",))
    write_video(pred / "dog", SWAPPED, frames=("00001",))
    code, _, _ = evaluate(capsys, "--pred", pred, "--gt", gt, "--protocol", "semi-supervised", "--out",
                          tmp_path / "out")
    assert code == 0
    summary = read_summary(tmp_path / "out")
    assert summary.loc[("all", "semi-supervised"), ["J-Mean", "objects", "frames"]].tolist() == [50, 4, 2]
    per_object = pd.read_csv(tmp_path / "out" / "per_object.csv")
    assert set(per_object["frames"]) == {1}


def test_semi_supervised_needs_three_frames(tmp_path, capsys):
    gt = tmp_path / "gt"
    write_video(gt / "cat", CORRECT, frames=FRAMES[:2])
    write_video(tmp_path / "pred" / "cat", CORRECT, frames=FRAMES[:2])
    code, _, err = evaluate(capsys, "--pred", tmp_path / "pred", "--gt", gt, "--protocol", "semi-supervised",
                            "--out", tmp_path / "out")
    assert code == 2 and "first and the last" in err and str(gt / "cat") in err


def test_too_many_proposals_names_the_file(tmp_path, gt, capsys):
    pred = davis_prediction(tmp_path)
    write_label_png(pred / "dog" / "00002.png", label_map({1: A, 21: B}))
    code, _, err = evaluate(capsys, "--pred", pred, "--gt", gt, "--out", tmp_path / "out")
    assert code == 2 and "above the 20 proposals" in err and str(pred / "dog" / "00002.png") in err
    code, _, _ = evaluate(capsys, "--pred", pred, "--gt", gt, "--protocol", "strict", "--out", tmp_path / "out")
    assert code == 0
