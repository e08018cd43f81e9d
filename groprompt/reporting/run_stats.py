"""Statistics of one step's run: what ``groprompt --stats FILE <step> ...`` records (format :data:`STEP_FORMAT`).

:class:`StepClock` starts with the step and, when it ends however it ends, gives its wall and CPU seconds, peak
resident memory (its own and its largest child's), peak GPU memory where torch used CUDA, and exit status;
:func:`write_step_record` writes that record (rank 0 only under ``torchrun``). :mod:`groprompt.reporting.study_stats`
reads such records, with those of other tools, into a study's statistics.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from groprompt.files import atomic_write_text

STEP_FORMAT = "groprompt-step-stats/1"
_MB = 2.0 ** 20


class StepClock:
    """Started when a step starts; :meth:`record` gives its statistics when it ends."""

    def __init__(self) -> None:
        self.started = datetime.now(timezone.utc)
        self._wall = time.perf_counter()
        self._cpu = os.times()

    def record(self, step: str, argv: Sequence[str], exit_code: int) -> dict[str, Any]:
        """The step's record: wall and CPU seconds (this process and its finished children), peak resident memory
        of this process and of its largest child, peak GPU memory where torch used CUDA, and the exit status."""
        now = os.times()
        cpu = sum(getattr(now, f) - getattr(self._cpu, f)
                  for f in ("user", "system", "children_user", "children_system"))
        self_rss, children_rss = peak_rss_mb()
        return {
            "format": STEP_FORMAT,
            "step": step,
            "argv": list(argv),
            "started": self.started.isoformat(timespec="seconds"),
            "wall_seconds": time.perf_counter() - self._wall,
            "cpu_seconds": cpu,
            "peak_rss_mb": max(self_rss, children_rss),
            "peak_rss_self_mb": self_rss,
            "peak_rss_children_mb": children_rss,
            "peak_gpu_memory_mb": peak_gpu_memory_mb(),
            "exit_code": exit_code,
        }


def peak_rss_mb() -> tuple[float, float]:
    """Peak resident set size of this process and of its largest waited-for child, MiB.

    This process's is its address space's high-water mark (``VmHWM`` of ``/proc/self/status``) where Linux has
    one: ``getrusage``'s ``ru_maxrss`` survives fork and exec there, so a step started by a larger process
    (Snakemake, a benchmark) would report its parent's peak. Children's come from ``getrusage`` (a child's figure
    can hold this process's peak at its fork, which the step's record, the larger of the two, holds anyway).
    """
    unit = 1.0 if sys.platform == "darwin" else 1024.0  # ru_maxrss: bytes on macOS, KiB on Linux
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit / _MB
    with contextlib.suppress(OSError):
        with open("/proc/self/status", encoding="ascii") as status:
            own = next((int(line.split()[1]) * 1024 / _MB for line in status if line.startswith("VmHWM:")), own)
    return own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * unit / _MB


def peak_gpu_memory_mb() -> float | None:
    """Largest peak of memory torch allocated on any CUDA device, MiB; None if this process never used CUDA."""
    torch = sys.modules.get("torch")  # a step that never imported torch used no GPU
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return max(torch.cuda.max_memory_allocated(d) for d in range(torch.cuda.device_count())) / _MB


def write_step_record(path: str | Path, record: Mapping[str, Any]) -> None:
    """Write a stage file. Under ``torchrun`` only rank 0 writes (every rank runs the same step; figures are
    rank 0's)."""
    if os.environ.get("RANK", "0") != "0":
        return
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")
