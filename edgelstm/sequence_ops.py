"""Small tensor helpers for padded variable-length batches (batch-first)."""

from __future__ import annotations

import torch
from torch import Tensor


def step_mask(lengths: Tensor, batch: int, steps: int, device: torch.device | None = None) -> Tensor:
    """Boolean [B, T] mask, True where step t < length of sequence b."""
    positions = torch.arange(steps, device=device).unsqueeze(0).expand(batch, steps)
    return positions < lengths.to(device=device).unsqueeze(1)


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of a batch-first tensor within its own length; padding stays in place."""
    if lengths is None:
        return x.flip(1)
    batch, steps = x.shape[0], x.shape[1]
    positions = torch.arange(steps, device=x.device).unsqueeze(0).expand(batch, steps)
    lens = lengths.to(x.device).unsqueeze(1)
    index = torch.where(positions < lens, lens - 1 - positions, positions)
    index = index.view(batch, steps, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)
