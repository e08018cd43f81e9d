"""Tiny training inputs for the training tests: a Ref-YouTube-VOS-layout split and stand-in pre-trained models.

The stand-ins are random (a tiny Grounding DINO saved as a Hugging Face folder, a tiny SAM saved with
``save_sam``), in exactly the formats ``groprompt.prompting.build_prompter`` and ``groprompt.segmentation.load_sam``
read, so the tests never depend on the slow stand-in pre-training.
"""

from __future__ import annotations

from pathlib import Path

import torch
from datasets_fixtures import ToyVideo, moving_squares, write_refytvos

FRAME = 64
"""Frame side: the tiny ResNet backbone needs multiples of 32."""


def write_toy_split(root: Path, split: str = "train") -> Path:
    """Three videos of 64x64 frames: two with a red and a green moving square (an expression each, so each
    expression has a negative), one with a single square (no negative: its clips skip the contrastive terms)."""
    videos = [
        ToyVideo(f"two_{i}", moving_squares(5, (FRAME, FRAME), 2, side=8, step=6 + i),
                 [{"exp": "the red square", "obj_id": "1"}, {"exp": "the green square below", "obj_id": "2"}])
        for i in range(2)
    ]
    videos.append(ToyVideo("single", moving_squares(3, (FRAME, FRAME), 1, side=8, step=8),
                           [{"exp": "a red box moving right", "obj_id": "1"}]))
    return write_refytvos(root, split, videos)


def save_standins(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """A random tiny prompter (HF folder with tokenizer) and a random tiny SAM file; returns their paths."""
    from groprompt.prompting import build_prompter
    from groprompt.segmentation import SAM_VARIANTS, build_sam, save_sam

    torch.manual_seed(seed)
    prompter = build_prompter("tiny")
    prompter_dir = folder / "grounder"
    prompter.detector.save_pretrained(prompter_dir)
    prompter.tokenizer.save_pretrained(prompter_dir)
    sam_path = folder / "sam_tiny.pt"
    save_sam(build_sam("tiny"), SAM_VARIANTS["tiny"], sam_path)
    return prompter_dir, sam_path


def write_train_inputs(folder: Path) -> dict[str, Path]:
    """What the ``groprompt train`` tests read: the toy split (``data``), the random stand-ins (``prompter``,
    ``sam``) and a one-step config of one epoch (``config``)."""
    prompter, sam = save_standins(folder)
    config = folder / "train.yaml"
    config.write_text("prompter_size: tiny\nepochs: 1\nlr_drop_epochs: []\nclip_length: 2\nsteps_per_epoch: 1\n")
    return {"data": write_toy_split(folder / "data"), "prompter": prompter, "sam": sam, "config": config}
