"""Run statistics: ``groprompt --stats`` records a step however it ends; ``run-stats`` merges by hand-checked sums."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from groprompt.cli import main
from groprompt.errors import GroPromptError
from groprompt.reporting.run_stats import STEP_FORMAT
from groprompt.reporting.study_stats import merge_run_stats, read_stage

TIME_V = """\
\tCommand being timed: "python train.py --config a: b"
\tUser time (seconds): 10.50
\tSystem time (seconds): 1.25
\tPercent of CPU this job got: 18%
\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:02.50
\tMaximum resident set size (kbytes): 204800
\tExit status: 0
"""


def infer_stats(path: Path, method: str, split: str, passes: int, distinct: int, memory: int, disk: int,
                precision: str = "fp32") -> Path:
    path.write_text(json.dumps({
        "method": method, "options": {}, "precision": precision, "dataset": "synrvos", "split": split,
        "segmentor": "tiny@abc",
        "videos": 2, "videos_run": 2, "videos_skipped": 0, "frames": 10, "expressions": 3, "expression_frames": 15,
        "seconds": 2.0, "method_seconds": 1.0, "segmentor_seconds": 0.5,
        "segmentor_cache": {"encoder_passes": passes, "memory_hits": memory, "disk_hits": disk,
                            "distinct_frames": distinct},
    }))
    return path


def test_stats_option_records_success_and_failure(tmp_path, capsys):
    stats = tmp_path / "stage.json"
    code = main(["--stats", str(stats), "tables", "--config-name", "x", "--dataset-kind", "synrvos",
                 "--rows", f"a={tmp_path / 'missing'}", "--out", str(tmp_path / "out")])
    assert code == 2
    record = json.loads(stats.read_text())
    assert record["format"] == STEP_FORMAT and record["step"] == "tables" and record["exit_code"] == 2
    assert record["argv"][:3] == ["--stats", str(stats), "tables"]
    assert record["wall_seconds"] > 0 and record["peak_rss_mb"] > 10 and record["peak_gpu_memory_mb"] is None
    infer = infer_stats(tmp_path / "run_stats.json", "gt-box-sam", "valid", 1, 1, 0, 0)
    code = main(["--stats", str(stats), "run-stats", "--config-name", "x", "--infer", f"gt={infer}",
                 "--out", str(tmp_path / "merged.json")])
    assert code == 0 and json.loads(stats.read_text())["exit_code"] == 0
    capsys.readouterr()


def test_a_steps_peak_memory_is_its_own_not_its_parents():
    """Linux carries getrusage's peak over fork and exec; a step started by a large process reports its own."""
    held = bytearray(600 * 2**20)
    held[::4096] = b"x" * len(held[::4096])  # resident, not only reserved
    code = "from groprompt.reporting.run_stats import peak_rss_mb; print(peak_rss_mb()[0])"
    child = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert 5 < child < 300
    del held


def test_time_verbose_is_parsed(tmp_path):
    path = tmp_path / "train.time"
    path.write_text(TIME_V)
    record = read_stage(path)
    assert record["wall_seconds"] == pytest.approx(62.5)
    assert record["cpu_seconds"] == pytest.approx(11.75)
    assert record["peak_rss_mb"] == pytest.approx(200)
    assert record["command"] == "python train.py --config a: b" and record["exit_code"] == 0
    path.write_text("Elapsed (wall clock) time (h:mm:ss or m:ss): 1:00:00\n")
    with pytest.raises(GroPromptError, match="Maximum resident set size"):
        read_stage(path)


def test_merge_by_hand(tmp_path, capsys):
    stage = tmp_path / "infer.json"
    stage.write_text(json.dumps({"format": STEP_FORMAT, "step": "infer", "wall_seconds": 3.0, "cpu_seconds": 5.0,
                                 "peak_rss_mb": 300.0, "peak_gpu_memory_mb": 1024.0, "exit_code": 0}))
    (tmp_path / "train.time").write_text(TIME_V.replace("Exit status: 0", "Exit status: 1"))
    runs = {
        "groprompt": infer_stats(tmp_path / "a.json", "groprompt", "valid", passes=10, distinct=10, memory=20, disk=0),
        "grounded-sam": infer_stats(tmp_path / "b.json", "grounded-sam", "valid", passes=0, distinct=10, memory=20,
                                    disk=10, precision="bf16"),
        "train-frames": infer_stats(tmp_path / "c.json", "gt-box-sam", "train", passes=5, distinct=4, memory=0,
                                    disk=0),
    }
    merged = merge_run_stats({"infer": stage, "train": tmp_path / "train.time"}, runs)
    assert merged["totals"]["wall_seconds"] == pytest.approx(3.0 + 62.5)
    assert merged["totals"]["cpu_seconds"] == pytest.approx(5.0 + 11.75)
    assert merged["totals"]["peak_rss_mb"] == pytest.approx(300)
    assert merged["totals"]["peak_gpu_memory_mb"] == pytest.approx(1024)
    assert merged["totals"]["failed_stages"] == ["train"]
    sam = merged["sam_embeddings"]
    # valid: both runs saw the same 10 frames (max, not sum); train: 4 frames embedded 5 times.
    assert sam["distinct_frames_by_split"] == {"synrvos/valid": 10, "synrvos/train": 4}
    assert (sam["encoder_passes"], sam["distinct_frames"]) == (15, 14)
    assert sam["passes_per_distinct_frame"] == pytest.approx(15 / 14)
    assert sam["cache_hits"] == {"memory": 40, "disk": 10}
    assert merged["inference"]["grounded-sam"]["disk_hits"] == 10
    assert merged["inference"]["grounded-sam"]["precision"] == "bf16" and merged["precisions"] == ["bf16", "fp32"]

    out = tmp_path / "results" / "toy" / "run_stats.json"
    code = main(["run-stats", "--config-name", "toy", "--stage", f"infer={stage}",
                 "--infer", *(f"{name}={path}" for name, path in runs.items()), "--out", str(out)])
    assert code == 0
    assert json.loads(out.read_text())["sam_embeddings"]["encoder_passes"] == 15
    markdown = out.with_suffix(".md").read_text()
    assert "15 passes for 14 distinct frames (1.07 per frame; target 1.00)" in markdown
    assert "models ran in bf16, fp32 (--precision)" in markdown and "| grounded-sam | grounded-sam | bf16 |" in markdown
    capsys.readouterr()


@pytest.mark.parametrize("args, message", [
    ([], "nothing to merge"),
    (["--stage", "bad"], "malformed --stage"),
    (["--infer", "a={missing}"], "run_stats.json is missing"),
])
def test_bad_inputs_are_named(tmp_path, capsys, args, message):
    args = [a.format(missing=tmp_path / "nope.json") for a in args]
    code = main(["run-stats", "--config-name", "toy", *args, "--out", str(tmp_path / "r.json")])
    assert code == 2 and message in capsys.readouterr().err


def test_snakemake_benchmarks_are_read(tmp_path):
    tsv = tmp_path / "train.tsv"
    tsv.write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
                   "12.3456\t0:00:12\t150.25\t300.10\t140.00\t145.00\t0.01\t0.50\t95.00\t11.80\n"
                   "14.0000\t0:00:14\tNA\t-\t-\t-\t-\t-\t-\t13.00\n")
    record = read_stage(tsv)  # two repeats: the largest of each figure
    assert (record["wall_seconds"], record["peak_rss_mb"], record["cpu_seconds"]) == pytest.approx((14, 150.25, 13))
    jsonl = tmp_path / "infer.jsonl"
    jsonl.write_text(json.dumps({"s": 2.5, "max_rss": 80.0, "cpu_time": 2.0}) + "\n")
    assert read_stage(jsonl)["peak_rss_mb"] == pytest.approx(80)
    (tmp_path / "other.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(GroPromptError, match="neither a groprompt --stats record"):
        read_stage(tmp_path / "other.json")
