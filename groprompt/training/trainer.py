"""The optimisation state of a training run and its step (docs/method_spec.md §1, §2, §4): what is trained, by which
optimiser, and one optimiser step over a batch of clips.

* Trainable: the prompter's groups of ``config.trainable`` (§1; :func:`groprompt.prompting.apply_freezing`
  freezes the rest and keeps it in eval mode) and the ModalCon head when ``lambda_v > 0`` (§4).
* AdamW (lr, weight decay) over those parameters only; the total gradient norm clipped to ``grad_clip_norm``
  (§2); the learning rate per epoch from :func:`lr_factor` (a ``LambdaLR`` stepped once per epoch).
* Data parallelism: the model is wrapped in DistributedDataParallel, which averages gradients over the ranks on
  the backward of each rank's last clip of the step (gradient accumulation over its ``batch_clips`` clips).
* Precision (:mod:`groprompt.precision`): the forward passes run in the run's precision (bf16: autocast, in
  :class:`~groprompt.training.step.TrainingModel`); parameters, gradients and AdamW's state stay float32 (the
  master weights), and TF32 is on for the whole step, backward included, only when the precision is ``tf32``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from groprompt.errors import GroPromptError
from groprompt.losses.total import total_loss
from groprompt.precision import DEFAULT_PRECISION, float32_matmuls
from groprompt.prompting.freezing import apply_freezing
from groprompt.prompting.modalcon import ModalConHead
from groprompt.prompting.prompter import Prompter
from groprompt.seeding import seed_everything
from groprompt.segmentation.segmentor import Segmentor
from groprompt.training.clips import Clip
from groprompt.training.config import TrainingConfig
from groprompt.training.distributed import DistributedContext
from groprompt.training.step import LOSS_TERMS, TrainingModel, clip_scales, prepare_clip


def lr_factor(epoch_index: int, config: TrainingConfig) -> float:
    """The learning-rate multiplier of 0-based epoch ``epoch_index`` (§2: x ``lr_drop_factor`` from each of
    ``lr_drop_epochs``, 1-based, on)."""
    return config.lr_drop_factor ** sum(epoch_index + 1 >= drop for drop in config.lr_drop_epochs)


def build_head(prompter: Prompter, segmentor: Segmentor, seed: int) -> ModalConHead:
    """The ModalCon head (§4) sized from SAM (prompt tokens, image-embedding channels) and the text backbone,
    initialised from ``seed`` alone (identically on every rank; the global generators are left as they were)."""
    width = segmentor.sam.prompt_encoder.embed_dim
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ModalConHead(prompt_dim=2 * width, visual_dim=segmentor.embedding_shape[0],
                            text_dim=prompter.detector.config.text_config.hidden_size)


@dataclass
class Trainer:
    """Everything one optimiser step needs. Build it with :meth:`build`.

    Attributes:
        config: the run's configuration.
        context: this process's place in the process group.
        model: the unwrapped :class:`~groprompt.training.step.TrainingModel` (checkpoints read it).
        wrapped: what the step calls: ``model``, or ``model`` in DistributedDataParallel.
        params: the trainable parameters, in a fixed order.
        optimizer: AdamW over ``params``.
        scheduler: the per-epoch learning-rate schedule.
    """

    config: TrainingConfig
    context: DistributedContext
    model: TrainingModel
    wrapped: nn.Module
    params: list[nn.Parameter]
    optimizer: torch.optim.AdamW
    scheduler: torch.optim.lr_scheduler.LambdaLR

    @classmethod
    def build(cls, config: TrainingConfig, prompter: Prompter, segmentor: Segmentor | None,
              context: DistributedContext, precision: str = DEFAULT_PRECISION) -> Trainer:
        """Freeze the prompter per ``config.trainable``, move it to the device, add the ModalCon head when
        ``lambda_v > 0``, and set up AdamW and the schedule. Seeds the generators (``config.seed`` + rank)."""
        if config.contrastive and segmentor is None:
            raise GroPromptError(
                f"lambda_f = {config.lambda_f} / lambda_v = {config.lambda_v} need the SAM segmentor (TextCon's "
                "prompt encoder, ModalCon's visual tokens)",
                fix="pass --segmentor, or train L_box only with --set lambda_f=0 --set lambda_v=0")
        seed_everything(config.seed, context.rank)
        apply_freezing(prompter, config.trainable)
        prompter.to(context.device)
        head = build_head(prompter, segmentor, config.seed).to(context.device) if config.lambda_v > 0 else None
        model = TrainingModel(prompter, head, segmentor if config.contrastive else None, config, precision).train()
        params = model.trainable_parameters()
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: lr_factor(epoch, config))
        wrapped: nn.Module = model
        if context.distributed:
            # The ModalCon head gets no gradient from a clip without a negative sentence: DDP must look for
            # unused parameters then (an extra graph traversal per step, so only when there is a head).
            wrapped = DistributedDataParallel(
                model, device_ids=[context.device] if context.device.type == "cuda" else None,
                find_unused_parameters=head is not None)
        return cls(config, context, model, wrapped, params, optimizer, scheduler)

    def step(self, clips: Sequence[Clip]) -> dict[str, float | int]:
        """One optimiser step over this rank's clips; returns the global batch's log row (epoch and step left
        for the caller; see :mod:`groprompt.training.log` for the columns)."""
        with float32_matmuls(self.model.precision):  # the backward too, where the model's autocast does not reach
            return self._step(clips)

    def _step(self, clips: Sequence[Clip]) -> dict[str, float | int]:
        config, context = self.config, self.context
        box_scale, contrastive_scale, with_negative = clip_scales(clips, config)
        self.optimizer.zero_grad(set_to_none=True)
        sums = torch.zeros(len(LOSS_TERMS), dtype=torch.float64, device=context.device)
        for index, clip in enumerate(clips):
            inputs = prepare_clip(clip, config, self.model.prompter, self.model.segmentor, context.device)
            accumulate = context.distributed and index < len(clips) - 1  # all-reduce on the last backward only
            with self.wrapped.no_sync() if accumulate else contextlib.nullcontext():
                losses = self.wrapped(inputs, box_scale, contrastive_scale)
                losses["objective"].backward()
            sums += torch.stack([losses[name].double() for name in LOSS_TERMS])
        skipped = len(clips) - with_negative if config.contrastive else 0
        counts = torch.tensor([len(clips), with_negative, skipped], dtype=torch.float64, device=context.device)
        totals = context.sum(torch.cat((sums, counts))).tolist()
        clip_count, negative_count = totals[len(LOSS_TERMS)], max(totals[len(LOSS_TERMS) + 1], 1.0)
        summed = dict(zip(LOSS_TERMS, totals[:len(LOSS_TERMS)], strict=True))
        # The contrastive terms are means over the clips that have a negative sentence, the rest over all clips.
        row: dict[str, float | int] = {name: summed[name] / (negative_count if name in ("l_f", "l_v") else clip_count)
                                       for name in LOSS_TERMS}
        row["total"] = row["l_det"] if config.objective == "detector" else float(
            total_loss(row["l_box"], row["l_f"], row["l_v"], config.lambda_f, config.lambda_v))
        if not math.isfinite(row["total"]):  # every rank sees the same all-reduced value, so all stop together
            raise GroPromptError(f"the training loss is not finite ({row['total']}); the weights were not updated",
                                 fix="lower lr, check the dataset's boxes, or resume from the last checkpoint")
        torch.nn.utils.clip_grad_norm_(self.params, config.grad_clip_norm)
        row.update(clips=int(clip_count), lr=self.optimizer.param_groups[0]["lr"], skipped_contrastive=int(totals[-1]))
        self.optimizer.step()
        return row
