"""``groprompt evaluate`` columns the tables need: box IoU (``--boxes``) and expression kinds, on hand-made folders.

Frames are 20x20. Object 1 is block A (rows 4-15, columns 0-5) in frames 0-2; object 2 is block B (rows 4-15,
columns 12-17) in frames 0-1 and absent from frame 2. Tight boxes (xyxy, exclusive ends): A (0, 4, 6, 16),
B (12, 4, 18, 16).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from groprompt.cli import main
from groprompt.masks import write_label_png

H, W = 20, 20
FRAMES = ("00000", "00001", "00002")
A = np.zeros((H, W), bool)
A[4:16, 0:6] = True
B = np.zeros((H, W), bool)
B[4:16, 12:18] = True

# exp 0 -> object 1: frame 0 exact (IoU 1); frame 1 top half (36 / 72 = 0.5); frame 2 no box (0). Mean 0.5.
# exp 1 -> object 2: frame 0 shifted 3 px right (36 / 108 = 1/3); frame 1 exact (1); frame 2 object absent,
# skipped whatever the box. Mean 2/3.
BOXES = """exp_id,frame,x0,y0,x1,y1,score
0,00000,0.000,4.000,6.000,16.000,0.9
0,00001,0.000,4.000,6.000,10.000,0.8
0,00002,,,,,
1,00000,15.000,4.000,21.000,16.000,0.7
1,00001,12.000,4.000,18.000,16.000,0.6
1,00002,0.000,0.000,5.000,5.000,0.5
"""


def write_case(root: Path, *, kinds: bool = True, boxes: str = BOXES) -> dict[str, Path]:
    for t, frame in enumerate(FRAMES):
        labels = np.zeros((H, W), np.uint8)
        labels[A] = 1
        if t < 2:
            labels[B] = 2
        write_label_png(root / "gt" / "cat" / f"{frame}.png", labels)
        for exp_id in ("0", "1"):  # both expressions segment block A: right for exp 0, wrong for exp 1
            path = root / "pred" / "cat" / exp_id / f"{frame}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(A.astype(np.uint8) * 255, mode="L").save(path)
    expressions = {"0": {"exp": "the left block", "obj_id": "1"}, "1": {"exp": "the block that leaves", "obj_id": "2"}}
    if kinds:
        expressions["0"]["kind"], expressions["1"]["kind"] = "appearance", "motion"
    meta = root / "meta_expressions.json"
    meta.write_text(json.dumps({"videos": {"cat": {"expressions": expressions, "frames": list(FRAMES)}}}))
    (root / "boxes").mkdir()
    (root / "boxes" / "cat.csv").write_text(boxes)
    return {"pred": root / "pred", "gt": root / "gt", "meta": meta, "boxes": root / "boxes", "out": root / "out"}


def evaluate(paths: dict[str, Path], *extra: str, boxes: bool = True) -> int:
    args = ["evaluate", "--pred", paths["pred"], "--gt", paths["gt"], "--expressions", paths["meta"],
            "--out", paths["out"], "--workers", "1", *extra]
    if boxes:
        args += ["--boxes", paths["boxes"]]
    return main([str(a) for a in args])


def test_box_iou_and_kind_columns(tmp_path, capsys):
    paths = write_case(tmp_path)
    assert evaluate(paths) == 0
    rows = pd.read_csv(paths["out"] / "per_object.csv", dtype={"expression": str}).set_index("expression")
    assert rows["kind"].to_dict() == {"0": "appearance", "1": "motion"}
    assert rows.loc["0", "Box"] == pytest.approx(0.5)
    assert rows.loc["1", "Box"] == pytest.approx(2 / 3)
    assert rows["J&F-Mean"].to_dict() == {"0": 1.0, "1": 0.0}
    summary = pd.read_csv(paths["out"] / "summary.csv").set_index(["set", "protocol"])
    assert summary.loc[("mean", "expression"), "Box"] == pytest.approx(100 * (0.5 + 2 / 3) / 2)
    assert summary.loc[("all", "expression"), "Box"] == pytest.approx(100 * (0.5 + 2 / 3) / 2)
    by_kind = pd.read_csv(paths["out"] / "summary_by_kind.csv").set_index("kind")
    assert by_kind.loc["appearance", ["J&F-Mean", "J-Mean", "F-Mean", "Box"]].tolist() == pytest.approx(
        [100, 100, 100, 50])
    assert by_kind.loc["motion", ["J&F-Mean", "Box", "expressions"]].tolist() == pytest.approx([0, 200 / 3, 1])
    assert "by expression kind" in capsys.readouterr().out


def test_no_kinds_no_boxes_no_extra_columns(tmp_path):
    paths = write_case(tmp_path, kinds=False)
    (paths["out"]).mkdir()
    (paths["out"] / "summary_by_kind.csv").write_text("stale")
    assert evaluate(paths, boxes=False) == 0
    assert not {"kind", "Box"} & set(pd.read_csv(paths["out"] / "per_object.csv").columns)
    assert "Box" not in pd.read_csv(paths["out"] / "summary.csv").columns
    assert not (paths["out"] / "summary_by_kind.csv").exists()


def test_missing_box_rows_are_named_or_scored_zero(tmp_path, capsys):
    lacking = "\n".join(line for line in BOXES.splitlines() if not line.startswith("1,")) + "\n"
    paths = write_case(tmp_path, boxes=lacking)
    assert evaluate(paths) == 2
    err = capsys.readouterr().err
    assert str(paths["boxes"] / "cat.csv") in err and "expression 1" in err
    assert not paths["out"].exists()
    assert evaluate(paths, "--allow-missing") == 0
    rows = pd.read_csv(paths["out"] / "per_object.csv", dtype={"expression": str}).set_index("expression")
    assert rows["Box"].to_dict() == pytest.approx({"0": 0.5, "1": 0.0})


def test_boxes_file_missing_or_wrong_layout(tmp_path, capsys):
    paths = write_case(tmp_path)
    (paths["boxes"] / "cat.csv").unlink()
    assert evaluate(paths) == 2
    assert str(paths["boxes"] / "cat.csv") in capsys.readouterr().err
    davis = tmp_path / "davis"
    write_label_png(davis / "cat" / "00000.png", np.zeros((H, W), np.uint8))
    code = main(["evaluate", "--pred", str(davis), "--gt", str(davis), "--boxes", str(paths["boxes"]),
                 "--out", str(tmp_path / "o"), "--workers", "1"])
    assert code == 2 and "davis label maps" in capsys.readouterr().err
