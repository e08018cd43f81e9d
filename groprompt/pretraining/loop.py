"""A step-counted, seeded training loop and the metrics file beside a checkpoint, shared by the pre-trainings.

Training length is a number of optimiser steps, never a time budget, so a rerun with the same seed repeats the
same updates and writes the same weights (on one device type and thread count). Evaluation time is left out of
the reported training seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path

import numpy as np
from tqdm import tqdm

from groprompt.data.model import Dataset, Video
from groprompt.errors import GroPromptError
from groprompt.files import atomic_write_text


def annotated_videos(dataset: Dataset, purpose: str) -> list[Video]:
    """The videos of ``dataset`` with ground-truth masks, for a pre-training that stacks their frames; a named
    error if there are none or if their frames come in more than one size (``purpose`` says what needs them, e.g.
    "segmentor pre-training")."""
    annotated = [video for video in dataset if video.has_annotations]
    if not annotated:
        raise GroPromptError(f"split {dataset.split!r} has no ground-truth masks for {purpose}",
                             dataset=dataset.name, path=dataset.root,
                             fix="pre-train on a split with Annotations/ (SynRVOS: --split pretrain)")
    sizes = sorted({video.size for video in annotated})
    if len(sizes) > 1:
        raise GroPromptError(f"frames come in {len(sizes)} sizes ({', '.join(f'{h}x{w}' for h, w in sizes[:4])}); "
                             f"{purpose} stacks frames of one size", dataset=dataset.name,
                             path=dataset.root, fix="pre-train on a split whose frames share one size (SynRVOS)")
    return annotated


def loop_problems(*, batch_size: int, grad_clip: float, eval_every: int) -> list[str]:
    """What is wrong with the settings every pre-training shares (an empty list if nothing)."""
    problems = []
    if batch_size < 1:
        problems.append(f"batch size must be >= 1, got {batch_size}")
    if not grad_clip > 0:
        problems.append(f"gradient clip must be > 0, got {grad_clip}")
    if eval_every < 0:
        problems.append(f"eval_every must be >= 0, got {eval_every}")
    return problems


def sample_batches(rng: np.random.Generator, count: int, batch_size: int) -> Iterator[np.ndarray]:
    """Endless ``(batch_size,)`` index batches walking through successive random permutations of ``0..count-1``
    (every sample once per epoch; a batch may span two epochs)."""
    pending = np.empty(0, dtype=np.int64)
    while True:
        while len(pending) < batch_size:
            pending = np.concatenate([pending, rng.permutation(count)])
        batch, pending = pending[:batch_size], pending[batch_size:]
        yield batch


def run_steps(step: Callable[[int], float], steps: int, *, evaluate: Callable[[], Mapping[str, float]],
              eval_at: Collection[int], desc: str, progress: bool = True) -> list[dict[str, float]]:
    """Call ``step(i)`` for ``i`` in ``0..steps-1``, and ``evaluate()`` after the steps counted in ``eval_at``.

    Args:
        step: one optimiser update; returns its loss (shown on the progress bar).
        eval_at: step counts (1..steps) after which to evaluate; the last step is always evaluated.

    Returns:
        one record per evaluation, in order: ``{"step": count, "seconds": training seconds so far, "loss": mean
        loss of the steps since the previous record, **evaluate()}``.
    """
    history: list[dict[str, float]] = []
    seconds = 0.0
    losses: list[float] = []
    bar = tqdm(range(steps), desc=desc, unit="step", disable=not progress)
    for index in bar:
        start = time.perf_counter()
        losses.append(step(index))
        seconds += time.perf_counter() - start
        bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
        done = index + 1
        if done in eval_at or done == steps:
            history.append({"step": done, "seconds": round(seconds, 3), "loss": round(float(np.mean(losses)), 5),
                            **evaluate()})
            losses.clear()
    return history


def metrics_path(checkpoint: str | Path) -> Path:
    """Where the metrics of ``checkpoint`` go: ``<checkpoint>.metrics.json`` beside it."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + ".metrics.json")


def write_metrics(checkpoint: str | Path, metrics: Mapping[str, object]) -> Path:
    """Write ``metrics`` as indented JSON to :func:`metrics_path` (atomically); returns that path."""
    path = metrics_path(checkpoint)
    atomic_write_text(path, json.dumps(metrics, indent=2) + "\n")
    return path


def heldout_videos(videos: np.ndarray, frames: int) -> np.ndarray:
    """``(N,) bool``: the frames of the last videos (in split order) that together hold at least ``frames`` frames.

    Args:
        videos: ``(N,) int`` video index of each frame, non-decreasing.
        frames: the least number of frames to hold out (>= 1); raises :class:`GroPromptError` if that would leave
            no frame to train on.
    """
    if frames < 1:
        raise GroPromptError(f"the held-out set needs at least 1 frame, got {frames}",
                             fix="pass --eval-frames 1 or more")
    distinct, counts = np.unique(videos, return_counts=True)
    # Walking back from the last video: keep a video while the frames taken before it are still too few.
    taken_before = np.cumsum(counts[::-1]) - counts[::-1]
    held = np.isin(videos, distinct[(taken_before < frames)[::-1]])
    if held.all():
        raise GroPromptError(
            f"holding out {frames} frames leaves no frame to train on (the split has {len(videos)} usable frames "
            f"in {len(distinct)} videos)",
            fix="pass a smaller --eval-frames, or pre-train on a larger split",
        )
    return held


def frame_subset(frame_index: np.ndarray, num_frames: int,
                 rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep the frames at ``rows`` of a set whose samples point at frames through ``frame_index``.

    Returns ``(rows, kept, new_frame_index)``: ``rows`` as ``(K,) int64``, the indices of the samples on kept frames,
    and those samples' frame indices within the subset.
    """
    rows = np.asarray(rows, dtype=np.int64)
    new_row = np.full(num_frames, -1, dtype=np.int64)
    new_row[rows] = np.arange(len(rows))
    kept = np.flatnonzero(new_row[frame_index] >= 0)
    return rows, kept, new_row[frame_index[kept]]


class FrameSampleSet:
    """Frame geometry and :meth:`split_heldout` for an in-memory sample set with ``frames`` (``(N, H, W, ...)``),
    ``videos`` and ``select_frames(rows)``."""

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of every frame."""
        return (int(self.frames.shape[1]), int(self.frames.shape[2]))

    def split_heldout(self, frames: int):
        """``(training set, held-out set)``: the held-out set is the split's last videos holding at least
        ``frames`` frames.

        The choice depends on the data only, not on a seed, so runs with different seeds are scored on the same
        frames; whole videos are held out so that no held-out frame has a near-copy in training.
        """
        held = heldout_videos(self.videos, frames)
        return self.select_frames(np.flatnonzero(~held)), self.select_frames(np.flatnonzero(held))
