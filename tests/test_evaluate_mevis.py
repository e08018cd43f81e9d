"""``groprompt evaluate`` on MeViS: each expression scored against the union of its objects' masks on every frame
(tools/eval_mevis.py of the official code), with hand-computed J, F and box IoU on the tiny layout of
mevis_fixtures.py, and the official rule re-computed frame by frame on random predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from davis_reference import reference_f, reference_iou
from mevis_fixtures import EMPTY, H, W, MevisVideo, block, two_birds, write_mevis

from groprompt.cli import main
from groprompt.data import open_dataset
from groprompt.errors import GroPromptError
from groprompt.inference.outputs import OutputLayout, VideoWriter

LEFT, RIGHT, BAR = block(slice(2, 6), slice(1, 5)), block(slice(2, 6), slice(9, 13)), block(slice(8, 10), slice(5, 11))
NO_BOX = [np.nan] * 4

# Per expression, per frame: the predicted mask and box. The ground truth (mevis_fixtures.two_birds): left bird in
# frames 0-1, right bird in frames 2-3, the bar in frames 1-3 (its frame-0 RLE decodes to an empty mask).
PREDICTIONS = {
    # "the bird on the left" (one object): right in 0-1, a false positive in 2, empty in 3 -> J = F = 3/4.
    "0": [(LEFT, [1, 2, 5, 6]), (LEFT, [1, 2, 5, 6]), (LEFT, [1, 2, 5, 6]), (EMPTY, NO_BOX)],
    # "the two birds taking turns": the left bird throughout: right in 0-1, disjoint from the right bird in 2-3.
    "1": [(LEFT, [1, 2, 5, 6])] * 4,
    # "the birds and the branch": exact in 0 and 3, the bar missed in 1, nothing in 2.
    "2": [(LEFT, [1, 2, 5, 6]), (LEFT, [1, 2, 5, 6]), (EMPTY, NO_BOX), (RIGHT | BAR, [5, 2, 13, 10])],
    # "the branch" (one object): the bar throughout, so a false positive in frame 0 where its mask is empty.
    "3": [(BAR, [5, 8, 11, 10])] * 4,
}

EXPECTED = {
    # expression: (J, F, box IoU), each the mean over the four frames (box: over the frames with an object)
    "0": (3 / 4, 3 / 4, 1.0),
    "1": ((1 + 1 + 0 + 0) / 4, (1 + 1 + 0 + 0) / 4, (1 + 1 + 0 + 0) / 4),
    # frame 1: J = 16 / (16 + 12); F: all 16 predicted boundary pixels match (precision 1), 16 of the 32 of the
    # union's (recall 1/2), F = 2/3; box [1, 2, 5, 6] against the union's [1, 2, 11, 10]: 16 / 80.
    "2": ((1 + 16 / 28 + 0 + 1) / 4, (1 + 2 / 3 + 0 + 1) / 4, (1 + 16 / 80 + 0 + 1) / 4),
    "3": (3 / 4, 3 / 4, 1.0),
}


def write_predictions(folder: Path, video, predictions: dict[str, list[tuple[np.ndarray, list]]]) -> Path:
    writer = VideoWriter(OutputLayout(folder), video)
    exp_ids = [e.exp_id for e in video.expressions]
    for t in range(video.num_frames):
        masks = np.stack([predictions[exp][t][0] for exp in exp_ids])
        boxes = np.array([predictions[exp][t][1] for exp in exp_ids], dtype=float)
        writer.add_frame(t, boxes, np.ones(len(exp_ids)), masks)
    writer.finish({"method": "hand"})
    return folder


def evaluate(root: Path, split: str, infer: Path, out: Path) -> int:
    return main(["evaluate", "--dataset-kind", "mevis", "--data", str(root), "--split", split, "--pred", str(infer),
                 "--out", str(out), "--workers", "1"])


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    write_mevis(tmp_path / "mevis", "valid_u", [two_birds()])
    return write_mevis(tmp_path / "mevis", "valid", [two_birds()], with_masks=False)


def test_union_of_referents_scored_on_every_frame_by_hand(root: Path, tmp_path: Path):
    video = open_dataset("mevis", root, "valid_u").video("birds")
    infer = write_predictions(tmp_path / "infer", video, PREDICTIONS)
    assert evaluate(root, "valid_u", infer, tmp_path / "score") == 0
    rows = pd.read_csv(tmp_path / "score" / "per_object.csv", dtype={"object_id": str, "expression": str})
    assert rows["object_id"].tolist() == ["1", "1+2", "1+2+3", "3"]
    assert (rows["frames"] == 4).all() and (rows["protocol"] == "expression").all()
    for _, row in rows.iterrows():
        j, f, box = EXPECTED[row["expression"]]
        assert row["J-Mean"] == pytest.approx(j, abs=1e-12) and row["F-Mean"] == pytest.approx(f, abs=1e-12)
        assert row["J&F-Mean"] == pytest.approx((j + f) / 2, abs=1e-12) and row["Box"] == pytest.approx(box)
    summary = pd.read_csv(tmp_path / "score" / "summary.csv").iloc[0]
    expected = np.array(list(EXPECTED.values()))
    assert summary["J-Mean"] == pytest.approx(100 * expected[:, 0].mean())  # the mean over expressions
    assert summary["J&F-Mean"] == pytest.approx(100 * (expected[:, 0].mean() + expected[:, 1].mean()) / 2)
    assert summary["Box"] == pytest.approx(100 * expected[:, 2].mean())
    labels = sorted(p.name for p in (tmp_path / "score" / "ground_truth" / "birds").iterdir())
    assert labels == ["00000.png", "00001.png", "00002.png", "00003.png"]  # every frame is scored


def test_official_rule_on_random_predictions(tmp_path: Path):
    """Random objects (overlap-free, as label maps need), random predictions: each expression's J and F equal the
    official per-frame measures (DAVIS's db_eval_iou / db_eval_boundary, re-implemented in davis_reference) on the
    sum of its referents' masks, averaged over all frames."""
    rng = np.random.default_rng(5)
    owner = rng.integers(0, 4, size=(6, H, W))  # 0: background, k: object k - 1
    owner[2:4][owner[2:4] == 2] = 0  # object 1 leaves for two frames
    objects = {obj: owner == obj + 1 for obj in range(3)}
    expressions = [{"exp": f"group {k}", "obj_id": ids} for k, ids in enumerate([[0], [0, 1], [1, 2], [0, 1, 2]])]
    write_mevis(tmp_path / "mevis", "valid_u", [MevisVideo("random", objects, expressions)])
    video = open_dataset("mevis", tmp_path / "mevis", "valid_u").video("random")
    predicted = {e.exp_id: [(rng.random((H, W)) < 0.4 if t != 1 else EMPTY, NO_BOX) for t in range(6)]
                 for e in video.expressions}
    infer = write_predictions(tmp_path / "infer", video, predicted)
    assert evaluate(tmp_path / "mevis", "valid_u", infer, tmp_path / "score") == 0
    rows = pd.read_csv(tmp_path / "score" / "per_object.csv", dtype={"expression": str}).set_index("expression")
    for k, expression in enumerate(expressions):
        truth = [sum(objects[obj][t] for obj in expression["obj_id"]) > 0 for t in range(6)]
        pred = [mask for mask, _ in predicted[str(k)]]
        j = np.mean([reference_iou(p, g) for p, g in zip(pred, truth)])
        f = np.mean([reference_f(p, g) for p, g in zip(pred, truth)])
        assert rows.loc[str(k), "J-Mean"] == pytest.approx(j, abs=1e-12)
        assert rows.loc[str(k), "F-Mean"] == pytest.approx(f, abs=1e-12)


def test_valid_is_left_to_the_server(root: Path, tmp_path: Path):
    with pytest.raises(GroPromptError, match="split 'valid' of MeViS cannot be scored here: it has no public ground "
                                             "truth"):
        from groprompt.evaluation.pipeline import plan_dataset

        plan_dataset("mevis", root, "valid", tmp_path, tmp_path / "score")


def test_overlapping_masks_are_said(tmp_path: Path):
    """Label maps cannot hold two objects on one pixel: a shared pixel goes to the higher label, which the warning
    says (the official evaluation would give exp 0 a perfect frame 0, scored here without its pixels)."""
    overlapping = {0: np.stack([LEFT, LEFT]), 1: np.stack([LEFT | RIGHT, RIGHT])}
    expressions = [{"exp": "a bird", "obj_id": [0]}, {"exp": "the other", "obj_id": [1]}]
    write_mevis(tmp_path / "mevis", "valid_u", [MevisVideo("pair", overlapping, expressions)])
    video = open_dataset("mevis", tmp_path / "mevis", "valid_u").video("pair")
    infer = write_predictions(tmp_path / "infer", video, {"0": [(LEFT, NO_BOX)] * 2,
                                                          "1": [(LEFT | RIGHT, NO_BOX), (RIGHT, NO_BOX)]})
    with pytest.warns(UserWarning, match=r"in 1 frames of 1 videos \(first: pair, frame 00000\) the masks of two "
                                         r"objects overlap; .* higher id"):
        assert evaluate(tmp_path / "mevis", "valid_u", infer, tmp_path / "score") == 0
    rows = pd.read_csv(tmp_path / "score" / "per_object.csv", dtype={"expression": str}).set_index("expression")
    assert rows.loc["0", "J-Mean"] == 0.5 and rows.loc["1", "J-Mean"] == 1.0


def test_single_and_multi_object_expressions_are_summarised_apart(root: Path, tmp_path: Path, capsys):
    """summary_by_referents.csv: expressions 0 and 3 refer to one object, 1 and 2 to several; each group's J, F,
    J&F and Box are the means of its expressions' (EXPECTED), x100, with their count."""
    video = open_dataset("mevis", root, "valid_u").video("birds")
    infer = write_predictions(tmp_path / "infer", video, PREDICTIONS)
    assert evaluate(root, "valid_u", infer, tmp_path / "score") == 0
    assert "by referents (single-object / multi-object):" in capsys.readouterr().out
    rows = pd.read_csv(tmp_path / "score" / "per_object.csv", dtype={"expression": str})
    assert rows["referents"].tolist() == ["single-object", "multi-object", "multi-object", "single-object"]
    table = pd.read_csv(tmp_path / "score" / "summary_by_referents.csv")
    assert table.columns.tolist()[:3] == ["referents", "protocol", "expressions"] and table.columns[-1] == "Box"
    assert table["referents"].tolist() == ["single-object", "multi-object"]  # in this order, not sorted
    for (_, row), members in zip(table.iterrows(), (["0", "3"], ["1", "2"]), strict=True):
        j, f, box = (100 * np.mean([EXPECTED[exp][i] for exp in members]) for i in range(3))
        assert row["expressions"] == 2 and row["protocol"] == "expression"
        assert row["J-Mean"] == pytest.approx(j) and row["F-Mean"] == pytest.approx(f)
        assert row["J&F-Mean"] == pytest.approx((j + f) / 2) and row["Box"] == pytest.approx(box)
    assert not (tmp_path / "score" / "summary_by_kind.csv").exists()


def test_no_referent_breakdown_without_multi_object_expressions(tmp_path: Path):
    """A split whose expressions each refer to one object has no referents column and no summary_by_referents.csv;
    a stale one left in the folder by an earlier evaluation is removed."""
    single = two_birds()
    single.expressions = [single.expressions[0], single.expressions[3]]
    write_mevis(tmp_path / "mevis", "valid_u", [single])
    video = open_dataset("mevis", tmp_path / "mevis", "valid_u").video("birds")
    infer = write_predictions(tmp_path / "infer", video, {"0": PREDICTIONS["0"], "1": PREDICTIONS["3"]})
    (tmp_path / "score").mkdir()
    (tmp_path / "score" / "summary_by_referents.csv").write_text("stale\n")
    assert evaluate(tmp_path / "mevis", "valid_u", infer, tmp_path / "score") == 0
    assert "referents" not in pd.read_csv(tmp_path / "score" / "per_object.csv").columns
    assert not (tmp_path / "score" / "summary_by_referents.csv").exists()


def test_warnings_name_the_mevis_expressions_file(root: Path, tmp_path: Path, capsys):
    video = open_dataset("mevis", root, "valid_u").video("birds")
    infer = write_predictions(tmp_path / "infer", video, PREDICTIONS)
    (infer / "Annotations" / "stray").mkdir()
    assert evaluate(root, "valid_u", infer, tmp_path / "score") == 0
    err = capsys.readouterr().err
    assert f"is not in {root / 'valid_u' / 'meta_expressions.json'}; ignored" in err
    assert "meta_expressions/valid_u" not in err
