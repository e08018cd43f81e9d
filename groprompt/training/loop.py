"""The GroPrompt training loop (docs/method_spec.md §2-§5, paper §3.2 and §4.2): box-supervised fine-tuning of the
prompter with the optional TAP-CL terms, single-process or data-parallel under ``torchrun``.

Each epoch runs the optimiser steps of :class:`groprompt.training.trainer.Trainer` over the clip schedule of
:class:`groprompt.training.clips.ClipSampler` (this rank's share), then steps the learning-rate schedule; rank 0
logs every step and writes a checkpoint per epoch (:mod:`groprompt.training.checkpoint`), and at the end exports
the prompter for inference.

Output folder::

    config.yaml            the resolved TrainingConfig
    train_log.csv          one row per step (:mod:`groprompt.training.log`)
    checkpoints/epoch_NNN.pt
    prompter/              the fine-tuned prompter (Hugging Face folder; build_prompter loads it)
    train_summary.json     written last: steps, time, skipped clips, last losses

Reproducibility: on one device, the same inputs and seed give bit-identical checkpoints, and resuming from an
epoch checkpoint gives the same weights as a run that was never interrupted (the clip schedule is a function of
``(seed, epoch, position)``; the generators of every rank are saved with each checkpoint).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from groprompt.errors import GroPromptError
from groprompt.files import atomic_write_text
from groprompt.precision import DEFAULT_PRECISION, check_precision
from groprompt.prompting.prompter import Prompter
from groprompt.segmentation.segmentor import Segmentor
from groprompt.training.checkpoint import (
    TrainingState,
    capture_rng,
    epoch_checkpoints,
    export_prompter,
    load_checkpoint,
    load_trainable_state,
    module_state,
    parameter_digest,
    restore_rng,
    save_checkpoint,
    trainable_state,
)
from groprompt.training.clips import ClipSampler, TrainVideo
from groprompt.training.config import TrainingConfig, recorded_config, write_config
from groprompt.training.distributed import DistributedContext
from groprompt.training.log import TrainLog
from groprompt.training.trainer import Trainer


@dataclass(frozen=True)
class TrainSummary:
    """What a finished run reports (also written to ``train_summary.json``).

    Attributes:
        epochs, steps: completed epochs and optimiser steps.
        pairs: usable (video, expression) pairs; unusable_expressions: expressions left out (no present object).
        skipped_contrastive: clips whose contrastive terms were skipped (no negative sentence), and
        seconds: wall time, both of the steps this invocation ran (a resumed run counts from its resume).
        last: the last step's log row.
        prompter_dir: the exported prompter folder.
        precision: of the forward passes (``fp32``, ``tf32``, ``bf16``).
    """

    epochs: int
    steps: int
    pairs: int
    unusable_expressions: int
    skipped_contrastive: int
    seconds: float
    last: dict[str, float | int]
    prompter_dir: str
    precision: str


def train(
    config: TrainingConfig,
    videos: Sequence[TrainVideo],
    models: Callable[[], tuple[Prompter, Segmentor | None]],
    out: str | Path,
    *,
    resume: bool = False,
    restart_if_changed: bool = False,
    run: Mapping[str, Any] | None = None,
    context: DistributedContext | None = None,
    progress: bool = True,
    precision: str = DEFAULT_PRECISION,
) -> TrainSummary:
    """Fine-tune the prompter on the clips of ``videos`` (box-only views) and write the run to ``out``.

    Args:
        config: the training configuration.
        videos: the split's videos as box-only views (:func:`groprompt.training.clips.box_only_videos`).
        models: returns the pre-trained prompter (as loaded from ``--prompter``; frozen here per
            ``config.trainable``, moved to the device and trained in place) and the frozen SAM segmentor (required
            when ``lambda_f`` or ``lambda_v`` is positive, may be None otherwise). Called once, after the data,
            the config and the resume state have been checked, so mistakes surface before models load.
        out: the run folder (see the module docstring).
        resume: continue from the newest epoch checkpoint in ``out`` (none: start fresh). The config and ``run``
            must equal the checkpoint's; otherwise a :class:`GroPromptError` names the differing keys.
        restart_if_changed: when resuming and they differ, delete the run's files in ``out`` (the checkpoints,
            log, config, prompter and summary) and start fresh instead (a note on stderr says so).
        run: the run's inputs (dataset, split, checkpoint paths and content digests...), recorded and compared on
            resume; the world size and the precision are added here.
        context: the process group (single process by default).
        progress: show a tqdm bar (rank 0).
        precision: ``fp32``, ``tf32`` or ``bf16`` (:mod:`groprompt.precision`) of the forward passes.
    """
    context = context or DistributedContext()
    out = Path(out)
    run = {**(run or {}), "world_size": context.world_size, "precision": check_precision(precision)}
    sampler = ClipSampler(videos, config.clip_length, config.seed, config.multi_object_target)
    state = _resume_state(out, config, run, resume, restart_if_changed, context)
    prompter, segmentor = models()
    trainer = Trainer.build(config, prompter, segmentor, context, precision)
    first_epoch, step = 0, 0
    if state is not None:
        _restore(trainer, state, epoch_checkpoints(out / "checkpoints")[-1])
        first_epoch, step = state.epoch, state.step

    log = None
    if context.is_main:
        if state is None:
            write_config(config, out / "config.yaml")
        log = TrainLog(out / "train_log.csv", completed_epochs=first_epoch)
    steps_per_epoch = sampler.steps_per_epoch(context.world_size, config.batch_clips)
    if config.steps_per_epoch is not None:
        steps_per_epoch = min(steps_per_epoch, config.steps_per_epoch)
    skipped, last_row, started = 0, {}, time.perf_counter()
    try:
        for epoch in range(first_epoch, config.epochs):
            bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{config.epochs}", unit="step",
                       disable=not (progress and context.is_main))
            for epoch_step in bar:
                step += 1
                last_row = trainer.step(sampler.batch(epoch, epoch_step, context.rank, context.world_size,
                                                      config.batch_clips))
                last_row.update(epoch=epoch + 1, step=step)
                skipped += int(last_row["skipped_contrastive"])
                bar.set_postfix(l_box=f"{last_row['l_box']:.3f}", total=f"{last_row['total']:.3f}")
                if log is not None:
                    log.write(last_row)
            trainer.scheduler.step()
            _save_epoch(trainer, out, epoch + 1, step, run)
    finally:
        if log is not None:
            log.close()

    summary = TrainSummary(epochs=config.epochs, steps=step, pairs=len(sampler.pairs),
                           unusable_expressions=len(sampler.unusable), skipped_contrastive=skipped,
                           seconds=time.perf_counter() - started, last=last_row,
                           prompter_dir=str(out / "prompter"), precision=precision)
    if context.is_main:
        export_prompter(prompter, out / "prompter")
        atomic_write_text(out / "train_summary.json", json.dumps(vars(summary), indent=2) + "\n")
    context.barrier()
    return summary


def _save_epoch(trainer: Trainer, out: Path, epoch: int, step: int, run: Mapping[str, Any]) -> None:
    """Gather every rank's generator states and parameter digest; rank 0 writes the epoch checkpoint."""
    context, model = trainer.context, trainer.model
    rng = context.gather(capture_rng())
    replicas = context.gather(parameter_digest(trainer.params))
    if len(set(replicas)) > 1:
        # Not a user error: DistributedDataParallel failed to keep the copies in step.
        raise RuntimeError(f"the data-parallel replicas hold different weights after epoch {epoch}: {replicas}")
    if context.is_main:
        save_checkpoint(out / "checkpoints", TrainingState(
            epoch=epoch, step=step, config=trainer.config.to_dict(), run=dict(run),
            prompter=trainable_state(model.prompter), head=None if model.head is None else module_state(model.head),
            optimizer=trainer.optimizer.state_dict(), scheduler=trainer.scheduler.state_dict(), rng=rng,
            replicas=replicas,
        ), keep=trainer.config.keep_checkpoints)
    context.barrier()


def _restore(trainer: Trainer, state: TrainingState, path: Path) -> None:
    """Load a checkpoint's weights, optimiser, schedule and this rank's generator states into ``trainer``."""
    load_trainable_state(trainer.model.prompter, state.prompter, path)
    if trainer.model.head is not None:
        trainer.model.head.load_state_dict(state.head)
    trainer.optimizer.load_state_dict(state.optimizer)
    trainer.scheduler.load_state_dict(state.scheduler)
    restore_rng(state.rng[trainer.context.rank])


_RUN_ENTRIES = ("checkpoints", "train_log.csv", "config.yaml", "prompter", "train_summary.json")
"""What :func:`train` writes in its output folder (the checkpoints first: a clearing cut short leaves no epoch)."""


def _resume_state(out: Path, config: TrainingConfig, run: Mapping[str, Any], resume: bool, restart: bool,
                  context: DistributedContext) -> TrainingState | None:
    """The newest epoch checkpoint's state when resuming (checked against ``config`` and ``run``), else None;
    with ``restart``, a checkpoint of another config or inputs is deleted with the rest of the run (rank 0, between
    barriers, so no rank reads while it goes) and None returned."""
    checkpoints = epoch_checkpoints(out / "checkpoints")
    if not resume:
        if checkpoints:
            raise GroPromptError("the output folder already holds a training run", path=out,
                                 fix="pass --resume to continue it, or choose a new --out")
        return None
    if not checkpoints:
        return None
    state = load_checkpoint(checkpoints[-1])
    differing = config.differences(state.config)
    differing += [f"run.{key}" for key in sorted(set(run) | set(state.run)) if run.get(key) != state.run.get(key)]
    if not differing:
        return state
    details = "; ".join(f"{key}: checkpoint {_value(state, key)!r}, now {_now(config, run, key)!r}"
                        for key in differing)
    problem = f"the run differs from its checkpoint in {', '.join(differing)} ({details})"
    if not restart:
        raise GroPromptError(f"cannot resume: {problem}", path=checkpoints[-1],
                             fix="resume with the same config and inputs, pass --restart-if-changed to delete the "
                                 "run and start over, or start a new --out")
    context.barrier()
    if context.is_main:
        print(f"groprompt train: note: {problem}; deleting the run in {out} and starting over "
              "(--restart-if-changed)", file=sys.stderr)
        for name in _RUN_ENTRIES:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
    context.barrier()
    return None


def _value(state: TrainingState, key: str) -> Any:
    return state.run.get(key[4:]) if key.startswith("run.") else recorded_config(state.config).get(key)


def _now(config: TrainingConfig, run: Mapping[str, Any], key: str) -> Any:
    return run.get(key[4:]) if key.startswith("run.") else config.to_dict().get(key)
