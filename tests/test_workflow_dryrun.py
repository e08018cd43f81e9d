"""Dry runs of the workflow (`snakemake -n`): every shipped config plans the jobs of its study, and a method
module dropped into baselines/ becomes inference jobs with no workflow edit."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml
from workflow_fixtures import (
    CONFIGS,
    REPO,
    copy_workflow,
    discovered,
    dry_run,
    job_counts,
    paper_config,
    pretraining_jobs,
    trained_runs,
)

METHODS = discovered()
BASELINES = [m for m in METHODS if m["name"] != "groprompt"]
"""Methods that run once per evaluation split (GroPrompt runs once per variant and seed instead)."""
WITHOUT_ORACLES = [m for m in BASELINES if not m["uses_ground_truth"]]
EXCLUDED_BY_DEFAULT = yaml.safe_load((CONFIGS / "default.yaml").read_text())["exclude_methods"]
IN_DEFAULT = [m for m in BASELINES if m["name"] not in EXCLUDED_BY_DEFAULT]
"""The baselines the default (and smoke) study runs: the paper configs run them all."""


@pytest.fixture(scope="module")
def default_plan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The working directory and dry run of the embedded default (no --configfile)."""
    workdir = tmp_path_factory.mktemp("default")
    return workdir, dry_run(workdir)


def test_the_default_study_plans_every_stage(default_plan) -> None:
    _, result = default_plan
    groprompt_runs = trained_runs("default")  # each training variant with seeds 0, 1, 2
    runs = len(IN_DEFAULT) + groprompt_runs
    variants = len(yaml.safe_load((CONFIGS / "default.yaml").read_text())["train"]["variants"])
    pretraining = {"pretrain": pretraining_jobs("default")} if pretraining_jobs("default") else {}
    assert job_counts(result) == {
        "synrvos": 1, **pretraining, "params_config": 1, "params": 1, "training_config": variants,
        "train": groprompt_runs, "infer_method": len(IN_DEFAULT), "infer_groprompt": groprompt_runs, "evaluate": runs,
        "tables": 1, "figure": 1, "run_stats": 1, "all": 1,
    }
    out = result.stdout
    for target in ("tables.md", "table6.csv", "figure.png", "run_stats.json"):
        assert f"results/default/{target}" in out
    assert "groprompt synrvos --out work/default/data/synrvos --preset default --seed 0" in out
    # CPU: no GPU resources, no GPU slot wrapper, no torchrun; one SAM embedding cache for the whole study.
    assert "gpu_slots.py" not in out and "torchrun" not in out and "gpu=1" not in out
    assert out.count("--cache work/default/cache/sam") == len(IN_DEFAULT) + groprompt_runs
    assert "--embedding-cache work/default/cache/sam" in out
    # Every training run is handed SAM: `groprompt train` decides from the variant's loss weights whether to use it.
    train_lines = [line for line in out.splitlines() if " train --dataset-kind" in line]
    assert len(train_lines) == groprompt_runs
    segmentor = ("work/default/models/segmentor.pt" if pretraining_jobs("default")
                 else str(REPO / "releases" / "standin-sam" / "segmentor.pt"))
    assert all(f"--segmentor {segmentor}" in line and "--resume" in line for line in train_lines)


def test_a_fresh_clone_with_the_committed_results_runs_the_whole_study(tmp_path: Path) -> None:
    """results/default/ is committed; its files existing must not make the main job "nothing to be done"."""
    shutil.copytree(REPO / "results" / "default", tmp_path / "results" / "default")
    counts = job_counts(dry_run(tmp_path))
    assert counts["synrvos"] == 1 and counts.get("pretrain", 0) == pretraining_jobs("default")
    assert counts["train"] == trained_runs("default")
    assert counts["tables"] == 1 and counts["figure"] == 1 and counts["run_stats"] == 1


def test_resumable_steps_decide_for_themselves_with_every_path_quoted(tmp_path: Path) -> None:
    """No shell guard empties an output folder before a step: train and infer are called with --resume and
    --restart-if-changed (they compare their recorded inputs' digests), and a dataset root with a space, a quote
    and a non-ASCII letter reaches every command as one shell word."""
    config = yaml.safe_load((CONFIGS / "smoke.yaml").read_text())
    root = tmp_path / "my data é's"
    root.mkdir()
    config["datasets"]["synrvos"] = {"kind": "synrvos", "root": str(root)}
    configfile = tmp_path / "quoted.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = dry_run(tmp_path, configfile)
    commands = [line.removeprefix("Shell command: ").strip() for line in result.stdout.splitlines()
                if line.startswith("Shell command:")]
    assert result.returncode == 0 and commands, result.stdout + result.stderr
    assert not any("rm -rf" in command or "find " in command for command in commands)
    steps = {word: [c for c in commands if f" {word} --" in c] for word in ("train", "infer", "figure")}
    runs = trained_runs("smoke")
    assert len(steps["train"]) == runs and len(steps["infer"]) == len(IN_DEFAULT) + runs and steps["figure"]
    assert all("--resume --restart-if-changed" in command for command in steps["train"])
    assert all("--restart-if-changed" in command for command in steps["infer"])
    reading = [c for c in commands if "my data" in c]
    assert len(reading) >= len(steps["train"]) + len(steps["infer"]) + 1  # and evaluate, figure
    for command in reading:
        assert any(word == str(root) or word.startswith(str(root) + os.sep) for word in shlex.split(command)), \
            command


def test_the_smoke_study_has_the_same_jobs(tmp_path: Path) -> None:
    result = dry_run(tmp_path, CONFIGS / "smoke.yaml")
    counts = job_counts(result)
    assert counts["train"] == trained_runs("smoke") and counts["infer_method"] == len(IN_DEFAULT)
    assert counts["evaluate"] == len(IN_DEFAULT) + trained_runs("smoke")
    assert counts.get("pretrain", 0) == pretraining_jobs("smoke") == 2  # CI keeps exercising pre-training
    assert "--preset smoke" in result.stdout and "results/smoke/tables.md" in result.stdout


def test_paper_refdavis_trains_on_ytvos_with_torchrun_and_gpus(tmp_path: Path) -> None:
    result = dry_run(tmp_path, paper_config("paper_refdavis", tmp_path), REPO / "Snakefile", "--resources", "gpu=8")
    runs = trained_runs("paper_refdavis")  # one seed: one training run per variant
    assert job_counts(result) == {
        "params_config": 1, "params": 1, "training_config": runs, "train": runs, "infer_method": len(BASELINES),
        "infer_groprompt": runs, "evaluate": len(BASELINES) + runs, "tables": 1, "figure": 1, "run_stats": 1,
        "all": 1,
    }
    out = result.stdout
    assert out.count("gpu_slots.py 8 -- torchrun --standalone --nproc_per_node 8 -m groprompt.cli train "
                     "--dataset-kind refytvos") == runs
    declared = [line for line in out.splitlines() if line.strip().startswith("resources:")]
    assert sum("gpu=8" in line for line in declared) == runs
    assert sum("gpu=1" in line for line in declared) == len(BASELINES) + runs
    assert f"--offer checkpoint={tmp_path}/models/groundingdino_swinb_cogcoor.pth" in out
    assert "--segmentor-variant vit_h" in out and "--dataset-kind refdavis" in out
    # One evaluate command per run: the kind's declared evaluation (Ref-DAVIS17's expression sets) is the step's.
    evaluations = [line for line in out.splitlines() if "groprompt evaluate" in line]
    assert len(evaluations) == len(BASELINES) + runs
    for line in evaluations:
        assert f"groprompt evaluate --dataset-kind refdavis --data {tmp_path}/data/refdavis --split valid " \
               "--pred work/paper_refdavis/infer/refdavis/valid/" in line
        assert "--out work/paper_refdavis/eval/refdavis/valid/" in line


def test_paper_refytvos_writes_submissions_without_scoring(tmp_path: Path) -> None:
    result = dry_run(tmp_path, paper_config("paper_refytvos", tmp_path))
    counts = job_counts(result)
    # No ground truth: no oracle, no evaluation; every run writes the server's archive.
    runs = trained_runs("paper_refytvos")
    assert counts["infer_method"] == len(WITHOUT_ORACLES) and counts["infer_groprompt"] == runs
    assert "evaluate" not in counts and "figure" not in counts
    assert result.stdout.count("--submission") == len(WITHOUT_ORACLES) + runs
    # Nothing scored, so Table 5 alone: its counts come from the models of the config.
    [tables] = [line for line in result.stdout.splitlines() if "groprompt tables" in line]
    assert "--dataset-kind refytvos" in tables and "--params work/paper_refytvos/params.json" in tables
    assert "--rows" not in tables


def test_paper_a2d_runs_both_test_sets_with_a2d_lambdas(tmp_path: Path) -> None:
    result = dry_run(tmp_path, paper_config("paper_a2d", tmp_path))
    counts = job_counts(result)
    # Both test splits have ground truth, so the oracles run too and every run is scored.
    runs = trained_runs("paper_a2d")  # each run is inferred on both test sets
    assert counts["infer_method"] == 2 * len(BASELINES) and counts["infer_groprompt"] == 2 * runs
    assert counts["evaluate"] == 2 * (len(BASELINES) + runs)
    assert counts["train"] == runs and "--dataset-kind a2d" in result.stdout and "--dataset-kind jhmdb" in result.stdout
    out = result.stdout
    for kind in ("a2d", "jhmdb"):
        assert out.count(f"groprompt evaluate --dataset-kind {kind} --data {tmp_path}/data/{kind} --split test") \
            == len(BASELINES) + runs
    [tables] = [line for line in out.splitlines() if "groprompt tables" in line]
    assert "--dataset-kind a2d" in tables and "jhmdb:gt-box-sam=work/paper_a2d/eval/jhmdb/test/gt-box-sam" in tables


@pytest.fixture()
def workflow_copy(tmp_path: Path) -> Path:
    """The workflow copied to ``tmp_path/repo`` (so baselines/ can gain a module)."""
    return copy_workflow(tmp_path / "repo")


def test_a_module_dropped_into_baselines_becomes_jobs(workflow_copy: Path) -> None:
    (workflow_copy / "baselines" / "centre_box.py").write_text(textwrap.dedent('''
        import numpy as np
        from groprompt.methods import FrameOutput, Method

        class CentreBox(Method):
            name = "centre-box"
            description = "the middle half of the frame"

            def predict(self, frame, index, expressions, ground_truth=None):
                h, w = frame.shape[:2]
                return [FrameOutput(box=np.array([w / 4, h / 4, 3 * w / 4, 3 * h / 4])) for _ in expressions]
    '''))
    (workflow_copy / "baselines" / "broken.py").write_text("import no_such_module_here\n")
    # A module that fails to load stops the workflow before any job (a typo must not drop a row silently)...
    result = dry_run(workflow_copy, None, workflow_copy / "Snakefile")
    message = result.stdout + result.stderr
    assert result.returncode != 0
    assert "broken" in message and "no_such_module_here" in message and "exclude_methods" in message
    # ... unless excluded; the new method is then planned like the shipped baselines, with no workflow edit.
    result = dry_run(workflow_copy, None, workflow_copy / "Snakefile", "--config",
                     f"exclude_methods=[broken,{','.join(EXCLUDED_BY_DEFAULT)}]")
    counts = job_counts(result)
    assert counts["infer_method"] == len(IN_DEFAULT) + 1
    assert counts["evaluate"] == len(IN_DEFAULT) + 1 + trained_runs("default")
    assert "groprompt infer --method centre-box" in result.stdout
    assert "work/default/eval/synrvos/valid/centre-box/summary.csv" in result.stdout


def test_a_method_missing_an_option_or_given_a_missing_path_stops_the_workflow_at_start(tmp_path: Path) -> None:
    """Options a method cannot run without (a SAM 2 or SAM 3 folder) and path options that do not exist are named
    before any job runs, with the config key to set; a tracker offered by the config satisfies the SAM 2 methods."""
    result = dry_run(tmp_path, None, REPO / "Snakefile", "--config", "exclude_methods=[sam3]")
    message = result.stdout + result.stderr
    assert result.returncode != 0 and "Job stats" not in message
    assert "method grounded-sam-2 needs option(s) tracker: set methods.grounded-sam-2.tracker or the study's " \
           "tracker" in message
    assert "method gt-box-sam2 needs option(s) tracker" in message
    result = dry_run(tmp_path, None, REPO / "Snakefile", "--config", "exclude_methods=[]",
                     f"tracker={{'path': '{tmp_path / 'no-sam2'}'}}", "methods={'sam3': {'sam3': '/no/such/sam3'}}")
    message = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"tracker: {tmp_path / 'no-sam2'} does not exist" in message
    assert "methods.sam3.sam3: /no/such/sam3 does not exist" in message
    (tmp_path / "sam2").mkdir()
    result = dry_run(tmp_path, None, REPO / "Snakefile", "--config", "exclude_methods=[sam3]",
                     f"tracker={{'path': '{tmp_path / 'sam2'}'}}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"--offer tracker={tmp_path / 'sam2'}" in result.stdout
    assert job_counts(result)["infer_method"] == len(IN_DEFAULT) + 2


def test_synrvos_in_the_mevis_layout_is_a_mevis_dataset_of_the_study(tmp_path: Path) -> None:
    """paper_mevis with its dataset generated (kind mevis, layout mevis): generated once, trained on train, every
    method on valid_u (scored) and the non-oracles on valid (the server's archive), tables and figure told the
    data are synthetic."""
    path = paper_config("paper_mevis", tmp_path)
    config = yaml.safe_load(path.read_text())
    config["datasets"]["mevis"] = {"kind": "mevis", "generate": {"preset": "smoke", "seed": 3, "layout": "mevis",
                                                                 "multi_object_share": 0.4}}
    path.write_text(yaml.safe_dump(config))
    result = dry_run(tmp_path, path, REPO / "Snakefile", "--resources", "gpu=8")
    counts = job_counts(result)
    groprompt_runs = trained_runs("paper_mevis")
    assert counts["synrvos"] == 1 and counts["train"] == groprompt_runs
    assert counts["infer_method"] == len(BASELINES) + len(WITHOUT_ORACLES)
    assert counts["evaluate"] == len(BASELINES) + groprompt_runs
    commands = [line.removeprefix("Shell command: ").strip() for line in result.stdout.splitlines()
                if line.startswith("Shell command:")]
    [generate] = [c for c in commands if " synrvos --out" in c]
    assert "synrvos --out work/paper_mevis/data/mevis " in generate
    assert all(flag in generate for flag in ("--preset smoke", "--seed 3", "--layout mevis",
                                             "--multi-object-share 0.4"))
    assert all("--dataset-kind mevis --data work/paper_mevis/data/mevis" in c for c in commands if " infer " in c)
    submissions = [c for c in commands if " infer " in c and "--submission" in c]
    assert len(submissions) == len(WITHOUT_ORACLES) + groprompt_runs
    assert all("--split valid " in c for c in submissions)
    assert all("--split valid_u" in c for c in commands if " evaluate " in c)
    [tables] = [c for c in commands if "groprompt tables" in c]
    [figure] = [c for c in commands if "groprompt figure" in c]
    assert "--dataset-kind mevis" in tables and "--generated mevis" in tables
    assert "--split valid_u --generated" in figure
    # A study that reads its datasets passes neither flag.
    plain = [line for line in dry_run(tmp_path, paper_config("paper_mevis", tmp_path)).stdout.splitlines()
             if "groprompt tables" in line or "groprompt figure" in line]
    assert len(plain) == 2 and not any("--generated" in line for line in plain)
