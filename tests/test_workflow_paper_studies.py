"""Real runs (not dry) of the two paper studies, workflows/config/paper_refdavis.yaml and paper_a2d.yaml, with
`snakemake --cores 2` on tiny datasets in the official layouts and tiny checkpoints in the formats a paper study
names, all written here: GroPrompt's training, every method's inference, each dataset's scoring protocol
(Ref-DAVIS17's expression sets; A2D/JHMDB's P@K and IoUs) and the tables. To keep the two studies near 70 s on
two cores, one GroPrompt variant is trained and one baseline is left out (:data:`VARIANT`, :data:`EXCLUDED`).
A third, paper_mevis.yaml, runs the same way on SynRVOS generated in the MeViS layout (its dataset given
`generate` instead of a root, :data:`MEVIS_GENERATE`), from the generation to the MeViS table (about 100 s of CPU).

Each study runs once (a module fixture, its wall time printed); the tests read what it left. The numbers mean
little at this size, with two exceptions the tests check. The tiny SAM, pre-trained for a few seconds, segments
the one object of a frame but hardly follows the box (learning that takes hundreds of steps, and even then not
reliably), so every evaluated frame shows at most one object: then almost any box gives that object's mask. GT box
+ SAM's box is exact (Box 100), and it alone gives an empty mask where its object is absent (docs/method_spec.md §7):
the Ref-DAVIS17 video shows its two objects one after the other, which puts GT box + SAM clearly first there. A2D and
JHMDB score only frames where the referred object is present, so there every method gets about the same masks,
and GT box + SAM must be close to the best (a pixel of SAM's mask edge apart) with a high IoU.
"""

from __future__ import annotations

import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from datasets_fixtures import A2DVideo, JHMDBVideo, ToyVideo, moving_squares, write_a2d, write_jhmdb, write_refytvos
from tracking_fixtures import save_tiny_sam2
from workflow_fixtures import CONFIGS, TINY_FRAME, discovered, run_study, tiny_checkpoints

from groprompt.data.registry import dataset_kind, open_dataset
from groprompt.masks import read_label_png
from groprompt.reporting.results import REFERRING_MEASURES, normalise_key, row_label

FRAME = TINY_FRAME
SIDE = 8
"""Side of the moving squares (moving_squares: object k at rows 4 + 8(k-1), columns 2 + 2t)."""
GT = "GT box + SAM"
VARIANT = "lbox_contra"
"""The one GroPrompt variant trained (the paper's; it also gives SAM to training): each variant costs a training
run and an inference and evaluation per split, about a fifth of a study's time."""
EXCLUDED = ["first-frame-box", "sam3"]
"""Baselines left out for the same reason: first-frame-box takes the path of the other box-only baselines, SAM 3
that of the other mask methods (the SAM 2 ones run, on a random tiny SAM 2: :func:`tracker`)."""
BASELINES = [m["name"] for m in discovered() if m["name"] != "groprompt" and m["name"] not in EXCLUDED]
"""The methods that run once per scored split; GroPrompt runs once per variant and seed."""


def expected_runs(config: dict) -> list[str]:
    """Run folders of every method on one scored split, as the workflow names them under infer/ and eval/."""
    return BASELINES + [f"groprompt/{variant}/seed{seed}" for variant in config["train"]["variants"]
                        for seed in config["seeds"]]


def expected_labels(config: dict) -> set[str]:
    """Table row labels of every method (one row per GroPrompt variant, its seeds pooled)."""
    return {row_label(normalise_key(name)) for name in BASELINES} | {
        row_label(normalise_key(f"groprompt/{variant}")) for variant in config["train"]["variants"]}


# ---------------------------------------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``checkpoints:`` of both studies: the tiny grounder and SAM of :func:`workflow_fixtures.tiny_checkpoints`."""
    return tiny_checkpoints(tmp_path_factory.mktemp("checkpoints"))


@pytest.fixture(scope="module")
def tracker(tmp_path_factory: pytest.TempPathFactory) -> str:
    """``tracker:`` of both studies: a random tiny SAM 2 folder (Grounded-SAM-2 and GT box + SAM 2 run on it)."""
    return str(save_tiny_sam2(tmp_path_factory.mktemp("tracker") / "sam2"))


# ---------------------------------------------------------------------------------------------- studies
@dataclass(frozen=True)
class Study:
    """A finished study: its working directory, its config (as run) and Snakemake's exit status and output."""

    workdir: Path
    config: dict
    returncode: int
    output: str

    @property
    def results(self) -> Path:
        return self.workdir / "results" / self.config["name"]

    @property
    def work(self) -> Path:
        return self.workdir / "work" / self.config["name"]

    def check_finished(self) -> None:
        """Fail with Snakemake's output and every job log when the run did not exit 0."""
        if self.returncode != 0:
            logs = "\n".join(f"--- {path.relative_to(self.workdir)}\n{path.read_text()[-3000:]}"
                             for path in sorted((self.work / "logs").rglob("*.log")))
            pytest.fail(f"snakemake exited {self.returncode}:\n{self.output[-6000:]}\n{logs}")

    def table(self, name: str) -> pd.DataFrame:
        self.check_finished()
        return pd.read_csv(self.results / f"{name}.csv")


def run_paper_study(paper: str, workdir: Path, roots: dict[str, Path], checkpoints: dict[str, str],
                    tracker: str, generated: dict[str, dict] | None = None) -> Study:
    """Run ``workflows/config/<paper>.yaml`` as shipped, but on CPU with the tiny models, the given dataset roots
    and checkpoints, one GroPrompt variant trained one epoch of two steps (clips of two frames), and without
    :data:`EXCLUDED`; each dataset of ``generated`` is generated (its ``generate`` section) instead of read."""
    config = yaml.safe_load((CONFIGS / f"{paper}.yaml").read_text())
    config |= {"device": "cpu", "gpus": 0, "threads": 1, "checkpoints": checkpoints, "exclude_methods": EXCLUDED,
               "tracker": {"path": tracker}}
    config["train"]["variants"] = {VARIANT: config["train"]["variants"][VARIANT]}
    config["models"] |= {"prompter_size": "tiny", "segmentor_variant": "tiny"}
    config["train"]["settings"] |= {"epochs": 1, "lr_drop_epochs": [], "clip_length": 2, "steps_per_epoch": 2}
    for key, root in roots.items():
        config["datasets"][key]["root"] = str(root)
    for key, generate in (generated or {}).items():
        config["datasets"][key] = {"kind": config["datasets"][key]["kind"], "generate": generate}
    configfile = workdir / f"{paper}.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    started = time.perf_counter()
    result = run_study(workdir, configfile, cores=2)
    seconds = time.perf_counter() - started
    print(f"\n{paper}: snakemake --cores 2 took {seconds:.1f} s (exit {result.returncode})")
    return Study(workdir, config, result.returncode, result.stdout + result.stderr)


def squares(num_frames: int) -> np.ndarray:
    """Label maps of a red (1) and a green (2) square moving right, both in every frame (training videos)."""
    return moving_squares(num_frames=num_frames, size=FRAME, side=SIDE)


def one_at_a_time(num_frames: int) -> np.ndarray:
    """The same squares, the red one in the first half of the frames only and the green one in the second half."""
    labels = squares(num_frames)
    half = num_frames // 2
    labels[:half][labels[:half] == 2] = 0
    labels[half:][labels[half:] == 1] = 0
    return labels


REFERRING = {"1": ["the red square", "a red box on the left", "the upper square", "the red one"],
             "2": ["the green square", "a green box", "the lower square", "the green one"]}
"""Four expressions per object: Ref-DAVIS17's expression sets 0..3 (the k-th expression of each object)."""


@pytest.fixture(scope="module")
def refdavis_study(tmp_path_factory: pytest.TempPathFactory, checkpoints: dict[str, str], tracker: str) -> Study:
    """paper_refdavis: trained on Ref-YouTube-VOS train (2 videos), evaluated on Ref-DAVIS17 valid (1 video of 4
    frames, 2 objects x 4 expressions, in the Ref-YouTube-VOS conversion layout)."""
    root = tmp_path_factory.mktemp("refdavis-study")
    train_expressions = [{"exp": sentences[0], "obj_id": obj} for obj, sentences in REFERRING.items()]
    refytvos = write_refytvos(root / "data" / "refytvos", "train",
                              [ToyVideo(f"ytvos_{i}", squares(3), train_expressions) for i in range(2)])
    davis_expressions = [{"exp": sentence, "obj_id": obj} for obj, sentences in REFERRING.items()
                         for sentence in sentences]
    refdavis = write_refytvos(root / "data" / "refdavis", "valid",
                              [ToyVideo("davis_0", one_at_a_time(4), davis_expressions)])
    workdir = root / "run"
    workdir.mkdir()
    return run_paper_study("paper_refdavis", workdir, {"refytvos": refytvos, "refdavis": refdavis}, checkpoints,
                           tracker)


@pytest.fixture(scope="module")
def a2d_study(tmp_path_factory: pytest.TempPathFactory, checkpoints: dict[str, str], tracker: str) -> Study:
    """paper_a2d: trained on A2D-Sentences train (2 videos), evaluated on A2D-Sentences test (1 video, 4 annotated
    frames, one referred square in each) and JHMDB-Sentences (1 video, its 3 sample frames)."""
    root = tmp_path_factory.mktemp("a2d-study")
    queries = [("1", "the red square"), ("2", "the green square")]
    videos = [A2DVideo(f"a2dTrain{i}", squares(4), subset=0, annotated=[0, 2], queries=queries) for i in range(2)]
    videos.append(A2DVideo("a2dTest0", one_at_a_time(4), subset=1, annotated=[0, 1, 2, 3], queries=queries))
    a2d = write_a2d(root / "data" / "a2d", videos)
    actor = moving_squares(num_frames=4, size=FRAME, num_objects=1, side=SIDE) == 1
    jhmdb = write_jhmdb(root / "data" / "jhmdb", [JHMDBVideo("run_1", "run", actor, "the red square running",
                                                             samples=[1, 2, 4])])
    workdir = root / "run"
    workdir.mkdir()
    return run_paper_study("paper_a2d", workdir, {"a2d": a2d, "jhmdb": jhmdb}, checkpoints, tracker)


# ---------------------------------------------------------------------------------------------- Ref-DAVIS17
def test_refdavis_study_finishes(refdavis_study: Study) -> None:
    refdavis_study.check_finished()
    for name in ("tables.md", "table5.csv", "figure.png", "run_stats.json"):
        assert (refdavis_study.results / name).is_file(), name


def test_table6_has_every_method_and_gt_box_is_exact(refdavis_study: Study) -> None:
    table = refdavis_study.table("table6").set_index("Method")
    assert set(table.index) == expected_labels(refdavis_study.config)
    assert (table["Seeds"] == 1).all()
    for column in ("Box", "J&F", "J", "F"):
        values = pd.to_numeric(table[column], errors="raise")
        assert values.between(0, 100).all(), (column, values)
    # The tight box of the ground-truth mask is the ground-truth box, on every frame the object is in.
    assert table.loc[GT, "Box"] == pytest.approx(100, abs=0.01)
    assert table["Box"].drop(GT).max() < 100


def test_gt_box_sam_has_the_highest_jf(refdavis_study: Study) -> None:
    """Every method's masks are right where its object is; the others also mask the other square where their
    object is absent, and the expression sets merge their two objects' identical masks into one label."""
    table = refdavis_study.table("table6").set_index("Method")
    assert table.loc[GT, "J&F"] > 80, table["J&F"]
    assert table["J&F"].drop(GT).max() < table.loc[GT, "J&F"] - 10, table["J&F"]


def test_both_refdavis_protocols_are_tabulated(refdavis_study: Study) -> None:
    table = refdavis_study.table("refdavis_protocols").set_index("Method")
    assert set(table.index) == expected_labels(refdavis_study.config)
    for protocol in ("assignment", "strict"):
        for measure in ("J&F", "J", "F"):
            values = pd.to_numeric(table[f"{measure} ({protocol})"], errors="raise")
            assert values.between(0, 100).all(), (measure, protocol, values)
    # The assignment protocol matches each prediction to its best object, so it never scores below strict.
    assert (table["J&F (assignment)"] >= table["J&F (strict)"] - 1e-9).all()


def test_table1_has_computed_refdavis_rows_only(refdavis_study: Study) -> None:
    table = refdavis_study.table("table1")
    computed = table[table["Source"] == "computed"].set_index("Method")
    assert set(computed.index) == expected_labels(refdavis_study.config)
    davis, ytvos = dataset_kind("refdavis").name, dataset_kind("refytvos").name
    for measure in ("J&F", "J", "F"):
        assert pd.to_numeric(computed[f"{davis} {measure}"], errors="raise").between(0, 100).all()
        assert computed[f"{ytvos} {measure}"].isna().all(), "Ref-YouTube-VOS was not evaluated"
    assert (table["Source"] != "computed").any(), "the paper's reported rows come first"


def test_refdavis_expressions_are_merged_into_four_sets(refdavis_study: Study) -> None:
    refdavis_study.check_finished()
    for run in expected_runs(refdavis_study.config):
        folder = refdavis_study.work / "eval" / "refdavis" / "valid" / run
        assert (folder / "summary.csv").is_file(), run
        assert sorted(path.name for path in (folder / "sets").iterdir()) == [f"anno_{k}" for k in range(4)], run
    # Set k of GT box + SAM: the k-th expression's mask of each object, labelled with the object's id, in every
    # frame; the red square (1) shows in frames 0-1, the green one (2) in frames 2-3.
    sets = refdavis_study.work / "eval" / "refdavis" / "valid" / "gt-box-sam" / "sets"
    truth = one_at_a_time(4)
    for k in range(4):
        frames = sorted((sets / f"anno_{k}" / "davis_0").iterdir())
        assert [path.name for path in frames] == [f"{5 * t:05d}.png" for t in range(4)]
        for t, path in enumerate(frames):
            labels = read_label_png(path)
            assert set(np.unique(labels)) == set(np.unique(truth[t])), (k, t)
            assert (labels == truth[t]).mean() > 0.95, (k, t)


# ---------------------------------------------------------------------------------------------- A2D and JHMDB
def test_a2d_study_finishes_without_table6(a2d_study: Study) -> None:
    a2d_study.check_finished()
    for name in ("tables.md", "table5.csv", "table2.csv", "table3.csv", "figure.png", "run_stats.json"):
        assert (a2d_study.results / name).is_file(), name
    assert not (a2d_study.results / "table6.csv").exists(), "A2D is scored with P@K and IoUs, not J&F"
    assert not (a2d_study.results / "table1.csv").exists()


@pytest.mark.parametrize("name", ["table2", "table3"])
def test_referring_tables_have_every_method(a2d_study: Study, name: str) -> None:
    table = a2d_study.table(name)
    computed = table[table["Source"] == "computed"].set_index("Method")
    assert set(computed.index) == expected_labels(a2d_study.config)
    for measure in REFERRING_MEASURES:
        values = pd.to_numeric(computed[measure], errors="raise")
        assert values.notna().all() and values.between(0, 100).all(), (measure, values)
    # P@K counts the samples whose IoU exceeds K: it cannot grow with K.
    precision = computed[[f"P@0.{k}" for k in range(5, 10)]].to_numpy()
    assert (np.diff(precision, axis=1) <= 1e-9).all(), precision


@pytest.mark.parametrize("name", ["table2", "table3"])
def test_gt_box_sam_scores_the_referred_object(a2d_study: Study, name: str) -> None:
    """Each scored frame shows only the referred square, so GT box + SAM's masks are nearly exact; a mask read
    transposed, or scored against the wrong instance, would fail this. No method can do much better."""
    table = a2d_study.table(name)
    computed = table[table["Source"] == "computed"].set_index("Method")
    for measure in ("Overall IoU", "Mean IoU"):
        assert computed.loc[GT, measure] > 85, computed[measure]
        assert computed.loc[GT, measure] >= computed[measure].max() - 3, computed[measure]
    assert computed.loc[GT, "P@0.5"] == 100


@pytest.mark.parametrize("dataset", ["a2d", "jhmdb"])
def test_every_run_is_scored_per_sample(a2d_study: Study, dataset: str) -> None:
    a2d_study.check_finished()
    for run in expected_runs(a2d_study.config):
        folder = a2d_study.work / "eval" / dataset / "test" / run
        samples = pd.read_csv(folder / "per_sample.csv")
        # A2D test: 4 annotated frames, one referred square present in each; JHMDB: the 3 sample frames.
        assert len(samples) == (4 if dataset == "a2d" else 3), (run, samples)
        assert (folder / "summary.csv").is_file(), run


# ---------------------------------------------------------------------------------------------- MeViS layout
MEVIS_GENERATE = {"preset": "smoke", "seed": 0, "layout": "mevis", "multi_object_share": 0.5, "frame_size": 32,
                  "train_videos": 2, "valid_videos": 2}
"""SynRVOS in the MeViS layout, as small as it comes: 2 videos of 8-16 frames of 32 x 32 per split, about half the
expressions referring to several objects."""


@pytest.fixture(scope="module")
def mevis_study(tmp_path_factory: pytest.TempPathFactory, checkpoints: dict[str, str], tracker: str) -> Study:
    """paper_mevis on SynRVOS generated in the MeViS layout (kind mevis with generate): trained on its train split,
    scored on valid_u, valid written for the evaluation server."""
    workdir = tmp_path_factory.mktemp("mevis-study")
    return run_paper_study("paper_mevis", workdir, {}, checkpoints, tracker, generated={"mevis": MEVIS_GENERATE})


def test_mevis_study_finishes_with_its_table(mevis_study: Study) -> None:
    mevis_study.check_finished()
    for name in ("tables.md", "table5.csv", "table6.csv", "mevis.csv", "mevis.md", "figure.png", "run_stats.json"):
        assert (mevis_study.results / name).is_file(), name
    assert (mevis_study.work / "data" / "mevis" / "valid_u" / "mask_dict.json").is_file()


def test_mevis_table_breaks_every_method_down_by_referents(mevis_study: Study) -> None:
    """Every method has a row; the single- and multi-object columns count the valid_u expressions of one and of
    several objects; every caption says the data are synthetic."""
    table = mevis_study.table("mevis").set_index("Method")
    assert set(table.index) == expected_labels(mevis_study.config)
    valid_u = open_dataset("mevis", mevis_study.work / "data" / "mevis", "valid_u")
    several = sum(len(expression.referents) > 1 for _, expression in valid_u.expressions())
    single = len(valid_u.expressions()) - several
    assert several and single
    for column in ("J&F", "J", "F", f"J&F single-object (n={single})", f"J&F multi-object (n={several})"):
        assert pd.to_numeric(table[column], errors="raise").between(0, 100).all(), column
    tables = (mevis_study.results / "tables.md").read_text()
    assert tables.count("SynRVOS in the MeViS layout (synthetic), not MeViS") >= 3  # Table 6, Table 5, MeViS


def test_mevis_gt_box_sam_prompts_every_referent_of_valid_u(mevis_study: Study) -> None:
    """The oracle's record of prompted boxes on valid_u: on every frame, the ground-truth box of each referent
    present there."""
    mevis_study.check_finished()
    valid_u = open_dataset("mevis", mevis_study.work / "data" / "mevis", "valid_u")
    masks = mevis_study.work / "infer" / "mevis" / "valid_u" / "gt-box-sam" / "masks"
    checked = 0
    for video in valid_u:
        records = json.loads((masks / f"{video.name}.json").read_text())["records"]
        for expression in video.expressions:
            if len(expression.referents) == 1:
                continue
            for t in range(video.num_frames):
                truth = video.annotation(t)
                boxes = [truth.box(obj) for obj in expression.referents if truth.box(obj) is not None]
                assert [row[:4] for row in records[expression.exp_id]["prompted_boxes"][t]] == \
                    [list(map(float, box)) for box in boxes]
                checked += len(boxes) > 1
    assert checked


def test_mevis_valid_is_written_for_the_server_not_scored(mevis_study: Study) -> None:
    mevis_study.check_finished()
    infer = mevis_study.work / "infer" / "mevis" / "valid"
    for run in expected_runs(mevis_study.config):
        if run.startswith("gt-box"):  # oracles need ground truth
            assert not (infer / run).exists(), run
            continue
        with zipfile.ZipFile(infer / run / "submission.zip") as archive:
            names = archive.namelist()
        assert names and all(name.count("/") == 2 and name.endswith(".png") for name in names), names[:3]
    assert not (mevis_study.work / "eval" / "mevis" / "valid").exists()
