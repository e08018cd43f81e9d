"""A real workflow job killed mid-way, then the same `snakemake` command again: the job continues where it stopped
(finished videos kept, not rewritten) and the tables are byte-identical to the uninterrupted run's. The workflow
and the study live in a folder whose name has spaces and a non-ASCII letter, so every path of every rule (the
baselines folder under the Snakefile's, the logs, data and models under the working directory) must be quoted.

The study is workflows/config/smoke.yaml made smaller (:func:`workflow_fixtures.reduced_smoke_config`), plus a rerun
of one inference job and its downstream jobs (twice).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from workflow_fixtures import SNAKEMAKE, cli_environment, copy_workflow, reduced_smoke_config

KILLED = "grounded-sam"
"""The job killed: a baseline (the jobs whose rerun the old shell guard emptied), the slowest per video."""
RESULTS = ("*.csv", "*.md", "*.tex", "figure.png")
"""The result files compared byte for byte (run_stats.* hold wall times)."""


class Study:
    """A copy of the workflow in ``folder`` (Snakefile, workflows/, baselines/) run there with a config."""

    def __init__(self, folder: Path) -> None:
        self.folder = copy_workflow(folder)
        (folder / "study.yaml").write_text(yaml.safe_dump(reduced_smoke_config(), sort_keys=False))
        self.infer = folder / "work" / "smoke" / "infer" / "synrvos" / "valid" / KILLED
        self.results = folder / "results" / "smoke"

    def start(self) -> subprocess.Popen[str]:
        """The same `snakemake` command every time."""
        command = [*SNAKEMAKE, "--cores", "2", "--snakefile", str(self.folder / "Snakefile"), "--directory",
                   str(self.folder), "--configfile", str(self.folder / "study.yaml")]
        return subprocess.Popen(command, cwd=self.folder, env=cli_environment(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

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

    def job_pid(self) -> int | None:
        """The `groprompt infer --method KILLED` process of this study (not its shell), if running."""
        for entry in Path("/proc").iterdir():
            try:
                words = (entry / "cmdline").read_bytes().split(b"\0")
                if b"infer" in words and KILLED.encode() in words and os.readlink(entry / "cwd") == str(self.folder):
                    return int(entry.name)
            except (OSError, ValueError):
                continue
        return None


def _video_files(infer: Path, video: str) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of every file of one finished video."""
    files = [infer / "boxes" / f"{video}.csv", infer / "masks" / f"{video}.json", infer / "done" / f"{video}.json",
             *sorted(p for p in (infer / "Annotations" / video).rglob("*") if p.is_file())]
    return {str(p.relative_to(infer)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in files}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    study = Study(tmp_path_factory.mktemp("resume") / "my study é")
    study.check(*study.run())
    return study


def test_a_killed_inference_job_continues_and_gives_the_same_tables(study: Study) -> None:
    uninterrupted = study.result_bytes()
    assert {"table6.csv", "table6.md", "table5.csv", "figure.png"} <= set(uninterrupted)
    videos = sorted(p.stem for p in (study.infer / "done").glob("*.json"))
    assert len(videos) >= 3
    # The job runs again from nothing (with what follows it: Snakemake does not redo a job whose output is merely
    # missing when the final targets exist) ...
    shutil.rmtree(study.infer)
    shutil.rmtree(study.folder / "work" / "smoke" / "eval" / "synrvos" / "valid" / KILLED)
    shutil.rmtree(study.results)
    (study.folder / "work" / "smoke" / "study.done").unlink()

    process = study.start()
    deadline = time.monotonic() + 600
    while not any((study.infer / "done").glob("*.json")):  # ... and is killed once its first video is done
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0][-5000:]
        time.sleep(0.02)
    pid = study.job_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    output, _ = process.communicate(timeout=300)
    assert process.returncode != 0, output[-3000:]
    finished = sorted(p.stem for p in (study.infer / "done").glob("*.json"))
    assert 1 <= len(finished) < len(videos) and not (study.infer / "run_stats.json").exists()
    kept = {video: _video_files(study.infer, video) for video in finished}

    study.check(*study.run())  # the same command again
    assert {video: _video_files(study.infer, video) for video in finished} == kept
    log = (study.folder / "work" / "smoke" / "logs" / "infer" / "synrvos" / "valid" / f"{KILLED}.log").read_text()
    assert f"{len(videos) - len(finished)} videos run, {len(finished)} already done" in log
    assert "starting over" not in log
    resumed = study.result_bytes()
    assert set(resumed) == set(uninterrupted)
    assert [name for name in uninterrupted if resumed[name] != uninterrupted[name]] == []
