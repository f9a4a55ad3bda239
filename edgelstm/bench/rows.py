"""A bench row: one artifact (or baseline) timed at one batch x length x thread count, with its settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from edgelstm.timing import Timing


@dataclass(frozen=True)
class LatencyResult:
    """One artifact (or baseline) at one batch x length x thread count. Times in milliseconds per call."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("sequences_per_s", "steps_per_s")  # derived values written after the fields

    name: str
    kind: str  # "artifact" | "baseline"
    provider: str
    batch: int
    steps: int
    threads: int
    mode: str  # "run" | "io_binding" | "torch" | "plain" (ORT's default options, no session entry; threads 0: ORT's pool)
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    samples: int
    # ORT's session.intra_op.allow_spinning; None where it is not an ORT setting (torch). Reports written before
    # spinning was recorded read as None.
    allow_spinning: bool | None = None
    # ORT's execution mode; in "parallel" rows `threads` counts inter-op threads (SessionSettings.for_threads).
    # Reports written before it was recorded, and torch rows, read as "sequential".
    execution_mode: str = "sequential"

    @classmethod
    def from_timing(
        cls,
        name: str,
        kind: str,
        provider: str,
        batch: int,
        steps: int,
        threads: int,
        mode: str,
        timing: Timing,
        allow_spinning: bool | None = None,
        execution_mode: str = "sequential",
    ) -> LatencyResult:
        """A bench row: the one timer's result with the settings it was measured under."""
        return cls(
            name, kind, provider, batch, steps, threads, mode, timing.p50_ms, timing.p90_ms, timing.p99_ms,
            timing.mean_ms, timing.samples, allow_spinning, execution_mode,
        )  # fmt: skip

    @property
    def sequences_per_s(self) -> float:
        """Sequences per second at the median latency (batch / p50)."""
        return self.batch / (self.p50_ms / 1e3)

    @property
    def steps_per_s(self) -> float:
        """Time steps per second at the median latency (batch x steps / p50)."""
        return self.batch * self.steps / (self.p50_ms / 1e3)
