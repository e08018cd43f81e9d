"""Run a command on GPUs no other job of this machine holds: ``python gpu_slots.py N -- command [args...]``.

Snakemake counts GPUs (``resources: gpu=N`` against ``--resources gpu=8``) but does not say which ones a job may
use, so two inference jobs that ask for one GPU each would both run on cuda:0 while the others idle. This script
takes N GPUs by holding an exclusive ``flock`` on one lock file per GPU, sets ``CUDA_VISIBLE_DEVICES`` to them and
replaces itself with the command, which inherits the locks: they are released when the command exits, however it
ends (the kernel drops a dead process's locks), so nothing is left to clean up.

Where ``CUDA_VISIBLE_DEVICES`` is already set (a SLURM allocation, or the user's choice), or N is 0, the command
runs as it is. The GPUs of the machine are counted with ``nvidia-smi -L`` (``GROPROMPT_GPU_COUNT`` overrides it).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import tempfile
from pathlib import Path

LOCK_DIR = Path(tempfile.gettempdir()) / f"groprompt-gpu-locks-{os.getuid()}"


def gpu_count() -> int:
    if "GROPROMPT_GPU_COUNT" in os.environ:
        return int(os.environ["GROPROMPT_GPU_COUNT"])
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        sys.exit(f"gpu_slots: cannot count this machine's GPUs with nvidia-smi -L ({error}); set CUDA_VISIBLE_DEVICES")
    return sum(line.startswith("GPU ") for line in listing.splitlines())


def take(needed: int, total: int, lock_dir: Path) -> list[int]:
    """Lock ``needed`` of GPUs ``0..total-1`` (first free first); the lock descriptors stay open and inheritable."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    taken = []
    for index in range(total):
        if len(taken) == needed:
            break
        fd = os.open(lock_dir / f"gpu{index}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        os.set_inheritable(fd, True)
        taken.append(index)
    if len(taken) < needed:
        sys.exit(f"gpu_slots: {needed} GPUs needed but only {len(taken)} of {total} are free; give Snakemake "
                 f"--resources gpu=<at most the GPUs of this machine>")
    return taken


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: gpu_slots.py N -- command [args...]")
    needed, command = int(argv[0]), argv[2:]
    if needed > 0 and not os.environ.get("CUDA_VISIBLE_DEVICES"):
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, take(needed, gpu_count(), LOCK_DIR)))
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
