"""Numeric precision by name: one knob, ``fp32`` / ``tf32`` / ``bf16``, for every model of a step.

``groprompt infer --precision`` applies it to the prompter and SAM, ``groprompt train --precision`` to training's
forward passes; each run records it in its identity (a changed precision is another run) and SAM's embedding cache
keeps embeddings of different precisions apart (docs/architecture.md, "Precision and shared per-frame work").

* ``fp32``: IEEE float32 matrix products and convolutions (TF32 switched off for the call, whatever the process
  had set; PyTorch allows it for cuDNN convolutions by default).
* ``tf32``: float32 tensors, but CUDA matrix products and cuDNN convolutions may use TensorFloat-32 (10-bit
  mantissa inputs, float32 accumulation). A CPU has no TF32: there it computes exactly as ``fp32``.
* ``bf16``: bfloat16 autocast of the forward passes (weights, gradients and optimiser state stay float32: the
  "master weights" of mixed-precision training); matrix products outside autocast's bf16 list as ``fp32``.

The switches are set only for the duration of a :func:`float32_matmuls` block and restored after it, so a step
leaves the process as it found it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from groprompt.errors import GroPromptError

if TYPE_CHECKING:
    import torch

PRECISIONS = ("fp32", "tf32", "bf16")
"""The precisions a step accepts (``--precision``, the workflow config's ``precision``)."""
DEFAULT_PRECISION = "fp32"


def check_precision(name: str, where: str = "--precision") -> str:
    """``name`` if it is one of :data:`PRECISIONS`, else a :class:`GroPromptError` naming ``where``."""
    if name not in PRECISIONS:
        raise GroPromptError(f"unknown precision {name!r} ({where})", fix=f"choose one of: {', '.join(PRECISIONS)}")
    return name


@contextlib.contextmanager
def float32_matmuls(precision: str) -> Iterator[None]:
    """TF32 on for ``tf32``, off otherwise, for the block (CUDA matrix products and cuDNN convolutions)."""
    import torch

    check_precision(precision)
    before = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    tf32 = precision == "tf32"
    # set_float32_matmul_precision rather than torch.backends.cuda.matmul.allow_tf32: recent PyTorch refuses to
    # read a TF32 flag once the other of its two APIs has set it, and this one works under both.
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before[0])
        torch.backends.cudnn.allow_tf32 = before[1]


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on ``device``'s type for ``bf16``; a no-op context otherwise."""
    import torch

    if check_precision(precision) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def forward_precision(precision: str, device: torch.device) -> Iterator[None]:
    """Both at once, around an inference forward pass: :func:`float32_matmuls` and :func:`autocast`."""
    with float32_matmuls(precision), autocast(precision, device):
        yield
