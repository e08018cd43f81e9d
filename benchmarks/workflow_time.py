"""Wall time and peak memory of a whole study, per stage and in total, and the resumption check.

    python benchmarks/workflow_time.py                      # the embedded default study (target: <= 15 min, 4 GiB)
    python benchmarks/workflow_time.py --config smoke       # CI's study (target: <= 2 min)
    python benchmarks/workflow_time.py --config smoke --interrupt

The study runs with `snakemake --cores N` on the repository's Snakefile in a temporary working directory (so
work/ and results/ of the checkout are untouched). While it runs, the resident memory of the whole process tree
(Snakemake and every job running at once) is sampled twice a second: that sum is the machine's peak, which the
per-job records cannot give when jobs overlap. Per stage, the figures are Snakemake's benchmark records as merged
into results/<name>/run_stats.json.

`--interrupt` is the resumption experiment: a second run of the same study is interrupted twice, once with
Ctrl-C (SIGINT) as soon as a training run has written its first epoch checkpoint, once killed outright (SIGKILL,
as a lost machine) as soon as a GroPrompt inference run has finished a video, and each time restarted with the same
command (after `--unlock`, which a killed Snakemake needs); its tables and figure must then be byte-identical to
the uninterrupted run's.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "workflows" / "config"


class TreeMemory(threading.Thread):
    """Samples the summed resident memory of a process and all its descendants; ``peak_mb`` is the largest sum."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_mb = pid, interval, 0.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            try:
                root = psutil.Process(self.pid)
                processes = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = 0
            for process in processes:
                try:
                    total += process.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
            self.peak_mb = max(self.peak_mb, total / 2**20)


def snakemake(workdir: Path, config: Path, cores: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
            "--configfile", str(config), "--cores", cores, "--rerun-incomplete", *extra]


def run_study(workdir: Path, config: Path, cores: str, stop_when: Callable[[], bool] | None = None,
              stop_signal: int = signal.SIGINT) -> tuple[int, float, float]:
    """Run the study; with ``stop_when``, send ``stop_signal`` to its process group once it turns true.
    Returns (exit status, wall seconds, peak tree memory MiB)."""
    started = time.perf_counter()
    with open(workdir / "snakemake.log", "a") as log:
        process = subprocess.Popen(snakemake(workdir, config, cores), stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        memory = TreeMemory(process.pid)
        memory.start()
        while process.poll() is None:
            if stop_when is not None and stop_when():
                os.killpg(process.pid, stop_signal)
                stop_when = None
            time.sleep(0.2)
    memory.done.set()
    return process.returncode, time.perf_counter() - started, memory.peak_mb


def stage_table(workdir: Path, name: str) -> str:
    stats = json.loads((workdir / "results" / name / "run_stats.json").read_text())
    lines = [f"{'stage':<52} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9}"]
    for stage, record in stats["stages"].items():
        lines.append(f"{stage:<52} {record['wall_seconds']:>8.1f} {record['cpu_seconds']:>8.1f} "
                     f"{record['peak_rss_mb']:>9.0f}")
    totals = stats["totals"]
    lines.append(f"{'sum over stages (overcounts parallel stages)':<52} {totals['wall_seconds']:>8.1f} "
                 f"{totals['cpu_seconds']:>8.1f} {totals['peak_rss_mb']:>9.0f}")
    embeddings = stats.get("sam_embeddings")
    if embeddings:
        lines.append(f"SAM embeddings: {json.dumps(embeddings)}")
    return "\n".join(lines)


def exists(pattern_root: Path, pattern: str) -> Callable[[], bool]:
    return lambda: any(pattern_root.glob(pattern))


def compare_outputs(first: Path, second: Path) -> list[str]:
    """Files of results/<name>/ that differ between two runs (run_stats.* hold timings and are skipped)."""
    names = sorted(path.relative_to(first) for path in first.rglob("*") if path.is_file())
    return [str(name) for name in names if not name.name.startswith("run_stats")
            and not filecmp.cmp(first / name, second / name, shallow=False)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="default", help="a config of workflows/config (name) or a YAML path")
    parser.add_argument("--cores", default="all", help="snakemake --cores (default: all)")
    parser.add_argument("--interrupt", action="store_true", help="also run the resumption experiment")
    parser.add_argument("--keep", action="store_true", help="keep the temporary working directories")
    args = parser.parse_args()
    # A shell starts background jobs with SIGINT ignored, and children inherit an ignored signal: handle it here,
    # so that the studies started below get the default and a Ctrl-C reaches them.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    config = Path(args.config) if args.config.endswith((".yaml", ".yml")) else CONFIGS / f"{args.config}.yaml"
    import yaml

    name = yaml.safe_load(config.read_text())["name"]
    root = Path(tempfile.mkdtemp(prefix="groprompt-workflow-"))
    try:
        plain = root / "uninterrupted"
        plain.mkdir()
        code, wall, peak = run_study(plain, config, args.cores)
        if code != 0:
            print(f"the study failed (exit {code}); see {plain / 'snakemake.log'}")
            args.keep = True
            return 1
        print(stage_table(plain, name))
        print(f"\nstudy {name}: {wall:.1f} s wall, peak memory of all processes together {peak:.0f} MiB "
              f"({os.cpu_count()} CPUs, --cores {args.cores})")
        if not args.interrupt:
            return 0

        resumed = root / "interrupted"
        resumed.mkdir()
        work = resumed / "work" / name
        stops = [("Ctrl-C during training", signal.SIGINT, exists(work, "train/*/seed*/checkpoints/epoch_*.pt")),
                 ("kill -9 during inference", signal.SIGKILL, exists(work, "infer/*/*/groprompt/*/seed*/done/*.json"))]
        for what, stop_signal, condition in stops:
            code, wall, _ = run_study(resumed, config, args.cores, condition, stop_signal)
            print(f"{what}: stopped after {wall:.1f} s (exit {code})")
            subprocess.run(snakemake(resumed, config, args.cores, "--unlock"), capture_output=True, check=True)
        code, wall, _ = run_study(resumed, config, args.cores)
        print(f"rerun of the same command: {wall:.1f} s (exit {code})")
        differing = compare_outputs(plain / "results" / name, resumed / "results" / name)
        print("tables and figure byte-identical to the uninterrupted run" if code == 0 and not differing
              else f"DIFFERENT after resuming: {differing or 'the rerun failed'}")
        return 0 if code == 0 and not differing else 1
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
