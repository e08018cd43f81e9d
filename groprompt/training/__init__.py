"""GroPrompt training (docs/method_spec.md §2-§5): fine-tune the prompter from box supervision, with TAP-CL.

Modules, in the order a run uses them: :mod:`.config` (TrainingConfig, strict YAML), :mod:`.clips` (box-only
videos, the clip schedule), :mod:`.step` (one clip's losses), :mod:`.trainer` (optimiser, one step),
:mod:`.loop` (epochs, resume, outputs), :mod:`.checkpoint` (epoch checkpoints, the exported prompter),
:mod:`.log` (train_log.csv), :mod:`.distributed` (torchrun process group).
"""

from groprompt.training.checkpoint import TrainingState, export_prompter, load_checkpoint
from groprompt.training.clips import Clip, ClipSampler, TrainVideo, box_only_videos, sample_window
from groprompt.training.config import (
    TrainingConfig,
    load_training_config,
    parse_overrides,
    write_config,
)
from groprompt.training.distributed import DistributedContext, setup_distributed, teardown_distributed
from groprompt.training.log import COLUMNS as LOG_COLUMNS
from groprompt.training.loop import TrainSummary, train
from groprompt.training.step import ClipInputs, TrainingModel, prepare_clip
from groprompt.training.trainer import Trainer, lr_factor

__all__ = [
    "LOG_COLUMNS",
    "Clip",
    "ClipInputs",
    "ClipSampler",
    "DistributedContext",
    "TrainSummary",
    "TrainVideo",
    "Trainer",
    "TrainingConfig",
    "TrainingModel",
    "TrainingState",
    "box_only_videos",
    "export_prompter",
    "load_checkpoint",
    "load_training_config",
    "lr_factor",
    "parse_overrides",
    "prepare_clip",
    "sample_window",
    "setup_distributed",
    "teardown_distributed",
    "train",
    "write_config",
]
