"""Training checkpoints: one per epoch, written atomically, and the final prompter in the format inference loads.

An epoch checkpoint ``checkpoints/epoch_NNN.pt`` (``torch.save``, loadable with ``weights_only=True``) holds::

    format      "groprompt-train/1"
    epoch       completed epochs (1-based count); step: optimiser steps so far
    config      TrainingConfig.to_dict() of the run; run: its inputs (dataset, split, checkpoints, world size)
    prompter    {parameter name: tensor} of the prompter's trainable parameters only (the frozen rest is the
                --prompter checkpoint, reloaded on resume)
    head        the ModalCon head's state dict, or None
    optimizer, scheduler   their state dicts
    rng         per rank: python, numpy, torch CPU (and CUDA) generator states
    replicas    per rank: a digest of its trainable parameters (all equal, or data parallelism went wrong)

Because it is written only after an epoch completed and renamed into place, the newest readable checkpoint is
always a complete epoch. The final prompter is a Hugging Face folder (``config.json``, ``model.safetensors`` and
the tokenizer files) that :func:`groprompt.prompting.build_prompter` loads, frozen parts included.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from groprompt.errors import GroPromptError
from groprompt.files import atomic_torch_save
from groprompt.prompting.prompter import Prompter

CHECKPOINT_FORMAT = "groprompt-train/1"
_NAME = re.compile(r"^epoch_(\d{3,})\.pt$")


@dataclass(frozen=True)
class TrainingState:
    """What an epoch checkpoint restores (see the module docstring)."""

    epoch: int
    step: int
    config: dict[str, Any]
    run: dict[str, Any]
    prompter: dict[str, Tensor]
    head: dict[str, Tensor] | None
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: list[dict[str, Any]]
    replicas: list[str]


def parameter_digest(params: Sequence[Tensor]) -> str:
    """A 32-hex-digit digest of the values of ``params`` (in order): equal digests, equal weights."""
    digest = hashlib.blake2b(digest_size=16)
    for param in params:
        digest.update(param.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


def checkpoint_path(directory: Path, epoch: int) -> Path:
    return directory / f"epoch_{epoch:03d}.pt"


def epoch_checkpoints(directory: Path) -> list[Path]:
    """The epoch checkpoints in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    found = [(int(match.group(1)), path) for path in directory.iterdir() if (match := _NAME.match(path.name))]
    return [path for _, path in sorted(found)]


def trainable_state(prompter: Prompter) -> dict[str, Tensor]:
    """``{name: tensor}`` (CPU copies) of the detector's parameters with ``requires_grad``."""
    return {name: param.detach().cpu().clone() for name, param in prompter.detector.named_parameters()
            if param.requires_grad}


def load_trainable_state(prompter: Prompter, state: Mapping[str, Tensor], path: Path) -> None:
    """Copy a :func:`trainable_state` into the prompter; the names must be exactly its trainable ones."""
    params = {name: param for name, param in prompter.detector.named_parameters() if param.requires_grad}
    if set(params) != set(state):
        missing, extra = sorted(set(params) - set(state)), sorted(set(state) - set(params))
        raise GroPromptError(f"checkpoint's trainable parameters differ from the prompter's: missing {missing[:3]}, "
                             f"unexpected {extra[:3]}", path=path,
                             fix="resume with the --prompter checkpoint and config the run started with")
    with torch.no_grad():
        for name, param in params.items():
            if param.shape != state[name].shape:
                raise GroPromptError(f"checkpoint tensor {name} has shape {tuple(state[name].shape)}, the prompter's "
                                     f"is {tuple(param.shape)}", path=path,
                                     fix="resume with the --prompter checkpoint the run started with")
            param.copy_(state[name])


def capture_rng() -> dict[str, Any]:
    """This process's generator states (python, numpy, torch CPU, and CUDA when available)."""
    numpy_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
                  "pos": int(numpy_state["state"]["pos"]), "has_gauss": int(numpy_state["has_gauss"]),
                  "gauss": float(numpy_state["gauss"])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    """Set the generators to a :func:`capture_rng` state."""
    random.setstate(_as_tuple(state["python"]))
    saved = state["numpy"]
    np.random.set_state({"bit_generator": "MT19937",
                         "state": {"key": saved["key"].numpy().astype(np.uint32), "pos": saved["pos"]},
                         "has_gauss": saved["has_gauss"], "gauss": saved["gauss"]})
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value: Any) -> Any:
    # random.setstate needs the nested tuples that random.getstate made (the loader may give lists).
    return tuple(_as_tuple(item) for item in value) if isinstance(value, list | tuple) else value


def save_checkpoint(directory: Path, state: TrainingState, keep: int = 0) -> Path:
    """Write ``state`` as ``epoch_NNN.pt`` atomically; then delete all but the newest ``keep`` (0: keep all)."""
    path = checkpoint_path(directory, state.epoch)
    atomic_torch_save({"format": CHECKPOINT_FORMAT, **vars(state)}, path)
    if keep:
        for old in epoch_checkpoints(directory)[:-keep]:
            old.unlink()
    return path


def load_checkpoint(path: Path) -> TrainingState:
    """Read an epoch checkpoint; a foreign or unreadable file is a :class:`GroPromptError` naming it."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a file that is not a checkpoint
        raise GroPromptError(f"cannot read the training checkpoint ({type(error).__name__}: {error})", path=path,
                             fix="delete this file to resume from the epoch before it") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise GroPromptError(f"not a {CHECKPOINT_FORMAT} training checkpoint", path=path,
                             fix="point --out at a folder written by groprompt train")
    payload.pop("format")
    return TrainingState(**payload)


def module_state(module: nn.Module) -> dict[str, Tensor]:
    """A CPU copy of a module's state dict."""
    return {name: tensor.detach().cpu().clone() for name, tensor in module.state_dict().items()}


def export_prompter(prompter: Prompter, target: Path) -> Path:
    """Write the whole prompter as a Hugging Face folder (weights + config + tokenizer) at ``target``.

    The folder is written beside ``target`` under a temporary name and renamed into place, so a reader never
    sees a partial folder; an existing ``target`` is replaced.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        prompter.detector.save_pretrained(tmp)
        prompter.tokenizer.save_pretrained(tmp)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.replace(target, old / target.name)
            os.replace(tmp, target)
            shutil.rmtree(old)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return target
