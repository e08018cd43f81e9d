"""The SLURM profile (workflows/profiles/slurm) through snakemake-executor-plugin-slurm, against the stand-in SLURM
commands of tests/slurm_standins.py put first on PATH: what each job asks ``sbatch`` (and its job step ``srun``)
for, and that the jobs run to the end.

* The smoke study, on a stand-in cluster that runs every job here: the profile with its partition and account
  filled in, the study as a GPU run (``--config device=cuda gpus=2``: the stand-in ``srun`` runs each job step on
  the CPU), run to its end (every job, up to the tables, figure and run statistics) with a few pre-training and
  training steps (:func:`quick_smoke`).
* ``paper_refdavis`` as shipped (placeholders and all), on a stand-in cluster that records each submission and
  fails the job: the first wave of jobs shows what the paper study asks for; README.md shows the training job's
  ``sbatch`` line (:func:`readme_line`), and a test checks it is the one recorded.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from slurm_standins import calls, install, stop_jobs
from workflow_fixtures import CONFIGS, REPO, SNAKEMAKE, discovered, paper_config, trained_runs

PROFILE = REPO / "workflows" / "profiles" / "slurm"
PARTITION, ACCOUNT = "gpu-test", "rvos-test"
"""What the smoke run fills into the profile's <partition> and <account> placeholders."""
FAST_POLLING = ["--seconds-between-status-checks", "1", "--slurm-init-seconds-before-status-checks", "1"]
"""Status checks every second at first (the plugin then backs off by 10 s per check while no job ends; the stand-in
sacct waits for one to end instead)."""
BASELINES = [m["name"] for m in discovered() if m["name"] != "groprompt"]
IN_SMOKE = [name for name in BASELINES
            if name not in yaml.safe_load((CONFIGS / "smoke.yaml").read_text())["exclude_methods"]]
"""The baselines the smoke study runs (the paper configs run them all)."""
SMOKE_RESULTS = ["work/smoke/study.done", "results/smoke/table6.csv", "results/smoke/figure.png",
                 "results/smoke/run_stats.json"]
"""What the whole smoke study leaves at its end."""
CPU_RULES = ("synrvos", "params", "evaluate", "tables", "figure", "run_stats")
"""The smoke study's rules that run on CPUs only (no ``gpu`` resource)."""


@dataclass(frozen=True)
class Request:
    """What one ``sbatch`` call asked for (None where the option is absent)."""

    rule: str
    wildcards: str
    gpus: int | None
    cpus_per_task: int
    ntasks: int | None
    mem_mb: int
    minutes: int
    partition: str
    account: str
    job_name: str

    @classmethod
    def of(cls, options: dict) -> Request:
        rule, wildcards = re.fullmatch(r"rule_(\w+?)(?:_wildcards_(.*))?", options["comment"]).groups()
        return cls(rule=rule, wildcards=wildcards or "", gpus=_int(options.get("gpus")),
                   cpus_per_task=int(options["cpus-per-task"]), ntasks=_int(options.get("ntasks")),
                   mem_mb=int(options["mem"]), minutes=int(options["t"]), partition=options["p"],
                   account=options["A"], job_name=options["job-name"])


def _int(value: str | None) -> int | None:
    return None if value is None else int(value)


def requests(state: Path) -> list[Request]:
    return [Request.of(entry["options"]) for entry in calls(state, "sbatch")]


def filled_profile(folder: Path) -> Path:
    """A copy of the SLURM profile with its placeholders replaced by :data:`PARTITION` and :data:`ACCOUNT`."""
    text = (PROFILE / "config.yaml").read_text()
    assert 'slurm_partition: "<partition>"' in text and 'slurm_account: "<account>"' in text
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(text.replace("<partition>", PARTITION).replace("<account>", ACCOUNT))
    return folder


def run_on_cluster(workdir: Path, profile: Path, configfile: Path, *extra: str, account: str,
                   run_jobs: bool = True) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``snakemake --profile <profile> --configfile <configfile> [extra]`` in ``workdir`` with the stand-in SLURM
    commands first on PATH (then this environment's ``groprompt``); returns the run and the stand-ins' state
    folder."""
    state = workdir.parent / f"{workdir.name}-slurm"
    env = {**os.environ, **install(state / "bin", state, account, run_jobs)}
    env["PATH"] = os.pathsep.join([str(state / "bin"), str(Path(sys.executable).parent), os.environ["PATH"]])
    command = [*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), "--profile",
               str(profile), "--configfile", str(configfile), *FAST_POLLING, *extra]
    try:
        result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    finally:
        stop_jobs(state)  # none are left after a run that ended normally
    return result, state


# ---------------------------------------------------------------------------------------------- the smoke study
def quick_smoke(path: Path) -> Path:
    """workflows/config/smoke.yaml with 10 pre-training steps per model and one training epoch of two steps (the
    jobs and what they ask for are the smoke study's; only their length changes)."""
    config = yaml.safe_load((CONFIGS / "smoke.yaml").read_text())
    for model in ("segmentor", "grounder"):
        config["pretrain"][model]["steps"] = 10
    config["train"]["settings"] |= {"epochs": 1, "lr_drop_epochs": [], "steps_per_epoch": 2}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass(frozen=True)
class ClusterRun:
    workdir: Path
    state: Path
    result: subprocess.CompletedProcess[str]

    def check_finished(self) -> None:
        """Fail with Snakemake's output and every SLURM and rule log when the run did not exit 0."""
        if self.result.returncode != 0:
            logs = "\n".join(f"--- {path}\n{path.read_text()[-2000:]}" for path in sorted(
                [*(self.workdir / ".snakemake" / "slurm_logs").rglob("*.log"),
                 *(self.workdir / "work").rglob("logs/**/*.log")]))
            pytest.fail(f"snakemake exited {self.result.returncode}:\n{self.result.stderr[-6000:]}\n{logs}")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> ClusterRun:
    root = tmp_path_factory.mktemp("slurm-smoke")
    workdir = root / "run"
    workdir.mkdir()
    result, state = run_on_cluster(workdir, filled_profile(root / "profile"), quick_smoke(root / "smoke.yaml"),
                                   "--config", "device=cuda", "gpus=2", account=ACCOUNT)
    return ClusterRun(workdir, state, result)


def test_the_smoke_study_runs_to_the_end_through_the_plugin(smoke_run: ClusterRun) -> None:
    smoke_run.check_finished()
    for target in SMOKE_RESULTS:
        assert (smoke_run.workdir / target).is_file(), target
    submitted = requests(smoke_run.state)
    # Every job but the two config-file rules (localrules) and the target rule went through sbatch, under the run's
    # one job name, which the plugin's status queries (sacct) ask for.
    runs = len(IN_SMOKE) + trained_runs("smoke")  # every baseline once, each training variant with the smoke's seed
    counts = Counter(request.rule for request in submitted)
    assert {rule: counts[rule] for rule in ("synrvos", "pretrain", "train", "params", "evaluate", "tables")} == {
        "synrvos": 1, "pretrain": 2, "train": trained_runs("smoke"), "params": 1, "evaluate": runs, "tables": 1}
    assert counts["infer_method"] + counts["infer_groprompt"] == runs and counts["figure"] == counts["run_stats"] == 1
    [run_name] = {request.job_name for request in submitted}
    status_queries = calls(smoke_run.state, "sacct")
    assert status_queries and all(entry["args"][-2:] == ["--name", run_name] for entry in status_queries)
    # Each job script started its rule as one job step.
    steps = [entry["args"] for entry in calls(smoke_run.state, "srun")]
    assert sorted(args[args.index("--target-jobs") + 1].split(":")[0] for args in steps) == sorted(
        request.rule for request in submitted)


def test_gpu_jobs_ask_for_their_gpus_cpus_memory_and_time(smoke_run: ClusterRun) -> None:
    smoke_run.check_finished()
    by_rule = {(request.rule, request.wildcards): request for request in requests(smoke_run.state)}
    common = {"cpus_per_task": 1, "ntasks": None, "partition": PARTITION, "account": ACCOUNT}  # config threads: 1
    # Training: the config's gpus, and the profile's set-resources for train.
    assert by_rule["train", "lbox_0"] == Request(rule="train", wildcards="lbox_0", gpus=2, mem_mb=256000,
                                                 minutes=2880, job_name=by_rule["train", "lbox_0"].job_name,
                                                 **common)
    for checkpoint in ("grounder", "segmentor.pt"):  # pre-training: one GPU, the profile's default resources
        request = by_rule["pretrain", checkpoint]
        assert (request.gpus, request.mem_mb, request.minutes) == (1, 32000, 120)
        assert {key: getattr(request, key) for key in common} == common
    # The job step asks srun for the same GPUs (and the stand-in ran it on the CPU).
    steps = {args[args.index("--target-jobs") + 1]: args for args in
             (entry["args"] for entry in calls(smoke_run.state, "srun"))}
    assert "--gpus=2" in steps["train:variant=lbox,seed=0"] and "device=cuda" in steps["train:variant=lbox,seed=0"]
    assert "--gpus=1" in steps["pretrain:checkpoint=grounder"]


def test_cpu_only_jobs_ask_for_no_gpu(smoke_run: ClusterRun) -> None:
    smoke_run.check_finished()
    cpu_only = [request for request in requests(smoke_run.state) if request.rule in CPU_RULES]
    assert {request.rule for request in cpu_only} == set(CPU_RULES)
    for request in cpu_only:
        assert request.gpus is None and request.ntasks == 1, request
        assert (request.cpus_per_task, request.mem_mb, request.minutes) == (1, 32000, 120), request
        assert (request.partition, request.account) == (PARTITION, ACCOUNT)
    steps = [entry["args"] for entry in calls(smoke_run.state, "srun")]
    for args in steps:
        if args[args.index("--target-jobs") + 1].startswith(tuple(f"{rule}:" for rule in CPU_RULES)):
            assert not any(arg.startswith("--gpus") for arg in args), args


# ---------------------------------------------------------------------------------------------- paper_refdavis
@pytest.fixture(scope="module")
def paper_submissions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[dict]]:
    """paper_refdavis with the shipped profile on a cluster that fails every job it is given: the workdir, the
    stand-ins' state and the recorded sbatch calls. The first wave (every job whose inputs exist once the local
    config rules ran) is submitted before the first status check (5 s) finds the failures."""
    root = tmp_path_factory.mktemp("slurm-paper")
    workdir = root / "run"
    workdir.mkdir()
    polling = ["--slurm-init-seconds-before-status-checks", "5"]
    result, state = run_on_cluster(workdir, PROFILE, paper_config("paper_refdavis", root), *polling,
                                   account="<account>", run_jobs=False)
    assert result.returncode != 0  # every job failed: the stand-in ran none
    assert "SLURM status is: 'FAILED'" in result.stderr, result.stderr[-3000:]
    return workdir, state, calls(state, "sbatch")


def test_paper_refdavis_asks_for_eight_gpus_to_train_and_one_to_infer(paper_submissions) -> None:
    _, state, _ = paper_submissions
    submitted = requests(state)
    assert Counter(request.rule for request in submitted) == {"train": trained_runs("paper_refdavis"),
                                                             "infer_method": len(BASELINES), "params": 1}
    placeholders = {"partition": "<partition>", "account": "<account>"}
    for request in submitted:
        assert {key: getattr(request, key) for key in placeholders} == placeholders
        if request.rule == "train":  # gpus: 8, threads: 8, the profile's set-resources for train
            assert (request.gpus, request.cpus_per_task, request.mem_mb, request.minutes) == (8, 8, 256000, 2880)
        elif request.rule == "infer_method":
            assert (request.gpus, request.cpus_per_task, request.mem_mb, request.minutes) == (1, 8, 64000, 600)
        else:  # Table 5's parameter count runs on the meta device: no GPU
            assert (request.gpus, request.ntasks, request.mem_mb, request.minutes) == (None, 1, 32000, 120)
    variants = yaml.safe_load((CONFIGS / "paper_refdavis.yaml").read_text())["train"]["variants"]
    assert {request.wildcards for request in submitted if request.rule == "train"} == {f"{v}_0" for v in variants}


def readme_line(entry: dict, workdir: Path) -> str:
    """A recorded sbatch call as README.md shows it: the run's random job name as ``<run-uuid>``, the working
    directory as /path/to/groprompt, and the --wrap'ed job script (one ``python -m snakemake`` call for the job)
    elided."""
    args = [arg.replace(entry["options"]["job-name"], "<run-uuid>").replace(str(workdir), "/path/to/groprompt")
            for arg in entry["args"] if not arg.startswith("--wrap=")]
    return shlex.join(["sbatch", *args]) + ' --wrap="…"'


def test_readme_shows_the_recorded_sbatch_line_of_a_training_job(paper_submissions) -> None:
    workdir, _, submissions = paper_submissions
    [training] = [entry for entry in submissions if entry["options"]["comment"] == "rule_train_wildcards_lbox_contra_0"]
    assert training["options"]["wrap"].split()[1:3] == ["-m", "snakemake"]
    assert "--target-jobs 'train:variant=lbox_contra,seed=0'" in training["options"]["wrap"]
    line = readme_line(training, workdir)
    readme = " ".join((REPO / "README.md").read_text().replace("\\\n", " ").split())  # joined continuation lines
    assert line in readme, f"README.md should show the recorded line:\n{line}"


def test_the_stand_in_sbatch_answers_as_sbatch_does(tmp_path: Path) -> None:
    """Without --parsable, ``Submitted batch job <id>``; with it, the id alone (what the plugin reads)."""
    env = {**os.environ, **install(tmp_path / "bin", tmp_path, ACCOUNT)}
    outputs = [subprocess.run([str(tmp_path / "bin" / "sbatch"), *flags, "--wrap=true"], env=env, cwd=tmp_path,
                              capture_output=True, text=True, check=True).stdout for flags in ([], ["--parsable"])]
    assert re.fullmatch(r"Submitted batch job (\d+)\n", outputs[0]) and re.fullmatch(r"\d+\n", outputs[1])
