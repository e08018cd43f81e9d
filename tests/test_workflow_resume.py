"""A real workflow job stopped mid-way, then the same `snakemake` command again: the job continues where it stopped
(finished videos or epochs kept, not rewritten) and the tables are byte-identical to the uninterrupted run's.

A job is stopped in each way it is stopped in practice: SIGKILL (the kernel, an out-of-memory kill), SIGTERM (a
cluster scheduler at the job's time limit, `kill`, `scancel`) and SIGINT (Ctrl-C), each of an inference job once its
first video is done and of a training job once its first epoch is. SIGTERM and SIGINT must leave no temporary file
and no embedding-cache lock behind (the step unwinds, :mod:`groprompt.commands._stopping`), and the job says how it
stopped in its log.

The workflow and the study live in a folder whose name has spaces and a non-ASCII letter, so every path of every rule
(the baselines folder under the Snakefile's, the logs, data and models under the working directory) must be quoted.
The study is workflows/config/smoke.yaml made smaller (:func:`workflow_fixtures.reduced_smoke_config`) with two
training epochs, plus a rerun of one job and its downstream jobs per case.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from workflow_fixtures import SNAKEMAKE, cli_environment, copy_workflow, reduced_smoke_config

RESULTS = ("*.csv", "*.md", "*.tex", "figure.png")
"""The result files compared byte for byte (run_stats.* hold wall times)."""
SMOKE = Path("work", "smoke")


@dataclass(frozen=True)
class Job:
    """A workflow job that is stopped: its folder, what it has finished so far and what follows it."""

    folder: Path
    """Its output folder, under the study's."""
    words: tuple[bytes, ...]
    """Words of its `groprompt` process's command line (not its shell's, whose command line is one word)."""
    finished: str
    """Glob, in its folder, of the units it has finished: kept by the stopped run, not redone by the next."""
    downstream: tuple[Path, ...]
    """Folders of the jobs after it, which the rerun redoes."""
    log: Path
    """Its log, under the study's folder."""
    unit: str
    """What :attr:`finished` counts."""


INFER = "grounded-sam"
"""The inference job stopped: a baseline (the jobs whose rerun the old shell guard emptied), the slowest per video."""
JOBS = {
    "infer": Job(SMOKE / "infer" / "synrvos" / "valid" / INFER, (b"infer", INFER.encode()), "done/*.json",
                 (SMOKE / "eval" / "synrvos" / "valid" / INFER,), SMOKE / "logs" / "infer" / "synrvos" / "valid" /
                 f"{INFER}.log", "videos"),
    "train": Job(SMOKE / "train" / "lbox" / "seed0", (b"train", b"seed=0"), "checkpoints/epoch_*.pt",
                 (SMOKE / "infer" / "synrvos" / "valid" / "groprompt" / "lbox" / "seed0",
                  SMOKE / "eval" / "synrvos" / "valid" / "groprompt" / "lbox" / "seed0"),
                 SMOKE / "logs" / "train" / "lbox" / "seed0.log", "epochs"),
}
STOPPED = {signal.SIGKILL: "", signal.SIGTERM: "terminated (SIGTERM)", signal.SIGINT: "interrupted (Ctrl-C)"}
"""How the job's log says it stopped (SIGKILL leaves it no word)."""


class Study:
    """A copy of the workflow in ``folder`` (Snakefile, workflows/, baselines/) run there with a config."""

    def __init__(self, folder: Path) -> None:
        self.folder = copy_workflow(folder)
        config = reduced_smoke_config()
        # An epoch to keep when the second is stopped, and a second long enough (a second or so: tiny models run 14
        # steps a second on one core) to be stopped in.
        config["train"]["settings"] |= {"epochs": 2, "steps_per_epoch": 16}
        (folder / "study.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        self.results = folder / "results" / "smoke"
        self.uninterrupted: dict[str, bytes] = {}

    def start(self) -> subprocess.Popen[str]:
        """The same `snakemake` command every time."""
        command = [*SNAKEMAKE, "--cores", "2", "--snakefile", str(self.folder / "Snakefile"), "--directory",
                   str(self.folder), "--configfile", str(self.folder / "study.yaml")]
        # Ctrl-C's default action, whatever pytest inherited: a shell starts a background job (`cmd &`) with SIGINT
        # ignored, and an ignored signal stays ignored in every child, so the jobs would never see the SIGINT sent.
        return subprocess.Popen(command, cwd=self.folder, env=cli_environment(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def run(self) -> tuple[int, str]:
        process = self.start()
        output, _ = process.communicate(timeout=900)
        return process.returncode, output

    def check(self, code: int, output: str) -> None:
        if code != 0:
            logs = "\n".join(f"--- {p}\n{p.read_text()[-2000:]}" for p in sorted((self.folder / "work").rglob("*.log")))
            pytest.fail(f"snakemake exited {code}:\n{output[-5000:]}\n{logs}")

    def result_bytes(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for pattern in RESULTS for p in self.results.glob(pattern)
                if not p.name.startswith("run_stats")}

    def job_pid(self, job: Job) -> int | None:
        """The `groprompt` process of ``job`` in this study (not its shell), if running."""
        for entry in Path("/proc").iterdir():
            try:
                words = (entry / "cmdline").read_bytes().split(b"\0")
                if all(word in words for word in job.words) and os.readlink(entry / "cwd") == str(self.folder):
                    return int(entry.name)
            except (OSError, ValueError):
                continue
        return None

    def forget(self, job: Job) -> None:
        """Delete the job's outputs and everything after it, so that the next run does the job again from nothing
        (Snakemake does not redo a job whose output is merely missing when the final targets exist)."""
        for folder in (job.folder, *job.downstream):
            shutil.rmtree(self.folder / folder)
        shutil.rmtree(self.results)
        (self.folder / SMOKE / "study.done").unlink()


def _unit_files(folder: Path, job: Job, units: list[str]) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of every file of the finished ``units`` of ``job`` (:attr:`Job.finished` names): an inference
    job's videos (by done marker), a training job's epoch checkpoints."""
    files = []
    for unit in units:
        files.append(folder / unit)
        if job.unit == "videos":
            video = Path(unit).stem
            files += [folder / "boxes" / f"{video}.csv", folder / "masks" / f"{video}.json",
                      *sorted(p for p in (folder / "Annotations" / video).rglob("*") if p.is_file())]
    return {str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in files}


def _left_behind(folder: Path) -> list[str]:
    """Temporary files of atomic writes and embedding-cache locks under ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and (".tmp" in p.name or p.suffix == ".lock"))


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    study = Study(tmp_path_factory.mktemp("resume") / "my study é")
    study.check(*study.run())
    study.uninterrupted = study.result_bytes()
    assert {"table6.csv", "table6.md", "table5.csv", "figure.png"} <= set(study.uninterrupted)
    return study


@pytest.mark.parametrize(("name", "stop"), [("infer", signal.SIGKILL), ("infer", signal.SIGTERM),
                                            ("infer", signal.SIGINT), ("train", signal.SIGTERM),
                                            ("train", signal.SIGINT)],
                         ids=lambda value: getattr(value, "name", value))
def test_a_stopped_job_continues_and_gives_the_same_tables(study: Study, name: str, stop: signal.Signals) -> None:
    job = JOBS[name]
    folder = study.folder / job.folder
    units = len(list(folder.glob(job.finished)))
    assert units >= 2
    study.forget(job)

    process = study.start()
    deadline = time.monotonic() + 600
    while not any(folder.glob(job.finished)):  # the job runs again and is stopped once its first unit is done
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0][-5000:]
        time.sleep(0.02)
    pid = study.job_pid(job)
    assert pid is not None
    os.kill(pid, stop)
    output, _ = process.communicate(timeout=300)
    assert process.returncode != 0, output[-3000:]
    units_kept = sorted(str(p.relative_to(folder)) for p in folder.glob(job.finished))
    kept = _unit_files(folder, job, units_kept)
    finished = len(units_kept)
    assert 1 <= finished < units, f"{finished} of {units} {job.unit} finished when the job was stopped"
    assert not (folder / ("train_summary.json" if name == "train" else "run_stats.json")).exists()
    log = (study.folder / job.log).read_text()
    assert STOPPED[stop] in log, log[-3000:]
    if stop != signal.SIGKILL:
        assert _left_behind(folder) == [] and _left_behind(study.folder / SMOKE / "cache") == []
        assert "Traceback" not in log, log[-3000:]

    study.check(*study.run())  # the same command again
    assert _unit_files(folder, job, units_kept) == kept
    log = (study.folder / job.log).read_text()
    assert "starting over" not in log
    if name == "infer":
        assert f"{units - finished} videos run, {finished} already done" in log
    resumed = study.result_bytes()
    assert set(resumed) == set(study.uninterrupted)
    assert [name for name in study.uninterrupted if resumed[name] != study.uninterrupted[name]] == []
