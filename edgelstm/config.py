"""Typed model configuration for the edgelstm model family; round-trips through JSON."""

from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal

from edgelstm.errors import ConfigError, first_line
from edgelstm.jsonio import to_jsonable

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
        """Whether the head reduces the sequence to one vector (classify, forecast) instead of one output per step."""
        return self.kind in ("classify", "forecast")

    def validate(self) -> None:
        """Refuse an unknown head kind or pooling with a ConfigError, before any weights are built."""
        _check_str("head.kind", self.kind)
        _check_str("head.pooling", self.pooling)
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
        """2 for a bidirectional recurrent layer, else 1: the factor in state and output sizes."""
        return 2 if self.bidirectional else 1

    @property
    def output_hidden_size(self) -> int:
        """Size of h (and of each direction's per-step output): proj_size when projecting."""
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    @property
    def recurrent_output_size(self) -> int:
        """The feature size the recurrent stack hands to the head (both directions concatenated)."""
        return self.output_hidden_size * self.num_directions

    @property
    def has_cell_state(self) -> bool:
        """Whether the cell carries a cell state c beside h (LSTM and peephole LSTM do; GRU and RNN do not)."""
        return self.cell in ("lstm", "peephole")

    def validate(self) -> None:
        """Refuse an inconsistent config (unknown cell, sizes, head) with a ConfigError naming the field."""
        _check_str("cell", self.cell)
        _check_str("input_kind", self.input_kind)
        _check_choice("cell", self.cell, CELL_TYPES)
        _check_choice("input_kind", self.input_kind, INPUT_KINDS)
        _check_positive("input_size", self.input_size)
        _check_positive("hidden_size", self.hidden_size)
        _check_positive("num_layers", self.num_layers)
        if not isinstance(self.bidirectional, bool):
            raise ConfigError(f"bidirectional must be true or false, got {self.bidirectional!r}")
        _check_int("proj_size", self.proj_size)
        _check_int("vocab_size", self.vocab_size)
        if not isinstance(self.dropout, (int, float)) or isinstance(self.dropout, bool) or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
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

    def parameter_count(self) -> int:
        """Parameters of the `SequenceModel` this config builds, computed without building it."""
        gates = {"lstm": 4, "peephole": 4, "gru": 3}[self.cell]
        hidden, out = self.hidden_size, self.output_hidden_size
        total = self.vocab_size * self.input_size if self.input_kind == "tokens" else 0
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else self.recurrent_output_size
            per_direction = gates * hidden * (layer_input + out + 2)
            per_direction += out * hidden if self.proj_size > 0 else 0
            per_direction += 3 * hidden if self.cell == "peephole" else 0
            total += per_direction * self.num_directions
        head_outputs = self.head.num_outputs * self.head.horizon
        return total + head_outputs * (self.recurrent_output_size + 1)

    def to_json(self) -> str:
        """The config as stable JSON text (sorted keys), so the same config always writes the same bytes."""
        return json.dumps(to_jsonable(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """A validated config from JSON data; unknown or missing fields are a ConfigError, not silently defaulted."""
        if not isinstance(data, dict):
            raise ConfigError(f"model config must be a JSON object, got {type(data).__name__}")
        _refuse_unknown_fields(data, cls, "model config")
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        missing = [name for name in required if name not in data]
        if missing:
            raise ConfigError(f"incomplete model config: missing required field(s): {', '.join(missing)}")
        payload = dict(data)
        head = payload.get("head", {})
        if not isinstance(head, dict):
            raise ConfigError(f"head must be a JSON object, got {type(head).__name__}")
        _refuse_unknown_fields(head, HeadConfig, "head config")
        payload["head"] = HeadConfig(**head)
        return cls(**payload)

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelConfig:
        """A validated config from JSON text or bytes; malformed text is a ConfigError."""
        try:
            data = json.loads(text)
        except UnicodeDecodeError:
            raise ConfigError("model config is not UTF-8 text (a binary file?)") from None
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ConfigError(f"model config is not valid JSON: {first_line(exc)}") from None
        return cls.from_dict(data)


@dataclass(frozen=True)
class Preprocessing:
    """What an app must do to raw inputs before the model sees them, and how to name its outputs."""

    feature_mean: list[float] | None = None
    feature_std: list[float] | None = None
    labels: list[str] | None = None
    sample_rate_hz: float | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        """Preprocessing from JSON data; unknown fields are a ConfigError so a typo is never ignored."""
        if not isinstance(data, dict):
            raise ConfigError(f"preprocessing must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown preprocessing field(s): {', '.join(unknown)}")
        for name in ("feature_mean", "feature_std"):
            values = data.get(name)
            if values is not None and not (isinstance(values, list) and all(_is_number(v) for v in values)):
                raise ConfigError(f"preprocessing {name} must be a list of numbers")
        labels = data.get("labels")
        if labels is not None and not (isinstance(labels, list) and all(isinstance(v, str) for v in labels)):
            raise ConfigError("preprocessing labels must be a list of strings")
        rate = data.get("sample_rate_hz")
        if rate is not None and not _is_number(rate):
            raise ConfigError(f"preprocessing sample_rate_hz must be a number, got {rate!r}")
        return cls(**data)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_str(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, got {value!r}")


def _check_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{name} must be an integer, got {value!r}")


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not supported; choose one of: {', '.join(choices)}")


def _check_positive(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def _refuse_unknown_fields(data: dict[str, Any], cls: type, what: str) -> None:
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise ConfigError(f"unknown {what} field(s): {', '.join(unknown)}")
