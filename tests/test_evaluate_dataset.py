"""The dataset form of ``groprompt evaluate`` (``--dataset-kind --data --split --pred INFER_OUT``) on tiny datasets in
the official layouts: it writes exactly the files, columns and numbers of the folder-form command lines the
workflow ran before it (workflows/rules/evaluate.smk), for each way a kind is scored, and refuses what it cannot
score before any work.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from datasets_fixtures import A2DVideo, ToyVideo, moving_squares, write_a2d, write_refytvos

from groprompt.cli import main
from groprompt.data import open_dataset
from groprompt.evaluation.pipeline import OUTPUT_FILES
from groprompt.inference.outputs import OutputLayout, VideoWriter
from groprompt.masks import read_label_png


def write_infer_output(folder: Path, dataset, seed: int = 0) -> Path:
    """An infer output folder of imperfect predictions: each expression's mask is its object's ground truth shifted
    by a random 0..2 pixels (empty on some frames, covering a void pixel on others), with noisy boxes and scores."""
    rng = np.random.default_rng(seed)
    layout = OutputLayout(folder)
    for video in dataset.videos:
        writer = VideoWriter(layout, video)
        for t in range(video.num_frames):
            annotation = video.annotation(t) if video.annotations.annotated(t) else None
            masks, boxes = [], []
            for expression in video.expressions:
                mask = (annotation.mask(expression.obj_id, video.size) if annotation is not None
                        else np.zeros(video.size, dtype=bool))
                mask = np.roll(mask, int(rng.integers(0, 3)), axis=1)
                if rng.random() < 0.2:
                    mask = np.zeros_like(mask)
                masks.append(mask)
                boxes.append([2.0, 3.0, 9.0 + rng.random() * 4, 10.0] if rng.random() < 0.9 else [np.nan] * 4)
            writer.add_frame(t, np.array(boxes), rng.random(len(masks)), np.stack(masks))
        writer.finish({"method": "noisy"})
    return folder


def two_objects(num_frames: int, void: bool) -> np.ndarray:
    labels = moving_squares(num_frames, num_objects=2)
    if void:
        labels[1:, 20:22, 0:4] = 255
    return labels


def synrvos_root(tmp_path: Path) -> Path:
    kinds = ("appearance", "location", "motion")
    videos = [ToyVideo(f"v{i}", two_objects(4, void=i == 0),
                       [{"exp": f"thing {k}", "obj_id": str(1 + k % 2), "kind": kinds[k % 3]} for k in range(3)])
              for i in range(2)]
    return write_refytvos(tmp_path / "synrvos", "valid", videos)


def refdavis_root(tmp_path: Path) -> Path:
    expressions = [{"exp": f"object {obj} set {k}", "obj_id": str(obj)} for obj in (1, 2) for k in range(4)]
    videos = [ToyVideo(f"d{i}", two_objects(3, void=i == 1), expressions) for i in range(2)]
    return write_refytvos(tmp_path / "refdavis", "valid", videos)


def run(*args: str | Path) -> int:
    return main(["evaluate", *map(str, args), "--workers", "1"])


def outputs(folder: Path) -> dict[str, str]:
    return {name: (folder / name).read_text() for name in OUTPUT_FILES if (folder / name).exists()}


def dataset_form(kind: str, root: Path, split: str, infer: Path, out: Path) -> int:
    return run("--dataset-kind", kind, "--data", root, "--split", split, "--pred", infer, "--out", out)


def test_per_expression_kind_equals_the_folder_form(tmp_path):
    root = synrvos_root(tmp_path)
    infer = write_infer_output(tmp_path / "infer", open_dataset("synrvos", root, "valid"))
    assert run("--pred", infer / "Annotations", "--gt", root / "valid" / "Annotations", "--layout", "per-expression",
               "--expressions", root / "meta_expressions" / "valid" / "meta_expressions.json",
               "--boxes", infer / "boxes", "--out", tmp_path / "folder") == 0
    assert dataset_form("synrvos", root, "valid", infer, tmp_path / "dataset") == 0
    folder, dataset = outputs(tmp_path / "folder"), outputs(tmp_path / "dataset")
    assert set(dataset) == {"per_object.csv", "summary.csv", "summary_by_kind.csv"}
    assert dataset == folder


def test_expression_sets_kind_equals_the_two_folder_commands(tmp_path):
    root = refdavis_root(tmp_path)
    infer = write_infer_output(tmp_path / "infer", open_dataset("refdavis", root, "valid"), seed=1)
    old = tmp_path / "folder"
    assert main(["expression-sets", "--pred", str(infer), "--data", str(root), "--split", "valid",
                 "--out", str(old / "sets")]) == 0
    assert run("--pred", old / "sets", "--gt", root / "valid" / "Annotations", "--layout", "refdavis",
               "--expressions", root / "meta_expressions" / "valid" / "meta_expressions.json",
               "--boxes", infer / "boxes", "--out", old) == 0
    new = tmp_path / "dataset"
    assert dataset_form("refdavis", root, "valid", infer, new) == 0
    assert set(outputs(new)) == {"per_object.csv", "summary.csv"}
    assert outputs(new) == outputs(old)
    written = sorted(path.relative_to(new) for path in (new / "sets").rglob("*.png"))
    assert written == sorted(path.relative_to(old) for path in (old / "sets").rglob("*.png"))
    assert all((new / path).read_bytes() == (old / path).read_bytes() for path in written)


def test_referring_kind_equals_the_referring_layout(tmp_path):
    square = np.zeros((2, 16, 16), dtype=np.uint8)
    square[:, 2:8, 3:9] = 1
    square[1, 10:14, 10:14] = 2
    root = write_a2d(tmp_path / "a2d", [A2DVideo("vid", square, subset=1, annotated=[0, 1],
                                                 queries=[("1", "a square"), ("2", "a small one")])])
    infer = write_infer_output(tmp_path / "infer", open_dataset("a2d", root, "test"), seed=2)
    assert run("--pred", infer / "Annotations", "--layout", "referring", "--dataset-kind", "a2d", "--data", root,
               "--split", "test", "--out", tmp_path / "folder") == 0
    assert dataset_form("a2d", root, "test", infer, tmp_path / "dataset") == 0
    assert set(outputs(tmp_path / "dataset")) == {"per_sample.csv", "summary.csv"}
    assert outputs(tmp_path / "dataset") == outputs(tmp_path / "folder")


def test_unscored_split_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("groprompt.data.open_dataset", lambda *a, **k: pytest.fail("the dataset was read"))
    code = dataset_form("refytvos", tmp_path / "nowhere", "valid", tmp_path / "infer", tmp_path / "out")
    err = capsys.readouterr().err
    assert code == 2 and "no public ground truth" in err and "Ref-YouTube-VOS" in err and "fix:" in err
    assert not (tmp_path / "out").exists()


def test_dataset_form_refuses_folder_options_and_needs_data_and_split(tmp_path, capsys):
    base = ("--dataset-kind", "synrvos", "--pred", tmp_path, "--out", tmp_path / "out")
    for extra in (("--gt", tmp_path), ("--expressions", tmp_path / "m.json"), ("--boxes", tmp_path)):
        assert run(*base, "--data", tmp_path, "--split", "valid", *extra) == 2
        assert f"{extra[0]} does not apply to the dataset form" in capsys.readouterr().err
    assert run(*base, "--data", tmp_path) == 2
    assert "--data ROOT and --split SPLIT" in capsys.readouterr().err
    assert run(*base, "--split", "valid") == 2
    assert "--data ROOT and --split SPLIT" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_protocol_choice_in_the_dataset_form(tmp_path, capsys):
    root = refdavis_root(tmp_path)
    infer = write_infer_output(tmp_path / "infer", open_dataset("refdavis", root, "valid"))
    out = tmp_path / "out"
    assert run("--dataset-kind", "refdavis", "--data", root, "--split", "valid", "--pred", infer, "--out", out,
               "--protocol", "strict") == 0
    assert "assignment" not in (out / "summary.csv").read_text()
    synrvos = synrvos_root(tmp_path)
    infer = write_infer_output(tmp_path / "infer2", open_dataset("synrvos", synrvos, "valid"))
    capsys.readouterr()
    assert run("--dataset-kind", "synrvos", "--data", synrvos, "--split", "valid", "--pred", infer,
               "--out", tmp_path / "out2", "--protocol", "strict") == 2
    assert "--protocol strict" in capsys.readouterr().err


def test_a_reader_keeping_its_ground_truth_elsewhere_is_scored_from_what_it_reads(tmp_path, monkeypatch):
    # A kind of the user's whose reader finds the Ref-YouTube-VOS layout under <root>/stored: <root>/<split>/
    # Annotations does not exist, so the evaluation writes the label maps the reader gives and scores those.
    stored = synrvos_root(tmp_path / "elsewhere")
    root = stored.parent
    stored.rename(root / "stored")
    kinds = tmp_path / "kinds"
    kinds.mkdir()
    (kinds / "stored.py").write_text(
        "from pathlib import Path\n"
        "from groprompt.data import DatasetKind, load_refytvos\n\n\n"
        "def load_stored(root, split, *, dataset_name='stored'):\n"
        "    return load_refytvos(Path(root) / 'stored', split, dataset_name=dataset_name)\n\n\n"
        "STORED = DatasetKind('stored', 'Stored', load_stored, 'per-expression')\n")
    monkeypatch.setenv("GROPROMPT_DATASET_KINDS", str(kinds))
    infer = write_infer_output(tmp_path / "infer", open_dataset("synrvos", root / "stored", "valid"))
    assert dataset_form("synrvos", root / "stored", "valid", infer, tmp_path / "in_place") == 0
    assert not (tmp_path / "in_place" / "ground_truth").exists()  # the layout's own PNGs, read in place
    assert dataset_form("stored", root, "valid", infer, tmp_path / "written") == 0
    truth = tmp_path / "written" / "ground_truth"
    for png in (root / "stored" / "valid" / "Annotations").rglob("*.png"):  # void pixels included
        written = truth / png.relative_to(root / "stored" / "valid" / "Annotations")
        assert np.array_equal(read_label_png(written), read_label_png(png))
    assert outputs(tmp_path / "written") == outputs(tmp_path / "in_place")
