"""How a long step (``groprompt train``, ``groprompt infer``) stops when it is asked to.

Two signals ask: SIGINT (Ctrl-C), which Python raises as ``KeyboardInterrupt``, and SIGTERM, what a cluster
scheduler sends at a job's time limit (SLURM: SIGTERM, then SIGKILL after its ``KillWait``), ``kill`` and Snakemake
when it cancels a job. Python's default for SIGTERM ends the process on the spot, as SIGKILL does: nothing the step
had open is cleaned up. :func:`stop_cleanly` raises :class:`Terminated` instead, so both signals unwind the step
the same way: the unit in progress is discarded atomically (the temporary file of a checkpoint, an embedding or a
marker is deleted by :mod:`groprompt.files`; the embedding cache's frame locks are released; a half-run epoch or
video is left to be redone, since its checkpoint or done marker is written last), what was finished is kept, and
the step exits non-zero (130 for SIGINT through :mod:`groprompt.cli`, 143 for SIGTERM here: 128 + the signal, as a
shell reports them). The same command then continues where it stopped.

A second SIGTERM while the first is being handled ends the process at once (the default action is put back when
the first arrives), as a scheduler's escalation to SIGKILL would.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable

TERMINATED = 143
"""Exit status of a step stopped by SIGTERM (128 + 15, as a shell reports it)."""


class Terminated(BaseException):  # noqa: N818 - named like KeyboardInterrupt, its sibling
    """SIGTERM arrived. A ``BaseException``, like ``KeyboardInterrupt``, so no ``except Exception`` swallows it."""


def stop_cleanly(step: str, run: Callable[[], int], kept: str) -> int:
    """``run()`` with SIGTERM raised as :class:`Terminated` in the main thread; a SIGTERM ends it with one line on
    stderr that says what is kept, and exit status :data:`TERMINATED` (Ctrl-C's ``KeyboardInterrupt`` unwinds it
    the same way and is reported by :func:`groprompt.cli.main`: exit status 130).

    Args:
        step: the step's name, e.g. ``"infer"``.
        run: the step's work; returns its exit status.
        kept: what an interrupted run keeps and how to continue, e.g. ``"finished videos are kept: run the same
            command to continue"``.
    """
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        return run()

    def terminate(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        return run()
    except Terminated:
        print(f"groprompt {step}: terminated (SIGTERM); {kept}", file=sys.stderr)
        return TERMINATED
    finally:
        signal.signal(signal.SIGTERM, previous)
