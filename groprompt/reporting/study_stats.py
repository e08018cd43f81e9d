"""Run statistics of a study: wall time and peak memory per stage, SAM encoder passes against distinct frames, the
precision the models ran in.

Inputs:

* a *stage file* per workflow rule: the JSON that ``groprompt --stats FILE <step> ...`` writes
  (:mod:`groprompt.reporting.run_stats`, format :data:`STEP_FORMAT`), a Snakemake ``benchmark:`` record (TSV, or
  JSON lines; with repeats, the largest wall time and memory), or the text that GNU ``/usr/bin/time -v`` prints;
* the ``run_stats.json`` of each ``groprompt infer`` run (:func:`groprompt.inference.run_inference`).

:func:`merge_run_stats` merges them into ``results/<name>/run_stats.json`` (format :data:`MERGED_FORMAT`):
per stage wall and CPU seconds, peak resident memory and peak GPU memory; totals (wall and CPU summed over
stages, which overcounts elapsed time where stages ran in parallel; peaks are maxima); per inference run its
precision, frames, seconds and embedding-cache counters, and the precisions of all runs; and the SAM image-encoder
passes of all runs against the distinct frames embedded. The design target is one encoder pass per distinct frame
(docs/method_spec.md §6): every method and expression shares a frame's embedding through the cache. Distinct
frames are counted per (dataset, split) as the largest count of any run on it (runs on the same split look up the
same frames, and a run's counter cannot see another process's lookups), so the ratio is exact when some run on
each split embedded all of its frames.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from groprompt.errors import GroPromptError
from groprompt.files import atomic_write_text
from groprompt.reporting.run_stats import STEP_FORMAT

if TYPE_CHECKING:
    from groprompt.reporting.tables import Table

MERGED_FORMAT = "groprompt-run-stats/1"


_TIME_FIELDS = {
    "Elapsed (wall clock) time (h:mm:ss or m:ss)": "wall_seconds",
    "User time (seconds)": "user",
    "System time (seconds)": "system",
    "Maximum resident set size (kbytes)": "peak_rss_kb",
    "Exit status": "exit_code",
    "Command being timed": "command",
}


def parse_time_verbose(text: str, path: Path) -> dict[str, Any]:
    """A stage record from GNU ``/usr/bin/time -v`` output; a named error if its fields are missing."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.strip().partition(": ")
        if sep and name in _TIME_FIELDS:
            found[_TIME_FIELDS[name]] = value.strip()
    missing = [name for name, key in _TIME_FIELDS.items() if key != "command" and key not in found]
    if missing:
        raise GroPromptError(f"stage file is neither a groprompt --stats JSON nor /usr/bin/time -v output "
                             f"(missing: {', '.join(missing)})", path=path,
                             fix="write it with groprompt --stats FILE <step>, or /usr/bin/time -v -o FILE")
    wall = 0.0
    for part in found["wall_seconds"].split(":"):  # h:mm:ss or m:ss.ss
        wall = wall * 60 + float(part)
    return {"command": found.get("command", "").strip('"'), "wall_seconds": wall,
            "cpu_seconds": float(found["user"]) + float(found["system"]),
            "peak_rss_mb": int(found["peak_rss_kb"]) / 1024, "peak_gpu_memory_mb": None,
            "exit_code": int(found["exit_code"])}


def _benchmark_number(value: object) -> float | None:
    """A Snakemake benchmark field as a float; None for its "NA" / "-" (not measured)."""
    try:
        return float(str(value))
    except ValueError:
        return None


def parse_snakemake_benchmark(records: Sequence[Mapping[str, object]], path: Path) -> dict[str, Any]:
    """A stage record from the rows of a Snakemake benchmark file (``s`` seconds, ``max_rss`` MB, ``cpu_time``
    seconds); Snakemake writes one only for a job that succeeded."""
    if not records or any("s" not in row or "max_rss" not in row for row in records):
        raise GroPromptError("Snakemake benchmark file has no rows with the columns s and max_rss", path=path,
                             fix="pass the file a rule's benchmark: directive wrote")

    def largest(name: str) -> float | None:
        values = [v for v in (_benchmark_number(row.get(name)) for row in records) if v is not None]
        return max(values, default=None)

    return {"wall_seconds": largest("s") or 0.0, "cpu_seconds": largest("cpu_time") or 0.0,
            "peak_rss_mb": largest("max_rss") or 0.0, "peak_gpu_memory_mb": None, "exit_code": 0}


def read_stage(path: str | Path) -> dict[str, Any]:
    """A stage file (module docstring) as a record with at least ``wall_seconds``, ``cpu_seconds``,
    ``peak_rss_mb``, ``peak_gpu_memory_mb`` and ``exit_code``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise GroPromptError(f"stage file cannot be read ({error})", path=path,
                             fix="check that the stage ran with groprompt --stats FILE") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and lines[0].split("\t")[0] == "s":
        header = lines[0].split("\t")
        return parse_snakemake_benchmark([dict(zip(header, line.split("\t"), strict=False)) for line in lines[1:]],
                                         path)
    if not text.lstrip().startswith("{"):
        return parse_time_verbose(text, path)
    try:
        record = json.loads(text)
    except ValueError:
        record = None  # several lines: a Snakemake JSON-lines benchmark
    if isinstance(record, dict) and record.get("format") == STEP_FORMAT:
        return record
    try:
        rows = [json.loads(line) for line in lines]
    except ValueError as error:
        raise GroPromptError(f"stage file is malformed ({error})", path=path,
                             fix="rerun the stage with groprompt --stats FILE") from None
    if not all(isinstance(row, dict) and "s" in row for row in rows):
        raise GroPromptError(f"stage file is JSON but neither a groprompt --stats record ({STEP_FORMAT}) nor a "
                             "Snakemake benchmark", path=path, fix="rerun the stage with groprompt --stats FILE")
    return parse_snakemake_benchmark(rows, path)


_INFER_KEYS = ("method", "precision", "dataset", "split", "videos_run", "videos_skipped", "frames",
               "expression_frames", "seconds", "method_seconds", "segmentor_seconds")
_CACHE_KEYS = ("encoder_passes", "memory_hits", "disk_hits", "distinct_frames")


def read_inference_stats(path: str | Path) -> dict[str, Any]:
    """The fields of an infer ``run_stats.json`` that the merge keeps (cache counters 0 for mask methods)."""
    path = Path(path)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        record = {key: content[key] for key in _INFER_KEYS}
        cache = content.get("segmentor_cache") or {}
        record |= {key: int(cache.get(key, 0)) for key in _CACHE_KEYS}
    except FileNotFoundError:
        raise GroPromptError("inference run_stats.json is missing", path=path,
                             fix="pass the run_stats.json in a groprompt infer --out folder") from None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise GroPromptError(f"inference run_stats.json is malformed ({type(error).__name__}: {error})", path=path,
                             fix="rerun groprompt infer into that folder") from None
    return record


def merge_run_stats(stages: Mapping[str, str | Path], inference: Mapping[str, str | Path]) -> dict[str, Any]:
    """Merge stage files and infer ``run_stats.json`` files, each under a name, into one record (module docs)."""
    stage_records = {name: read_stage(path) | {"source": str(path)} for name, path in stages.items()}
    runs = {name: read_inference_stats(path) | {"source": str(path)} for name, path in inference.items()}
    gpu = [r["peak_gpu_memory_mb"] for r in stage_records.values() if r.get("peak_gpu_memory_mb") is not None]
    totals = {
        "wall_seconds": sum(r["wall_seconds"] for r in stage_records.values()),
        "cpu_seconds": sum(r["cpu_seconds"] for r in stage_records.values()),
        "peak_rss_mb": max((r["peak_rss_mb"] for r in stage_records.values()), default=None),
        "peak_gpu_memory_mb": max(gpu, default=None),
        "failed_stages": sorted(name for name, r in stage_records.items() if r["exit_code"] != 0),
    }
    distinct: dict[str, int] = {}
    for run in runs.values():
        split = f"{run['dataset']}/{run['split']}"
        distinct[split] = max(distinct.get(split, 0), run["distinct_frames"])
    passes = sum(run["encoder_passes"] for run in runs.values())
    frames = sum(distinct.values())
    sam = {
        "encoder_passes": passes,
        "distinct_frames": frames,
        "distinct_frames_by_split": distinct,
        "passes_per_distinct_frame": passes / frames if frames else None,
        "target_passes_per_distinct_frame": 1.0,
        "cache_hits": {"memory": sum(r["memory_hits"] for r in runs.values()),
                       "disk": sum(r["disk_hits"] for r in runs.values())},
    }
    return {"format": MERGED_FORMAT, "stages": stage_records, "totals": totals, "inference": runs,
            "precisions": sorted({run["precision"] for run in runs.values()}), "sam_embeddings": sam}


def run_stats_tables(merged: Mapping[str, Any], study: str) -> list[Table]:
    """The merged statistics as two tables (stages; inference runs) for ``run_stats.md``."""
    from groprompt.reporting.tables import Column, Table

    stages = Table("run_stats_stages", "Run statistics: stages", f"Wall time, CPU time and peak memory per stage of "
                   f"the study {study} (peak GPU memory only for steps that used CUDA).",
                   [Column("Stage"), Column("Wall (s)", "number"), Column("CPU (s)", "number"),
                    Column("Peak RSS (MiB)", "number", 0), Column("Peak GPU (MiB)", "number", 0),
                    Column("Exit", "number", 0)],
                   [{"Stage": name, "Wall (s)": r["wall_seconds"], "CPU (s)": r["cpu_seconds"],
                     "Peak RSS (MiB)": r["peak_rss_mb"], "Peak GPU (MiB)": r.get("peak_gpu_memory_mb"),
                     "Exit": r["exit_code"]} for name, r in merged["stages"].items()])
    sam = merged["sam_embeddings"]
    ratio = sam["passes_per_distinct_frame"]
    note = (f"SAM image encoder: {sam['encoder_passes']} passes for {sam['distinct_frames']} distinct frames "
            f"({'n/a' if ratio is None else f'{ratio:.2f}'} per frame; target 1.00); cache hits "
            f"{sam['cache_hits']['memory']} in memory, {sam['cache_hits']['disk']} on disk.")
    precisions = ", ".join(merged["precisions"]) or "none"
    runs = Table("run_stats_inference", "Run statistics: inference",
                 f"groprompt infer runs of the study {study}; models ran in {precisions} (--precision).",
                 [Column("Run"), Column("Method"), Column("Precision"), Column("Split"), Column("Frames", "number", 0),
                  Column("Seconds", "number"), Column("Encoder passes", "number", 0),
                  Column("Distinct frames", "number", 0), Column("Memory hits", "number", 0),
                  Column("Disk hits", "number", 0)],
                 [{"Run": name, "Method": r["method"], "Precision": r["precision"],
                   "Split": f"{r['dataset']}/{r['split']}", "Frames": r["frames"],
                   "Seconds": r["seconds"], "Encoder passes": r["encoder_passes"],
                   "Distinct frames": r["distinct_frames"], "Memory hits": r["memory_hits"],
                   "Disk hits": r["disk_hits"]} for name, r in merged["inference"].items()], [note])
    return [stages, runs]


def write_run_stats(merged: Mapping[str, Any], out: str | Path, study: str) -> list[Path]:
    """Write ``out`` (JSON) and, beside it, the same as Markdown (``.md``); returns both paths."""
    from groprompt.reporting.tables import to_markdown

    out = Path(out)
    atomic_write_text(out, json.dumps(merged, indent=1) + "\n")
    markdown = out.with_suffix(".md")
    atomic_write_text(markdown, "\n".join(to_markdown(table) for table in run_stats_tables(merged, study)))
    return [out, markdown]


def parse_named(specs: Sequence[str], option: str) -> dict[str, Path]:
    """``NAME=FILE`` strings -> ``{name: path}``; a named error for a malformed or repeated one."""
    named: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path or not re.fullmatch(r"[\w.+/:-]+", name):
            raise GroPromptError(f"malformed {option} {spec!r}",
                                 fix=f"write {option} NAME=FILE (NAME: letters, digits and - _ . + / :)")
        if name in named:
            raise GroPromptError(f"{option} {name!r} is given twice", fix="give each name once")
        named[name] = Path(path)
    return named
