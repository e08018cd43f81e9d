"""Data-parallel training under ``torchrun`` (paper: 8 GPUs, one clip each): process group, device, collectives.

``torchrun --nproc_per_node N -m groprompt.cli train ...`` starts N processes with ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK`` in their environment; :func:`setup_distributed` joins them into one process group (``nccl`` on CUDA,
``gloo`` on CPU). Without those variables it is a single process and every collective is a no-op. Each rank
trains on its share of the clips (:class:`groprompt.training.clips.ClipSampler`), ``DistributedDataParallel``
averages the gradients, and only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from groprompt.devices import resolve_device


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: its rank among ``world_size`` processes and the device it trains on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and shows progress (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """The element-wise sum of ``values`` over all ranks (a copy; ``values`` itself is left alone)."""
        values = values.detach().clone()
        if self.distributed:
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values

    def gather(self, item: Any) -> list[Any]:
        """``[item of rank 0, item of rank 1, ...]`` on every rank (picklable items)."""
        if not self.distributed:
            return [item]
        items: list[Any] = [None] * self.world_size
        dist.all_gather_object(items, item)
        return items


def _device(requested: str | None, local_rank: int, world_size: int) -> torch.device:
    if requested is None:
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    device = resolve_device(requested)
    if device.type == "cuda":
        if world_size > 1 or device.index is None:
            device = torch.device("cuda", local_rank if world_size > 1 else torch.cuda.current_device())
        torch.cuda.set_device(device)
    return device


def setup_distributed(device: str | None = None) -> DistributedContext:
    """Join the ``torchrun`` process group if the environment has one; pick this process's device.

    Args:
        device: ``cpu``, ``cuda`` or ``cuda:N``; None picks CUDA when available. Under ``torchrun`` with CUDA
            each rank takes ``cuda:LOCAL_RANK``.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = _device(device, local_rank, world_size)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if chosen.type == "cuda" else "gloo", rank=rank,
                                world_size=world_size)
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank, device=chosen)


def teardown_distributed(context: DistributedContext) -> None:
    """Leave the process group (after the last collective)."""
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()
