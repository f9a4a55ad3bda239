"""What `check` runs and how far: providers, stress cases, chunking, the bounds on memory and time, the evidence rule."""

from __future__ import annotations

from dataclasses import dataclass

from edgelstm.artifact.runners import PROVIDERS
from edgelstm.errors import ConfigError


@dataclass(frozen=True)
class CheckConfig:
    """Settings of `run_check`, validated on construction and written into every report."""

    providers: tuple[str, ...] = ("cpu",)
    allow_missing: tuple[str, ...] = ()
    task: str = "auto"  # auto | classify | regress | none
    stress: bool = True
    chunk_sizes: tuple[int, ...] = (1, 7, 32)
    long_factor: int = 10
    # Memory and time are bounded by design, not by the data: the long stress case adds at most this many steps
    # beyond the longest sequence (10x of 100,000 steps took 21 GB), streaming graphs take long inputs in chunks
    # of `chunk_steps` with the state carried, and the error-vs-time profile runs at most `profile_step_budget`
    # prefix steps in all (fewer prefix lengths on long inputs).
    long_max_extra_steps: int = 2048
    stress_max_steps: int = 4096  # the zero, large and ragged cases probe conditions, not length
    chunk_steps: int = 8192
    time_points: int = 24
    profile_step_budget: int = 1_000_000
    streaming_steps: int = 256
    reference_limit: int = 32  # onnx.reference is pure Python: it runs at most this many sequences per case
    reference_max_steps: int = 4096  # ... and at most this many steps of each
    threads: int = 1
    seed: int = 0
    # Task checks: a pass must also show its 95 % interval inside the limit, else it is inconclusive
    # (by default only a failure has to: see evidence_strength).
    strict_evidence: bool = False

    def __post_init__(self) -> None:
        if not self.providers:
            raise ConfigError(f"no providers to check on; choose from {', '.join(PROVIDERS)}")
        unknown = [p for p in (*self.providers, *self.allow_missing) if p not in PROVIDERS]
        if unknown:
            raise ConfigError(f"unknown provider(s) {', '.join(unknown)}; choose from {', '.join(PROVIDERS)}")
        sizes = ("long_max_extra_steps", "stress_max_steps", "chunk_steps", "time_points", "profile_step_budget")
        for name in (*sizes, "streaming_steps", "reference_limit", "reference_max_steps", "long_factor"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.task not in ("auto", "classify", "regress", "none"):
            raise ConfigError(f"task={self.task!r}: choose auto, classify, regress or none")
