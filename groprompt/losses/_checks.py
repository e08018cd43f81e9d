"""Shape checks shared by the losses: a wrong shape is a clear error before any arithmetic broadcasts it away."""

from __future__ import annotations

from torch import Tensor

from groprompt.errors import GroPromptError


def check_shape(tensor: Tensor, name: str, expected: tuple[int | None, ...]) -> tuple[int, ...]:
    """Return ``tensor``'s shape after checking it matches ``expected`` (None = any size on that axis)."""
    shape = tuple(tensor.shape)
    if len(shape) != len(expected) or any(want is not None and want != got for got, want in zip(shape, expected)):
        wanted = ", ".join("?" if want is None else str(want) for want in expected)
        raise GroPromptError(f"{name} has shape {shape}, expected ({wanted})",
                             fix="pass tensors shaped as the loss's docstring says")
    return shape
