"""Where the student trains: one process (CPU or a GPU), or `torchrun` processes under DistributedDataParallel.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR; we only read them. Backend: NCCL when every
process has its own GPU, gloo otherwise (CPU, also for tests with several CPU processes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from edgelstm.errors import ConfigError


@dataclass(frozen=True)
class TrainingPlace:
    """Where this training process runs: its device, rank and world size (one process unless distributed)."""

    device: torch.device
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes checkpoints and reports (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether more than one process trains."""
        return self.world_size > 1

    def shard(self, batch: np.ndarray) -> np.ndarray:
        """This process's share of a global batch (strided, so shares differ in size by at most one)."""
        return batch[self.rank :: self.world_size]

    def barrier(self) -> None:
        """Wait for every process (no-op when training alone)."""
        if self.distributed:
            dist.barrier()


def resolve_device(name: str) -> torch.device:
    """The torch device for `--device` (auto: CUDA when available, else CPU)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:  # torch's message lists every device type it knows; ours lists what --device takes
        raise ConfigError(f"--device {name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but this torch build sees no CUDA GPU")
    return device


def training_place(device: str = "auto") -> TrainingPlace:
    """The process's place: joins the torchrun group when launched by torchrun, else a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return TrainingPlace(resolve_device(device))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    chosen = resolve_device(device)
    if chosen.type == "cuda":
        chosen = torch.device("cuda", local_rank)
        torch.cuda.set_device(chosen)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if chosen.type == "cuda" else "gloo")
    return TrainingPlace(chosen, rank, world_size)


def leave_group(place: TrainingPlace) -> None:
    """Tear down the process group this process joined, if any."""
    if place.distributed and dist.is_initialized():
        dist.destroy_process_group()
