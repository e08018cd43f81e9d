"""Helpers of the workflow tests: run Snakemake on the repository's Snakefile in a temporary working directory
(so no test touches work/, results/ or .snakemake/ of the checkout), and write paper configs with stand-in paths."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "workflows" / "config"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def dry_run(workdir: Path, configfile: Path | None = None, snakefile: Path = REPO / "Snakefile",
            *extra: str) -> subprocess.CompletedProcess[str]:
    """``snakemake -n -p`` of ``snakefile`` with ``workdir`` as working directory; output captured, never raises."""
    command = [*SNAKEMAKE, "-n", "-p", "--cores", "1", "--snakefile", str(snakefile), "--directory", str(workdir),
               *extra]
    if configfile is not None:
        command += ["--configfile", str(configfile)]
    return subprocess.run(command, check=False, capture_output=True, text=True, cwd=workdir, timeout=120)


def job_counts(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """The ``job  count`` table of a dry run, as {rule: jobs} (without the total); fails on a failed run."""
    assert result.returncode == 0, result.stdout + result.stderr
    rows = re.findall(r"^(\w+)\s+(\d+)$", result.stdout + result.stderr, flags=re.MULTILINE)
    return {rule: int(count) for rule, count in rows if rule != "total"}


def discovered(baselines: Path = REPO / "baselines") -> list[dict]:
    """``groprompt methods --json`` of ``baselines``: what the workflow turns into inference jobs."""
    listing = subprocess.run([sys.executable, "-m", "groprompt.cli", "methods", "--json", "--baselines-dir",
                              str(baselines)], check=True, capture_output=True, text=True).stdout
    return json.loads(listing)["methods"]


def paper_config(name: str, tmp_path: Path) -> Path:
    """``workflows/config/<name>.yaml`` with every dataset root and checkpoint replaced by an empty stand-in
    in ``tmp_path`` (folders for roots and the tokenizer, files for checkpoints); returns the new config's path."""
    config = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    for key, entry in config["datasets"].items():
        entry["root"] = str(_make(tmp_path / "data" / key, folder=True))
    config["checkpoints"] = {key: str(_make(tmp_path / "models" / Path(path).name, folder=key == "tokenizer"))
                             for key, path in config["checkpoints"].items()}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _make(path: Path, folder: bool) -> Path:
    if folder:
        path.mkdir(parents=True, exist_ok=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    return path


def run_study(workdir: Path, configfile: Path, cores: int = 2,
              timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """A real ``snakemake --cores N`` run of the repository's Snakefile on ``configfile`` in ``workdir``; output
    captured, never raises on failure. The ``groprompt`` CLI of this interpreter's environment is put on PATH
    (every rule calls it), so the run works without an activated environment."""
    command = [*SNAKEMAKE, "--cores", str(cores), "--snakefile", str(REPO / "Snakefile"), "--directory",
               str(workdir), "--configfile", str(configfile)]
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    return subprocess.run(command, check=False, capture_output=True, text=True, cwd=workdir, env=env,
                          timeout=timeout)
