"""Refuse a benchmark that cannot fit in memory, with the numbers, before allocating anything.

`bench --steps 100000000` once asked numpy for 143 GiB and died with a MemoryError traceback. The estimate is
deliberately rough (inputs, per-step outputs and the recurrent activations the runtime keeps, for every variant
prepared at once); the limit is half of the memory available now, so a refusal is always a real problem.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from edgelstm.artifact.file import ArtifactInfo
from edgelstm.errors import ResourceLimitError

_GIB = 2**30
_DEFAULT_HIDDEN = 64  # when an artifact does not say how wide it is


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a bench run would need for inputs and activations, against the memory available."""

    needed_bytes: int
    available_bytes: int | None

    @property
    def limit_bytes(self) -> int | None:
        """Half of the available memory (None when unknown): a bench may not take more."""
        return None if self.available_bytes is None else self.available_bytes // 2

    @property
    def fits(self) -> bool:
        """Whether the run stays within the limit (always, when the memory available is unknown)."""
        return self.limit_bytes is None or self.needed_bytes <= self.limit_bytes


def available_memory() -> int | None:
    """Bytes of physical memory available now (None where the OS does not say)."""
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def bytes_per_step(info: ArtifactInfo) -> int:
    """float32 bytes one batch row costs per time step: its input, its outputs, and ~6 hidden-sized activations
    per recurrent layer (gates, h, c) that an LSTM/GRU kernel keeps for the sequence."""
    x_shape = info.interface.inputs[0].shape if info.interface.inputs else []
    features = x_shape[-1] if len(x_shape) >= 3 and isinstance(x_shape[-1], int) else 1
    outputs = info.interface.outputs[0].shape if info.interface.outputs else []
    out = outputs[-1] if outputs and isinstance(outputs[-1], int) else 1
    hidden, layers = _DEFAULT_HIDDEN, 1
    config = info.metadata.model_config if info.metadata else None
    if config is not None:
        hidden, layers = config.hidden_size * (2 if config.bidirectional else 1), config.num_layers
    return 4 * (features + out + 6 * hidden * layers)


def estimate(infos: Sequence[ArtifactInfo], batches: Sequence[int], steps: Sequence[int], copies: int) -> MemoryEstimate:
    """`copies`: how many variants per artifact hold their inputs at the same time (threads x baselines)."""
    per_row_step = max((bytes_per_step(i) for i in infos), default=4)
    needed = copies * len(infos) * sum(b * s for b in batches for s in steps) * per_row_step
    return MemoryEstimate(needed, available_memory())


def ensure_fits(result: MemoryEstimate, batches: Sequence[int], steps: Sequence[int]) -> None:
    """Raise ResourceLimitError, naming the sizes to lower, when the requested batches and steps would not fit."""
    if result.fits or result.available_bytes is None:
        return
    limit = result.available_bytes // 2
    raise ResourceLimitError(
        f"--steps {','.join(map(str, steps))} with --batches {','.join(map(str, batches))} needs about "
        f"{result.needed_bytes / _GIB:,.1f} GiB of inputs and activations, over the {limit / _GIB:,.1f} GiB "
        f"limit (half of the {result.available_bytes / _GIB:,.1f} GiB available); lower --steps or --batches"
    )
