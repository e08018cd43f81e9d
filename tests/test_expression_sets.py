"""Ref-DAVIS17's four expression-set label maps from per-expression predictions, then `groprompt evaluate`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from datasets_fixtures import ToyVideo, moving_squares, write_refytvos

from groprompt.cli import main
from groprompt.data import load_refdavis
from groprompt.evaluation.expression_sets import set_label_maps
from groprompt.inference.outputs import OutputLayout, VideoWriter
from groprompt.masks import read_label_png


def _dataset(tmp_path: Path):
    expressions = [{"exp": f"object {obj} set {k}", "obj_id": str(obj)} for obj in (1, 2) for k in range(4)]
    root = write_refytvos(tmp_path / "refdavis", "valid", [ToyVideo("v", moving_squares(2), expressions)])
    return root, load_refdavis(root, "valid")


def test_overlap_goes_to_the_higher_box_score(tmp_path: Path):
    _, dataset = _dataset(tmp_path)
    video = dataset.video("v")
    masks = {e.exp_id: np.zeros((2, 24, 32), dtype=bool) for e in video.expressions}
    # Set 0: object 1 is expression "0", object 2 is expression "4"; they overlap on pixel (0, 0) of both frames.
    masks["0"][:, 0, 0:2] = True
    masks["4"][:, 0, 0] = True
    scores = {e.exp_id: np.array([0.9, 0.2]) for e in video.expressions}
    scores["4"] = np.array([0.5, np.nan])  # frame 0: loses to 0.9; frame 1: no score, so it never takes a pixel
    labels = set_label_maps(video, masks, scores, 0)
    assert labels[0, 0, :3].tolist() == [1, 1, 0] and labels[1, 0, :3].tolist() == [1, 1, 0]
    scores["4"] = np.array([0.95, 0.1])  # frame 0: 0.95 > 0.9 wins the shared pixel
    labels = set_label_maps(video, masks, scores, 0)
    assert labels[0, 0, :3].tolist() == [2, 1, 0] and labels[1, 0, :3].tolist() == [1, 1, 0]


def _write_oracle(folder: Path, video, boxes: Callable[[int], np.ndarray]) -> OutputLayout:
    """An infer folder whose masks are the ground truth of each expression's object and whose boxes on frame t
    are ``boxes(t)`` (one row per expression)."""
    labels = moving_squares(2)
    layout = OutputLayout(folder)
    writer = VideoWriter(layout, video)
    for t in range(video.num_frames):
        masks = np.stack([labels[t] == e.obj_id for e in video.expressions])
        writer.add_frame(t, boxes(t), np.ones(len(masks)), masks)
    writer.finish({"method": "oracle"})
    return layout


def test_perfect_predictions_score_100_in_every_set(tmp_path: Path):
    root, dataset = _dataset(tmp_path)
    video = dataset.video("v")
    labels = moving_squares(2)
    layout = _write_oracle(tmp_path / "infer", video, lambda t: np.zeros((len(video.expressions), 4)))

    sets = tmp_path / "sets"
    assert main(["expression-sets", "--pred", str(layout.root), "--data", str(root), "--out", str(sets)]) == 0
    np.testing.assert_array_equal(read_label_png(sets / "anno_3" / "v" / "00005.png"), labels[1])
    scores = tmp_path / "scores"
    assert main(["evaluate", "--pred", str(sets), "--gt", str(root / "valid" / "Annotations"),
                 "--out", str(scores), "--workers", "1"]) == 0
    summary = pd.read_csv(scores / "summary.csv")
    assert sorted(summary["set"].unique()) == ["anno_0", "anno_1", "anno_2", "anno_3", "mean"]
    assert (summary["J&F-Mean"] == 100.0).all()


def _gt_box(obj: int, t: int) -> list[float]:
    """The tight xyxy box of object ``obj`` in frame ``t`` of :func:`moving_squares` (side 6, step 2)."""
    return [2 + 2 * t, 4 + 8 * (obj - 1), 8 + 2 * t, 10 + 8 * (obj - 1)]


def test_box_iou_of_each_set_is_that_of_its_expressions(tmp_path: Path):
    """Set 1 gives object 1 half-width boxes (IoU 0.5), set 2 gives it no box on frame 1 (0 there): per-set Box
    1, 0.75, 0.75, 1 and 87.5 over the sets, the same under both protocols; each row names its expression."""
    root, dataset = _dataset(tmp_path)
    video = dataset.video("v")

    def boxes(t: int) -> np.ndarray:
        rows = np.array([_gt_box(e.obj_id, t) for e in video.expressions], dtype=float)
        rows[1, 2] = rows[1, 0] + 3  # expression "1": object 1 in set 1
        if t == 1:
            rows[2] = np.nan  # expression "2": object 1 in set 2
        return rows

    layout = _write_oracle(tmp_path / "infer", video, boxes)

    sets, scores = tmp_path / "sets", tmp_path / "scores"
    assert main(["expression-sets", "--pred", str(layout.root), "--data", str(root), "--out", str(sets)]) == 0
    assert main(["evaluate", "--pred", str(sets), "--gt", str(root / "valid" / "Annotations"),
                 "--expressions", str(root / "meta_expressions" / "valid" / "meta_expressions.json"),
                 "--boxes", str(layout.root / "boxes"), "--out", str(scores), "--workers", "1"]) == 0
    summary = pd.read_csv(scores / "summary.csv").set_index(["protocol", "set"])
    for protocol in ("assignment", "strict"):
        assert summary.loc[(protocol, "anno_0"), "Box"] == 100.0
        assert summary.loc[(protocol, "anno_1"), "Box"] == 75.0
        assert summary.loc[(protocol, "anno_2"), "Box"] == 75.0
        assert summary.loc[(protocol, "mean"), "Box"] == 87.5
        assert summary.loc[(protocol, "mean"), "J&F-Mean"] == 100.0
    rows = pd.read_csv(scores / "per_object.csv", dtype={"expression": str})
    set1 = rows[(rows["set"] == "anno_1") & (rows["protocol"] == "assignment")].set_index("object_id")
    assert set1.loc[1, "expression"] == "1" and set1.loc[2, "expression"] == "5"
    assert set1.loc[1, "Box"] == 0.5


def test_set_boxes_need_the_expressions_file(tmp_path: Path, capsys):
    root, _ = _dataset(tmp_path)
    (tmp_path / "sets" / "anno_0").mkdir(parents=True)
    (tmp_path / "boxes").mkdir()
    code = main(["evaluate", "--pred", str(tmp_path / "sets"), "--gt", str(root / "valid" / "Annotations"),
                 "--boxes", str(tmp_path / "boxes"), "--out", str(tmp_path / "scores")])
    assert code != 0 and "--expressions" in capsys.readouterr().err
