"""``groprompt evaluate`` never follows a name out of its folders (groprompt.safe_names).

The names of its prediction folders come from the expressions file (videos, expression ids) and from the boxes
files of groprompt infer; a bad one is refused with the file named before anything is scored or written. The
folders it writes (the ground truth staged from a reader, Ref-DAVIS17's expression sets) refuse a bad name that
bypassed the readers, and a link leading out of the score folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from datasets_fixtures import ToyVideo, moving_squares, write_refytvos

from groprompt.cli import main
from groprompt.data import Dataset, load_refdavis, load_refytvos
from groprompt.errors import GroPromptError
from groprompt.evaluation.expression_sets import write_expression_sets
from groprompt.evaluation.ground_truth import label_map_folder
from groprompt.evaluation.layouts import plan_evaluation

EVIL = "../../outside"


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    return write_refytvos(tmp_path / "data", "valid", [ToyVideo("v", moving_squares(num_frames=3), [
        {"exp": "the red square", "obj_id": "1"}, {"exp": "the green square", "obj_id": "2"}])])


def _files(folder: Path) -> set[str]:
    return {os.path.relpath(os.path.join(top, name), folder) for top, dirs, files in os.walk(folder)
            for name in dirs + files}


def _expressions_with(root: Path, tmp_path: Path, change) -> Path:
    data = json.loads((root / "meta_expressions" / "valid" / "meta_expressions.json").read_text())
    change(data["videos"])
    path = tmp_path / "expressions.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(("change", "says"), [
    (lambda videos: videos.update({EVIL: videos.pop("v")}), r"video name '\.\./\.\./outside'"),
    (lambda videos: videos["v"]["expressions"].update({"/1": videos["v"]["expressions"].pop("1")}),
     r"expression id '/1' .*video v"),
])
def test_expressions_file_with_a_bad_name_is_refused(root: Path, tmp_path: Path, change, says: str):
    expressions = _expressions_with(root, tmp_path, change)
    pred = tmp_path / "pred"
    pred.mkdir()
    with pytest.raises(GroPromptError, match=f"{says}.*file {expressions}\\]"):
        plan_evaluation(pred, root / "valid" / "Annotations", "per-expression", expressions)


def test_cli_refuses_before_writing_the_score_folder(root: Path, tmp_path: Path, capsys):
    expressions = _expressions_with(root, tmp_path, lambda videos: videos.update({EVIL: videos.pop("v")}))
    (tmp_path / "pred" / "v" / "0").mkdir(parents=True)
    out = tmp_path / "scores"
    assert main(["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(root / "valid" / "Annotations"),
                 "--expressions", str(expressions), "--out", str(out), "--workers", "1"]) == 2
    assert "error: video name '../../outside' is not a plain name" in capsys.readouterr().err
    assert not out.exists()


def test_boxes_file_with_a_bad_expression_id_is_refused(root: Path, tmp_path: Path):
    boxes = tmp_path / "boxes"
    boxes.mkdir()
    (boxes / "v.csv").write_text("exp_id,frame,x0,y0,x1,y1,score\n..,00000,1,2,3,4,0.5\n")
    pred = tmp_path / "pred"
    pred.mkdir()
    with pytest.raises(GroPromptError, match=rf"expression id '\.\.' is not a plain name.*file {boxes / 'v.csv'}\]"):
        plan_evaluation(pred, root / "valid" / "Annotations", "per-expression",
                        root / "meta_expressions" / "valid" / "meta_expressions.json", boxes=boxes)


class Elsewhere:
    """The annotation source of a reader that does not read label PNGs: the evaluation writes its label maps."""

    def __init__(self, source) -> None:
        self.source = source

    def annotated(self, frame_index: int) -> bool:
        return self.source.annotated(frame_index)

    def read(self, frame_index: int):
        return self.source.read(frame_index)


def _elsewhere(dataset: Dataset, **change) -> Dataset:
    return replace(dataset, videos=tuple(replace(video, annotations=Elsewhere(video.annotations), **change)
                                         for video in dataset.videos))


def test_staged_ground_truth_refuses_a_bad_name_or_a_link(root: Path, tmp_path: Path):
    dataset = load_refytvos(root, "valid")
    out = tmp_path / "score"
    out.mkdir()
    before = _files(tmp_path)
    with pytest.raises(GroPromptError, match=rf"video name '\.\./\.\./outside' is not a plain name.*file {out}\]"):
        label_map_folder(_elsewhere(dataset, name=EVIL), root / "valid" / "Annotations", out)
    with pytest.raises(GroPromptError, match=r"frame name '\.\./x' is not a plain name.*video v, file"):
        label_map_folder(_elsewhere(dataset, frame_names=("00000", "../x", "00010")), root / "valid" / "Annotations",
                         out)
    assert _files(tmp_path) == before
    outside = tmp_path / "outside"
    outside.mkdir()
    (out / ".ground_truth.partial").symlink_to(outside, target_is_directory=True)
    with pytest.raises(GroPromptError, match=rf"resolves to {outside / 'v'}, outside the score folder"):
        label_map_folder(_elsewhere(dataset), root / "valid" / "Annotations", out)
    assert not any(outside.iterdir())
    (out / ".ground_truth.partial").unlink()
    assert label_map_folder(_elsewhere(dataset), root / "valid" / "Annotations", out) == out / "ground_truth"


def test_expression_sets_refuse_a_bad_name_before_writing(tmp_path: Path):
    expressions = [{"exp": f"object {obj} set {k}", "obj_id": str(obj)} for obj in (1, 2) for k in range(4)]
    root = write_refytvos(tmp_path / "refdavis", "valid", [ToyVideo("d", moving_squares(), expressions)])
    dataset = load_refdavis(root, "valid")
    out = tmp_path / "sets"
    evil = replace(dataset, videos=tuple(replace(video, name="../../../escaped") for video in dataset.videos))
    with pytest.raises(GroPromptError, match=r"video name '\.\./\.\./\.\./escaped' is not a plain name"):
        write_expression_sets(evil, tmp_path / "infer", out)
    assert not out.exists() and not (tmp_path.parent / "escaped").exists()
