"""A random SAM 2 video model of the stand-in's shape, saved as a Hugging Face folder, for the tests of the SAM 2
baselines: :func:`groprompt.tracking.standin.build_standin_sam2` at a 64-pixel input (its smallest). Nothing here
downloads."""

from __future__ import annotations

from pathlib import Path

import torch

from groprompt.tracking.standin import build_standin_sam2, standin_sam2_processor


def save_tiny_sam2(folder: Path, side: int = 64, seed: int = 0) -> Path:
    """A random stand-in-shaped SAM 2 and its processor written with ``save_pretrained`` into ``folder``."""
    torch.manual_seed(seed)
    build_standin_sam2(side).save_pretrained(folder)
    standin_sam2_processor(side).save_pretrained(folder)
    return folder
