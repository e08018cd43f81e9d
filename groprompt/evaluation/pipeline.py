"""The one evaluation pipeline of every protocol: plan -> score -> tables -> write (docs/method_spec.md §8).

A *plan* is a validated evaluation (every file checked, no pixel decoded): the J&F plans of
:mod:`~groprompt.evaluation.layouts` (DAVIS label maps, Ref-DAVIS17 expression sets, per-expression masks) and the
sample plans of :mod:`~groprompt.evaluation.referring` (A2D-/JHMDB-Sentences). Every plan has one job per video,
a picklable function scoring one job into rows, the tables its rows make, and the lines the command prints; this
module runs the jobs (in a process pool), and writes the tables. :func:`plan_dataset` plans the evaluation of a
benchmark split from ``groprompt infer``'s output folder, by the evaluation its :class:`~groprompt.data.DatasetKind`
declares.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from tqdm import tqdm

from groprompt.errors import GroPromptError
from groprompt.evaluation import layouts, referring
from groprompt.evaluation.expression_sets import write_expression_sets
from groprompt.evaluation.ground_truth import label_map_folder
from groprompt.evaluation.summary import GROUP_FILES

OUTPUT_FILES = ("per_object.csv", "summary.csv", *GROUP_FILES, "per_sample.csv")
"""Every table an evaluation may write."""

SETS_FOLDER = "sets"
"""Sub-folder of the score folder where the dataset form writes Ref-DAVIS17's expression-set label maps."""


class Plan(Protocol):
    """What the pipeline needs of a validated evaluation."""

    jobs: Sequence[Any]
    warnings: list[str]

    def scorer(self) -> Callable[[Any], list[dict]]:
        """A picklable function scoring one job (one video) into rows; it must not capture the plan (a pool
        would send every job's plan to every worker)."""
        ...

    def tables(self, rows: list[dict]) -> dict[str, pd.DataFrame]:
        """File name (one of :data:`OUTPUT_FILES`) -> table, from the rows of every job in plan order."""
        ...

    def report(self, tables: dict[str, pd.DataFrame]) -> list[str]:
        """What the command prints about the scored tables."""
        ...


def score(plan: Plan, workers: int = 1) -> dict[str, pd.DataFrame]:
    """Score every job of ``plan`` with ``workers`` processes; its tables (file name -> table)."""
    return plan.tables(score_jobs(plan.scorer(), plan.jobs, workers))


def write_tables(out: Path, tables: dict[str, pd.DataFrame]) -> None:
    """Write ``tables`` (file name -> DataFrame) atomically into ``out``, and delete the other
    :data:`OUTPUT_FILES` there: left by an earlier evaluation into this folder, they would be read as this one's."""
    from groprompt.files import atomic_path

    for name in OUTPUT_FILES:
        if name not in tables:
            (out / name).unlink(missing_ok=True)
    for name, frame in tables.items():
        with atomic_path(out / name) as tmp:
            frame.to_csv(tmp, index=False)


def score_jobs(score_job: Callable[[Any], list[dict]], jobs: Sequence[Any], workers: int = 1) -> list[dict]:
    """``score_job`` each job (one video) with ``workers`` processes (1: in this process), with a progress bar;
    the rows of all jobs, in job order. A :class:`GroPromptError` raised while scoring cancels the remaining jobs
    and propagates."""
    results: list[list[dict]] = [[] for _ in jobs]
    with tqdm(total=len(jobs), desc="evaluate", unit="video", disable=None) as progress:
        if workers <= 1 or len(jobs) <= 1:
            for index, job in enumerate(jobs):
                results[index] = score_job(job)
                progress.update()
        else:
            workers = min(workers, len(jobs))
            with ProcessPoolExecutor(max_workers=workers, initializer=_ignore_interrupts) as pool:
                futures = {pool.submit(score_job, job): index for index, job in enumerate(jobs)}
                try:
                    for future in as_completed(futures):
                        results[futures[future]] = future.result()
                        progress.update()
                except BaseException:
                    pool.shutdown(cancel_futures=True)
                    raise
    return [row for rows in results for row in rows]


def _ignore_interrupts() -> None:
    """In a scoring worker: leave Ctrl-C to the main process, which stops the pool (one message, not one
    traceback per worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def plan_dataset(kind: str, root: str | Path, split: str, infer_out: str | Path, out: str | Path,
                 protocol: str | None = None, allow_missing: bool = False) -> Plan:
    """Plan the evaluation of ``split`` of the dataset of ``kind`` at ``root`` from the output folder of
    ``groprompt infer`` (``Annotations/<video>/<exp_id>/<frame>.png``, ``boxes/<video>.csv``), scored the way
    ``dataset_kind(kind).evaluation`` says (docs/method_spec.md §8):

    * ``per-expression``: each expression against its own object, ground truth ``<root>/<split>/Annotations``
      (or, for a reader that keeps it elsewhere, label maps written from the reader into ``<out>/ground_truth``,
      :mod:`~groprompt.evaluation.ground_truth`), with the box IoU of ``<infer_out>/boxes``;
    * ``expression-sets`` (Ref-DAVIS17): the masks merged into the four expression sets, written to
      ``<out>/sets/anno_0..anno_3`` (as ``groprompt expression-sets`` writes them), then each set scored as DAVIS
      label maps with each object's box IoU in the set;
    * ``referring``: one sample per annotated (video, frame, instance).

    The split is read with the kind's reader (which checks it whole, before any work), and its expressions come
    from that reader.

    Raises:
        GroPromptError: an unknown kind, a split without public ground truth (before anything is read), or any
            problem of the dataset or of the predictions, named with its file.
    """
    from groprompt.data import dataset_kind, open_dataset

    declared = dataset_kind(kind)
    if not declared.scores(split):
        raise GroPromptError(
            f"split {split!r} of {declared.name} cannot be scored here: "
            + ("it has no public ground truth (its evaluation server scores it)" if declared.evaluation
               else "groprompt evaluate has no evaluation for this kind"),
            dataset=kind, path=root,
            fix="evaluate a split with ground truth" + (" (not " + ", ".join(declared.unscored_splits) + ")"
                                                         if declared.unscored_splits else ""))
    infer_out, root = Path(infer_out), Path(root)
    if not infer_out.is_dir():
        raise GroPromptError("the groprompt infer output folder does not exist", path=infer_out,
                             fix="pass --pred the folder that groprompt infer --out wrote")
    if declared.evaluation == "referring":
        if protocol is not None:
            raise GroPromptError(f"--protocol does not apply to {declared.name}: its samples are scored each "
                                 "against its own object", fix="leave --protocol out")
        return referring.plan_referring(open_dataset(kind, root, split), infer_out / "Annotations", allow_missing)
    dataset = open_dataset(kind, root, split)
    expressions = layouts.Expressions.of_dataset(dataset)
    gt_dir = label_map_folder(dataset, root / split / "Annotations", Path(out))
    boxes = infer_out / "boxes"
    if declared.evaluation == "per-expression":
        return layouts.plan_evaluation(infer_out / "Annotations", gt_dir, "per-expression", expressions,
                                       allow_missing, boxes, protocol)
    sets = Path(out) / SETS_FOLDER
    write_expression_sets(dataset, infer_out, sets)
    return layouts.plan_evaluation(sets, gt_dir, "refdavis", expressions, allow_missing, boxes, protocol)
