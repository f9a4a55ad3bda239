"""Typed model configuration for the edgelstm model family; round-trips through JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from edgelstm.errors import ConfigError

CellType = Literal["lstm", "gru", "peephole"]
HeadType = Literal["classify", "forecast", "per_step", "lm"]
Pooling = Literal["last", "mean"]
InputKind = Literal["features", "tokens"]

CELL_TYPES: tuple[str, ...] = ("lstm", "gru", "peephole")
HEAD_TYPES: tuple[str, ...] = ("classify", "forecast", "per_step", "lm")
POOLINGS: tuple[str, ...] = ("last", "mean")
INPUT_KINDS: tuple[str, ...] = ("features", "tokens")


@dataclass(frozen=True)
class HeadConfig:
    """What the model predicts from the recurrent outputs.

    classify: one label per sequence, from the pooled representation -> [B, num_outputs]
    forecast: regression of `horizon` future steps from the pooled representation -> [B, horizon, num_outputs]
    per_step: one prediction per time step (tagging / per-step regression) -> [B, T, num_outputs]
    lm:       next-token logits per step -> [B, T, num_outputs] (num_outputs = vocabulary size)
    """

    kind: HeadType = "classify"
    num_outputs: int = 2
    pooling: Pooling = "last"
    horizon: int = 1

    @property
    def is_pooled(self) -> bool:
        return self.kind in ("classify", "forecast")

    def validate(self) -> None:
        _check_choice("head.kind", self.kind, HEAD_TYPES)
        _check_choice("head.pooling", self.pooling, POOLINGS)
        _check_positive("head.num_outputs", self.num_outputs)
        _check_positive("head.horizon", self.horizon)
        if self.kind != "forecast" and self.horizon != 1:
            raise ConfigError(f"head.horizon={self.horizon} only applies to the 'forecast' head, not '{self.kind}'")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a `SequenceModel`: input -> recurrent stack -> head."""

    input_size: int
    hidden_size: int
    cell: CellType = "lstm"
    num_layers: int = 1
    bidirectional: bool = False
    proj_size: int = 0
    dropout: float = 0.0
    input_kind: InputKind = "features"
    vocab_size: int = 0
    head: HeadConfig = field(default_factory=HeadConfig)

    def __post_init__(self) -> None:
        if isinstance(self.head, dict):  # convenience for hand-written configs
            object.__setattr__(self, "head", HeadConfig(**self.head))
        self.validate()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_hidden_size(self) -> int:
        """Size of h (and of each direction's per-step output): proj_size when projecting."""
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    @property
    def recurrent_output_size(self) -> int:
        return self.output_hidden_size * self.num_directions

    @property
    def has_cell_state(self) -> bool:
        return self.cell in ("lstm", "peephole")

    def validate(self) -> None:
        _check_choice("cell", self.cell, CELL_TYPES)
        _check_choice("input_kind", self.input_kind, INPUT_KINDS)
        _check_positive("input_size", self.input_size)
        _check_positive("hidden_size", self.hidden_size)
        _check_positive("num_layers", self.num_layers)
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.proj_size < 0:
            raise ConfigError(f"proj_size must be >= 0, got {self.proj_size}")
        if self.proj_size > 0:
            if self.cell != "lstm":
                raise ConfigError(f"proj_size is supported for cell='lstm' only, not '{self.cell}' (set proj_size=0)")
            if self.proj_size >= self.hidden_size:
                raise ConfigError(f"proj_size ({self.proj_size}) must be smaller than hidden_size ({self.hidden_size})")
        if self.input_kind == "tokens":
            _check_positive("vocab_size (required for input_kind='tokens')", self.vocab_size)
        elif self.vocab_size != 0:
            raise ConfigError("vocab_size only applies to input_kind='tokens'")
        if not isinstance(self.head, HeadConfig):
            raise ConfigError(f"head must be a HeadConfig, got {type(self.head).__name__}")
        self.head.validate()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"model config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown model config field(s): {', '.join(unknown)}")
        payload = dict(data)
        head = payload.get("head", {})
        if isinstance(head, dict):
            head_known = {f.name for f in fields(HeadConfig)}
            head_unknown = sorted(set(head) - head_known)
            if head_unknown:
                raise ConfigError(f"unknown head config field(s): {', '.join(head_unknown)}")
            payload["head"] = HeadConfig(**head)
        try:
            return cls(**payload)
        except TypeError as exc:  # missing required fields
            raise ConfigError(f"incomplete model config: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"model config is not valid JSON: {exc}") from None


@dataclass(frozen=True)
class Preprocessing:
    """What an app must do to raw inputs before the model sees them, and how to name its outputs."""

    feature_mean: list[float] | None = None
    feature_std: list[float] | None = None
    labels: list[str] | None = None
    sample_rate_hz: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown preprocessing field(s): {', '.join(unknown)}")
        return cls(**data)


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not supported; choose one of: {', '.join(choices)}")


def _check_positive(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
