"""The optimiser and learning-rate schedule shared by the stand-in pre-trainings (``docs/stack_notes.md``).

AdamW, a linear warm-up from 0 to the base rate, then a cosine decay to ``final_fraction`` of it at the last step.
The schedule is a function of the step alone, so a run is reproducible step for step, whatever its speed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from groprompt.errors import GroPromptError


def warmup_cosine(step: int, *, total_steps: int, warmup_steps: int, final_fraction: float) -> float:
    """The learning-rate multiplier of ``step`` (0-based: the rate used by the ``step``-th optimiser update).

    ``(step + 1) / warmup_steps`` during the warm-up, then a half cosine from 1 at step ``warmup_steps`` down to
    ``final_fraction`` at step ``total_steps - 1``; ``final_fraction`` beyond it.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = total_steps - 1 - warmup_steps
    progress = 1.0 if decay_steps <= 0 else min(1.0, (step - warmup_steps) / decay_steps)
    return final_fraction + (1.0 - final_fraction) * 0.5 * (1.0 + math.cos(math.pi * progress))


def adamw_warmup_cosine(parameters: Iterable[torch.nn.Parameter], *, lr: float, weight_decay: float,
                        total_steps: int, warmup_steps: int,
                        final_fraction: float = 0.05) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over ``parameters`` and its :func:`warmup_cosine` scheduler.

    Call ``scheduler.step()`` after each ``optimizer.step()``.
    """
    problems = schedule_problems(lr=lr, weight_decay=weight_decay, total_steps=total_steps,
                                 warmup_steps=warmup_steps, final_fraction=final_fraction)
    if problems:
        raise GroPromptError("invalid optimiser settings: " + "; ".join(problems), fix="correct the training options")
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: warmup_cosine(step, total_steps=total_steps, warmup_steps=warmup_steps,
                                   final_fraction=final_fraction),
    )
    return optimizer, scheduler


def schedule_problems(*, lr: float, weight_decay: float, total_steps: int, warmup_steps: int,
                      final_fraction: float) -> list[str]:
    """What is wrong with these optimiser settings (empty if nothing), so callers can check them before loading data."""
    problems = []
    if not lr > 0:
        problems.append(f"learning rate must be > 0, got {lr}")
    if not weight_decay >= 0:
        problems.append(f"weight decay must be >= 0, got {weight_decay}")
    if total_steps < 1:
        problems.append(f"steps must be >= 1, got {total_steps}")
    elif not 0 <= warmup_steps < total_steps:
        problems.append(f"warm-up steps must lie in 0..{total_steps - 1}, got {warmup_steps}")
    if not 0 <= final_fraction <= 1:
        problems.append(f"final learning-rate fraction must lie in [0, 1], got {final_fraction}")
    return problems


def fraction_schedule_problems(*, lr: float, weight_decay: float, total_steps: int, warmup_fraction: float,
                               final_fraction: float) -> list[str]:
    """:func:`schedule_problems` for a warm-up given as a fraction of the steps (``int(fraction * steps)`` steps),
    as the stand-in SAM's and SAM 2's pre-trainings give it."""
    problems = [] if 0 <= warmup_fraction < 1 else [f"warm-up fraction must lie in [0, 1), got {warmup_fraction}"]
    return problems + schedule_problems(lr=lr, weight_decay=weight_decay, total_steps=total_steps,
                                        warmup_steps=int(warmup_fraction * total_steps), final_fraction=final_fraction)
