"""Pre-training of the stand-in foundation models of the embedded default (``docs/architecture.md``, step 2).

Shared pieces: the optimiser and learning-rate schedule (:mod:`.schedule`) and the step-counted, seeded loop with
its metrics file (:mod:`.loop`). The segmentor's pre-training: :mod:`.box_masks` (its data) and :mod:`.segmentor`.
The grounder's: :mod:`.grounding_set` (its data), :mod:`.dense_targets` and :mod:`.grounder_loss` (the dense
FCOS-style objective of ``docs/stack_notes.md``, beside Grounding DINO's decoder term of
:mod:`groprompt.losses.detector`) and :mod:`.grounder`.

The grounder's names are imported from their module on first use: each pre-training step is its own workflow job,
and the segmentor's should not pay the ~4 s import of Grounding DINO that only the grounder's needs.
"""

from __future__ import annotations

import importlib
from typing import Any

from groprompt.pretraining.box_masks import BoxMaskSet, box_masks, filled_box_iou, load_box_masks
from groprompt.pretraining.loop import (
    heldout_videos,
    metrics_path,
    run_steps,
    sample_batches,
    write_metrics,
)
from groprompt.pretraining.schedule import adamw_warmup_cosine, schedule_problems, warmup_cosine
from groprompt.pretraining.segmentor import (
    SegmentorPretrainConfig,
    bce_dice_loss,
    box_prompt_logits,
    heldout_mask_iou,
    jitter_boxes,
    pretrain_segmentor,
    sam_pixels,
)

_LAZY = {
    "GrounderPretrainConfig": "grounder", "evaluate_grounder": "grounder", "pretrain_grounder": "grounder",
    "GroundingSet": "grounding_set", "load_grounding_set": "grounding_set",
}
"""The grounder's names, imported from their module on first use."""

__all__ = [
    "BoxMaskSet",
    "GrounderPretrainConfig",
    "GroundingSet",
    "SegmentorPretrainConfig",
    "adamw_warmup_cosine",
    "bce_dice_loss",
    "box_masks",
    "box_prompt_logits",
    "evaluate_grounder",
    "filled_box_iou",
    "heldout_mask_iou",
    "heldout_videos",
    "jitter_boxes",
    "load_box_masks",
    "load_grounding_set",
    "metrics_path",
    "pretrain_grounder",
    "pretrain_segmentor",
    "run_steps",
    "sam_pixels",
    "sample_batches",
    "schedule_problems",
    "warmup_cosine",
    "write_metrics",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
