"""What a distillation run trains: the student's shape and the training settings (saved with the run)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from edgelstm.distill.fake_quant import FakeQuantSpec
from edgelstm.errors import ConfigError


@dataclass(frozen=True)
class StudentSpec:
    """The student's architecture: cell, width, layers."""

    cell: str = "gru"
    hidden_size: int = 16
    num_layers: int = 1
    bidirectional: bool = False
    proj_size: int = 0


@dataclass(frozen=True)
class DistillConfig:
    """Everything a distill run is configured by: student, losses, schedule, data split and seed."""

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
        # Checked here, not in the CLI, so the API, the CLI and a recipe's [distill] table refuse the same values;
        # NaN compares false with everything, so every bound is written to fail for it.
        _check_number("learning rate (--lr)", self.learning_rate, above=0.0)
        _check_number("temperature (--temperature)", self.temperature, above=0.0)
        _check_number("grad_clip", self.grad_clip, above=0.0)
        _check_number("alpha (--alpha)", self.alpha, at_least=0.0, at_most=1.0)
        _check_number("hidden-state weight (--hidden-weight)", self.hidden_weight, at_least=0.0)
        for name, value, lowest in (
            ("epochs (--epochs)", self.epochs, 1),
            ("batch size (--batch-size)", self.batch_size, 1),
            ("patience (--patience)", self.patience, 1),
            ("seed (--seed)", self.seed, 0),
            ("checkpoint_every", self.checkpoint_every, 1),
            ("teacher_cache_mb", self.teacher_cache_mb, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
                raise ConfigError(f"{name} must be an integer >= {lowest}, got {value!r}")


def _check_number(
    name: str, value: object, above: float | None = None, at_least: float | None = None, at_most: float | None = None
) -> None:
    """Refuse a setting that is not a finite number in its range, naming the option."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (above is None or value > above) and (at_least is None or value >= at_least)  # type: ignore[operator]
    ok = ok and (at_most is None or value <= at_most)  # type: ignore[operator]
    if not ok:
        bounds = [f"> {above:g}" if above is not None else "", f">= {at_least:g}" if at_least is not None else ""]
        bounds.append(f"<= {at_most:g}" if at_most is not None else "")
        raise ConfigError(f"{name} must be a finite number {' and '.join(b for b in bounds if b)}, got {value!r}")
