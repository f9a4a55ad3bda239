"""The typed description of what a graph takes and returns: tensor specs, state pairs, the graph interface.

The interface every command reads (`GraphInterface`), whether the graph is edgelstm's own or one made elsewhere
(`ValueInfo`/`StatePair`: a foreign graph's declared inputs and outputs and its state pairs, before the probe).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from edgelstm.artifact.export_config import Form
from edgelstm.errors import ConfigError
from edgelstm.jsonio import is_empty, is_none, json_meta
from edgelstm.state import StateSpec

Dim = int | str  # a fixed size, a symbolic name, or "?" when the graph leaves it unnamed


@dataclass(frozen=True)
class ValueInfo:
    """A graph input or output as the file declares it."""

    name: str
    dtype: str
    shape: tuple[Dim, ...]

    @property
    def rank(self) -> int:
        """The number of axes of the value."""
        return len(self.shape)


@dataclass(frozen=True)
class StatePair:
    """An input and the output that carries its next value (a recurrent state), declared or detected by name."""

    input: str
    output: str
    declared: bool = False  # given by the user rather than detected by name


RAW_INPUT_NOTE = "input: raw features, normalised inside ((x - mean) / std as in training)"


@dataclass(frozen=True)
class InputNormalization:
    """The standardisation a graph applies to its data input before the recurrent stack: (x - mean) / std per feature.

    Recorded in the interface so every feeder knows the graph takes raw features, and what the model itself saw.
    """

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("note",)  # written after the fields
    note: ClassVar[str] = RAW_INPUT_NOTE

    mean: list[float]
    std: list[float]

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or not self.mean:
            raise ConfigError(
                f"input normalization needs one mean and one std per feature, got {len(self.mean)} and {len(self.std)}"
            )
        values = np.asarray([*self.mean, *self.std], np.float64)
        if not np.isfinite(values).all() or (np.asarray(self.std) <= 0).any():
            raise ConfigError(
                "input normalization needs finite means and finite, positive stds (the model's preprocessing "
                "feature_mean/feature_std); fix preprocessing.json, or export with --no-normalize-in-graph"
            )

    def arrays(self, dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std as arrays of `dtype`, ready to normalise raw input the way the graph expects."""
        return np.asarray(self.mean, dtype), np.asarray(self.std, dtype)

    def standardize(self, raw: np.ndarray) -> np.ndarray:
        """What the graph's Sub/Div computes, in raw's float dtype: (raw - mean) / std."""
        mean, std = self.arrays(raw.dtype)
        return (raw - mean) / std

    def raw_from_standardized(self, x: np.ndarray) -> np.ndarray:
        """Data in the model's (standardised) space as the raw features the graph takes: x * std + mean."""
        mean, std = self.arrays(x.dtype)
        return (x * std + mean).astype(x.dtype)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputNormalization:
        """Normalization from JSON data; a missing or malformed mean/std is a ConfigError."""
        if not isinstance(data, dict):
            raise ConfigError(f"input normalization must be a JSON object, got {type(data).__name__}")
        mean, std = data.get("mean"), data.get("std")
        for name, values in (("mean", mean), ("std", std)):
            if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                raise ConfigError(f"input normalization {name} must be a list of numbers")
        return cls([float(v) for v in mean], [float(v) for v in std])  # type: ignore[union-attr]


@dataclass(frozen=True)
class TensorSpec:
    """A graph input or output: name, element type and shape with symbolic axes ("batch", "time", "chunk")."""

    name: str
    dtype: str
    shape: list[int | str]
    description: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TensorSpec:
        """A tensor spec read back from metadata JSON."""
        return cls(**data)


def _is_batch_first(layout: str) -> bool:
    """`omit_if` for the layout: batch-first (every graph before issue 21's time-major one) is not written."""
    return layout == "batch_first"


@dataclass(frozen=True)
class GraphInterface:
    """Everything an app needs to call a graph: inputs, outputs, the state it must carry and the constants it takes.

    `constants`: scalar inputs fixed for this graph (silero's `sr=16000`), fed on every call.
    `chunk`: the data length per call a foreign streaming graph was confirmed to run at (None: any length).
    `context`: samples of the previous chunk each call sees before its own (silero-vad 5+ takes 64 at 16 kHz:
    its data input is context + chunk long), zeros before the first chunk.
    `normalization`: the graph standardises its data input itself (it takes raw features); None: it takes what the
    model took. `layout`: "time_major" when the data input and the per-step outputs have time on axis 0 and batch on
    axis 1 (issue 21's slim streaming graph: no Transpose per call); callers still hold data batch-first and go
    through `edgelstm.artifact.layout`. All five are written only when set, so the metadata of graphs without them
    keeps its bytes.
    """

    form: Form
    # unknown: an ONNX file not written by edgelstm; foreign: such a file whose interface was described and probed
    impl: Literal["fused", "loop", "unrolled", "torch.onnx", "unknown", "foreign", "litert"]
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    states: list[StateSpec] = field(default_factory=list)
    constants: dict[str, float | int] = field(default_factory=dict, metadata=json_meta(omit_if=is_empty))
    chunk: int | None = field(default=None, metadata=json_meta(omit_if=is_none))
    context: int = field(default=0, metadata=json_meta(omit_if=is_empty))
    normalization: InputNormalization | None = field(
        default=None, metadata=json_meta(name="input_normalization", omit_if=is_none)
    )
    layout: Literal["batch_first", "time_major"] = field(default="batch_first", metadata=json_meta(omit_if=_is_batch_first))

    @property
    def data_input(self) -> TensorSpec:
        """The input that carries the data: the first one that is not a state, a constant or `lengths`."""
        fed = {s.input_name for s in self.states} | set(self.constants) | {"lengths"}
        return next((t for t in self.inputs if t.name not in fed), self.inputs[0])

    @property
    def frames_first(self) -> bool:
        """The data's axis 0 is frames, not batch (silero's sequence graph `input [frames, 576]`, states of batch
        1): the graph runs at batch 1, so data rows are separate streams fed one at a time."""
        shape = self.data_input.shape
        return bool(shape) and shape[0] == "frames"

    @property
    def fixed_batch(self) -> int | None:
        """The one batch size the graph runs at, when it has one: 1 for a frames-first graph."""
        return 1 if self.frames_first else None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GraphInterface:
        """An interface read back from metadata; malformed constants are a ConfigError."""
        constants = data.get("constants") or {}  # absent in metadata written before foreign graphs
        if not isinstance(constants, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in constants.values()
        ):
            raise ConfigError("interface constants must map input names to numbers")
        chunk = data.get("chunk")
        if chunk is not None and (not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1):
            raise ConfigError(f"interface chunk must be a positive integer, got {chunk!r}")
        context = data.get("context", 0)
        if not isinstance(context, int) or isinstance(context, bool) or context < 0:
            raise ConfigError(f"interface context must be a non-negative integer, got {context!r}")
        layout = data.get("layout", "batch_first")  # absent: every graph written before issue 21's time-major one
        if layout not in ("batch_first", "time_major"):
            raise ConfigError(f"interface layout must be batch_first or time_major, got {layout!r}")
        return cls(
            form=data["form"],
            impl=data["impl"],
            inputs=[TensorSpec.from_dict(t) for t in data["inputs"]],
            outputs=[TensorSpec.from_dict(t) for t in data["outputs"]],
            states=[StateSpec.from_dict(s) for s in data["states"]],
            constants=dict(constants),
            chunk=chunk,
            context=context,
            normalization=None
            if data.get("input_normalization") is None
            else InputNormalization.from_dict(data["input_normalization"]),
            layout=layout,
        )
