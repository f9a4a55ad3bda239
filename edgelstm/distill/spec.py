"""What a distillation run trains: the student's shape and the training settings (saved with the run)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from edgelstm.distill.fake_quant import FakeQuantSpec
from edgelstm.errors import ConfigError


@dataclass(frozen=True)
class StudentSpec:
    cell: str = "gru"
    hidden_size: int = 16
    num_layers: int = 1
    bidirectional: bool = False
    proj_size: int = 0


@dataclass(frozen=True)
class DistillConfig:
    student: StudentSpec = field(default_factory=StudentSpec)
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 3e-3
    alpha: float = 0.7  # weight of the teacher term against the labels
    temperature: float = 2.0
    huber: bool = False
    grad_clip: float = 1.0
    patience: int = 3  # epochs without validation improvement before stopping
    seed: int = 0
    checkpoint_every: int = 20  # steps between resumable states
    # Weight of matching the teacher's final top-layer hidden state through a learned linear projection
    # (student width -> teacher width); the projection is trained with the student and not exported.
    hidden_weight: float = 0.0
    # Train through the rounding of the int8 scheme the student will be exported with (None: plain float).
    fake_quant: FakeQuantSpec | None = None
    # Teacher outputs for the whole training set are computed once when they fit in this many MB, else per batch
    # (a character LM's per-step distributions are N x T x vocab floats).
    teacher_cache_mb: int = 256
    # A trained student checkpoint of the same spec to start from (e.g. quantization-aware fine-tuning).
    init_from: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.temperature <= 0 or self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("temperature, epochs and batch_size must be positive")
        if self.hidden_weight < 0:
            raise ConfigError(f"hidden_weight must be >= 0, got {self.hidden_weight}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
