"""Inputs the parity gate runs: the user's real data plus generated stress cases.

Stress cases target what breaks recurrent exports: sequences 10x longer than any seen (error that grows with
time), zero input, large-magnitude input (saturated gates), random lengths in one padded batch, batch size 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgelstm.loading import InputSignature
from edgelstm.parity.data import SequenceData


@dataclass(frozen=True)
class InputCase:
    """One input the gate runs: sequences, their lengths, labels, and whether task metrics judge it."""

    name: str
    x: np.ndarray
    lengths: np.ndarray | None
    y: np.ndarray | None
    description: str
    task_metrics: bool = False  # real data: also judged on task-level agreement

    @property
    def batch(self) -> int:
        """How many sequences the case holds."""
        return int(self.x.shape[0])

    @property
    def steps(self) -> int:
        """The padded length of the case's sequences."""
        return int(self.x.shape[1])

    @property
    def ragged(self) -> bool:
        """Whether some sequence is shorter than the padded length (lengths then matter)."""
        return self.lengths is not None and bool((self.lengths != self.steps).any())

    def info(self) -> CaseInfo:
        """What the report records of the case: its name, size and description, not its data."""
        return CaseInfo(self.name, self.batch, self.steps, self.ragged, self.description)


@dataclass(frozen=True)
class CaseInfo:
    """A case as the report lists it: name, batch, steps, ragged, description."""

    name: str
    batch: int
    steps: int
    ragged: bool
    description: str


def build_cases(
    data: SequenceData | None,
    signature: InputSignature,
    stress: bool = True,
    long_factor: int = 10,
    seed: int = 0,
    long_max_extra: int | None = None,
    stress_max_steps: int | None = None,
) -> list[InputCase]:
    """`long_max_extra`: the long case is at most this many steps longer than the longest sequence; the zero,
    large and ragged cases test conditions, not length, and run at most `stress_max_steps` (None: no caps)."""
    rng = np.random.default_rng(seed)
    if data is None:
        x = _random_inputs(rng, signature, 8, signature.example_steps)
        data = SequenceData(x, None, None, "synthetic (no --data given)")
        base = InputCase("random", x, None, None, f"8 synthetic sequences of {x.shape[1]} steps (no --data given)")
    else:
        base = InputCase("data", data.x, data.lengths, data.y, f"{data.count} sequences from {data.source}", task_metrics=True)
    cases = [base]
    if not stress:
        return cases
    lengths = data.lengths if data.lengths is not None else np.full(data.count, data.max_steps)
    longest = int(lengths.max())
    tokens = signature.kind == "tokens"
    long_steps = long_factor * longest
    how = f"{long_factor}x the longest seen"
    if long_max_extra is not None and long_steps > longest + long_max_extra:
        long_steps, how = longest + long_max_extra, f"the longest seen + {long_max_extra}"
    cases.append(
        InputCase(
            "long",
            _concatenate_sequences(rng, data.x, lengths, 2, long_steps),
            None,
            None,
            f"2 sequences of {long_steps} steps ({how}), real data end to end",
        )
    )
    short = min(longest, stress_max_steps) if stress_max_steps is not None else longest
    zeros = np.zeros((2, short, *data.x.shape[2:]), dtype=data.x.dtype)
    cases.append(InputCase("zeros", zeros, None, None, f"all-zero input, 2 x {short} steps"))
    if not tokens:
        large = data.x[: min(4, data.count), :short] * 10.0
        cases.append(InputCase("large", large.astype(np.float32), None, None, "real inputs x10 (saturates the gates)"))
    picks = rng.integers(0, data.count, size=8)
    ragged_x = data.x[picks, :short]
    ragged_lengths = rng.integers(1, short + 1, size=8)
    ragged_lengths[0] = short
    cases.append(
        InputCase("ragged", ragged_x, ragged_lengths.astype(np.int64), None, "8 sequences, random lengths in one padded batch")
    )
    one_len = None if data.lengths is None else data.lengths[:1]
    cases.append(InputCase("batch1", data.x[:1], one_len, None, "a single sequence (batch size 1)"))
    return cases


def _random_inputs(rng: np.random.Generator, signature: InputSignature, batch: int, steps: int) -> np.ndarray:
    """Random sequences of the model's signature (token ids or features), for the synthetic cases."""
    if signature.kind == "tokens":
        return rng.integers(0, signature.size, size=(batch, steps), dtype=np.int64)
    return rng.standard_normal((batch, steps, signature.size)).astype(np.float32)


def _concatenate_sequences(rng: np.random.Generator, x: np.ndarray, lengths: np.ndarray, batch: int, steps: int) -> np.ndarray:
    """Real sequences joined end to end (valid steps only) until `steps` long."""
    rows = []
    for _ in range(batch):
        pieces, total = [], 0
        while total < steps:
            i = int(rng.integers(0, len(x)))
            piece = x[i, : int(lengths[i])]
            pieces.append(piece)
            total += len(piece)
        rows.append(np.concatenate(pieces, axis=0)[:steps])
    return np.stack(rows)
