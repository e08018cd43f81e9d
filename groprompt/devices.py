"""Devices by name: one check, shared by every step that takes ``--device``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from groprompt.errors import GroPromptError

if TYPE_CHECKING:
    import torch


def resolve_device(name: str) -> torch.device:
    """``torch.device(name)``, or a named error for a malformed name or a CUDA device on a machine without one."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise GroPromptError(f"unknown device {name!r} ({error})", fix="use cpu, cuda or cuda:<index>") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GroPromptError(f"device {name!r} requested but no CUDA device is available here",
                             fix="pass --device cpu (or --option device=cpu), or run on a machine with a GPU")
    return device
