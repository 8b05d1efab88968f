"""Process-group helpers, so one training entry point runs alone or under ``torchrun``.

``torchrun --nproc_per_node N -m pipelines.train`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``;
without them everything here is a no-op and the process is rank 0 of a world of 1. Launched by
torchrun, even a world of 1 joins a process group and trains through DDP, so
``torchrun --nproc_per_node 1`` exercises the distributed path (NCCL on one GPU).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """Where this process stands among the training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    launched: bool = False  # started by torchrun (its rendezvous variables are set)

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, checkpoints and writes the model; the others only train."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Under torchrun (or more than one process): a process group is joined, DDP wraps the model."""
        return self.size > 1 or self.launched


# What torchrun sets and ``init_process_group``'s default env:// rendezvous reads.
_RENDEZVOUS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def current_world() -> World:
    """The world described by torchrun's environment (a world of one without it)."""
    return World(
        rank=int(os.environ.get("RANK", "0")),
        size=int(os.environ.get("WORLD_SIZE", "1")),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        launched=all(name in os.environ for name in _RENDEZVOUS),
    )


def start(world: World, device: torch.device) -> None:
    """Join the process group (NCCL on CUDA, gloo on CPU) when there is more than one process."""
    if world.distributed and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def stop(world: World) -> None:
    """Leave the process group, after every rank has reached this point."""
    if world.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def device_for(world: World, device: torch.device) -> torch.device:
    """One GPU per local rank under torchrun; CPU stays CPU."""
    if device.type == "cuda" and world.distributed:
        return torch.device("cuda", world.local_rank)
    return device
