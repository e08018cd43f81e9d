"""Options and set-up shared by the two stand-in pre-training steps (``pretrain-segmentor``, ``pretrain-grounder``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from groprompt.errors import GroPromptError


def add_pretraining_arguments(parser: argparse.ArgumentParser, *, out_help: str, eval_frames: int,
                              eval_measure: str, model: str) -> None:
    """The options both pre-trainings take; each step adds its own after these."""
    parser.add_argument("--data", type=Path, required=True, help="dataset root (SynRVOS: the folder `synrvos` wrote)")
    parser.add_argument("--dataset-kind", default="refytvos",
                        help="reader of the dataset's layout (default: %(default)s, which SynRVOS uses)")
    parser.add_argument("--split", default="pretrain", help="annotated split to train on (default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help=f"{out_help}; the metrics go to <out>.metrics.json")
    parser.add_argument("--steps", type=int, required=True, help="optimiser updates (the run's length)")
    parser.add_argument("--batch-size", type=int, default=16, help="samples per update (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default: %(default)s)")
    parser.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initialisation and sampling (default: 0)")
    parser.add_argument("--eval-frames", type=int, default=eval_frames,
                        help=f"frames held out of training (the split's last videos) to report {eval_measure} on "
                             "(default: %(default)s)")
    parser.add_argument("--eval-every", type=int, default=0,
                        help="also report held-out IoU every N steps (default: only at the end)")
    parser.add_argument("--size", default="tiny", help=f"{model} size to train (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's choice); 1 is much faster when other jobs "
                             "share the cores")


def prepare(args: argparse.Namespace):
    """Check ``--device``, apply ``--threads`` and check ``--data`` exists; returns the torch device."""
    from groprompt.devices import resolve_device

    device = resolve_device(args.device)
    set_threads(args.threads)
    if not args.data.is_dir():
        raise GroPromptError("dataset root not found", path=args.data,
                             fix="generate it first (groprompt synrvos --out DIR) or correct --data")
    return device


def set_threads(threads: int | None) -> None:
    """Apply ``--threads`` (None: leave torch's choice)."""
    if threads is None:
        return
    if threads < 1:
        raise GroPromptError(f"--threads must be >= 1, got {threads}", fix="pass --threads 1 or more")
    import torch

    torch.set_num_threads(threads)
