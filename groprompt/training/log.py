"""``train_log.csv``: one row per optimiser step, appended as training goes, consistent across ``--resume``.

Columns (losses are the global batch's: L_box and its parts averaged over all clips of the step on all ranks, L^f
and L^v averaged over the clips that had a negative sentence; unweighted)::

    epoch, step, clips, l_box, l1, giou, l_f, l_v, total, lr, skipped_contrastive

``epoch`` is 1-based, ``step`` counts optimiser steps from 1 over the whole run, ``total`` is the objective the step
minimised: L_box + λ_f L^f + λ_v L^v (§5), or with ``objective: detector`` the detector objective (whose runs still
log L_box of the top-1 query in ``l_box``, ``l1``, ``giou``, so that the two objectives' logs compare), ``lr`` the
learning rate the step used, and ``skipped_contrastive`` the clips of the step whose contrastive terms were skipped
because their video has no other object (§3; 0 when both contrastive weights are 0, since then nothing contrastive
is computed for any clip).

Rows are appended and flushed one by one, so the file is readable while training runs. Rows of an epoch that did
not complete (a crash, a kill) are dropped when the run resumes from its last epoch checkpoint, by rewriting the
file atomically with only the rows of completed epochs; a half-written last line is dropped with them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from groprompt.errors import GroPromptError
from groprompt.files import atomic_write_text

COLUMNS = ("epoch", "step", "clips", "l_box", "l1", "giou", "l_f", "l_v", "total", "lr", "skipped_contrastive")


class TrainLog:
    """The CSV log of one training run (written by rank 0 only).

    Args:
        path: ``<out>/train_log.csv``.
        completed_epochs: epochs whose checkpoint exists; rows of later epochs are removed (0 for a fresh run).
    """

    def __init__(self, path: Path, completed_epochs: int) -> None:
        self.path = path
        kept = self._completed_rows(completed_epochs) if path.exists() else []
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(kept)
        atomic_write_text(path, buffer.getvalue())
        self._handle: IO[str] = open(path, "a", encoding="utf-8", newline="")  # noqa: SIM115 - kept open
        self._writer = csv.writer(self._handle, lineterminator="\n")

    def _completed_rows(self, completed_epochs: int) -> list[list[str]]:
        with open(self.path, encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        if not rows or tuple(rows[0]) != COLUMNS:
            raise GroPromptError(f"the training log's columns are not {', '.join(COLUMNS)}", path=self.path,
                                 fix="move the file away (it is not this version's log) and resume again")
        kept = []
        for row in rows[1:]:
            if len(row) == len(COLUMNS) and row[0].isdigit() and int(row[0]) <= completed_epochs:
                kept.append(row)
        return kept

    def write(self, row: Mapping[str, float | int]) -> None:
        """Append one step's row (keys: :data:`COLUMNS`) and flush it to disk."""
        self._writer.writerow([_format(row[column]) for column in COLUMNS])
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def _format(value: float | int) -> str:
    return str(value) if isinstance(value, int) else f"{value:.6g}"
