"""How an artifact was exported, as its metadata records it: form, implementation, opset and options.

Read by every command that opens an artifact (its metadata carries an ExportConfig), so it lives in the core;
export/ builds graphs from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from edgelstm.errors import ConfigError
from edgelstm.jsonio import json_meta

Form = Literal["sequence", "streaming"]
Impl = Literal["auto", "fused", "loop", "unrolled"]

FORMS: tuple[str, ...] = ("sequence", "streaming")
IMPLS: tuple[str, ...] = ("auto", "fused", "loop", "unrolled")

# Opset 17: every op we emit exists in this form since opset 14 (LSTM/GRU `layout`, CumSum, Split with a
# sizes input) and opset 17 is what torch.onnx's TorchScript exporter emits by default, so native and foreign
# exports share one opset. ORT Mobile, CoreML and NNAPI execution providers all run opset 17.
DEFAULT_OPSET = 17
SUPPORTED_OPSETS = range(14, 22)


@dataclass(frozen=True)
class ExportConfig:
    """How to export.

    form: "sequence" (whole padded sequences, optional lengths) or "streaming" (chunk in, state in/out).
    impl: "fused" ONNX LSTM/GRU ops (fastest in ONNX Runtime), "loop" MatMul + gates in a Loop (for quantization
          and accelerators without fused RNN kernels), or "auto" (fused where it expresses the model exactly).
          "unrolled": the loop form written out for a fixed number of steps (`fixed_steps`), with no control flow,
          for static QDQ quantization and accelerators that reject Loop (NNAPI, QNN); sequence form only.
    with_lengths: sequence form only: add a `lengths [batch]` input for variable-length padded batches.
    with_state_inputs: sequence form only: add initial-state inputs (the streaming form always has them).
    """

    form: Form = "sequence"
    impl: Impl = "auto"
    opset: int = DEFAULT_OPSET
    with_lengths: bool = True
    with_state_inputs: bool = False
    fixed_steps: int | None = None  # the time axis of an unrolled graph
    fixed_batch: int | None = None  # unrolled only: a fixed batch too, for accelerators that need static shapes
    # The model's training standardisation ((x - mean) / std from preprocessing.json) as the graph's first op, so an
    # app feeds the raw features its sensors give; written into the export config only when turned off.
    normalize_input: bool = field(default=True, metadata=json_meta(omit_if=bool))  # omitted when on

    def __post_init__(self) -> None:
        if (self.impl == "unrolled") != (self.fixed_steps is not None):
            raise ConfigError("impl=unrolled needs fixed_steps (the sequence length it is unrolled for), and only it takes one")
        if self.fixed_steps is not None and not 1 <= self.fixed_steps <= 4096:
            raise ConfigError(f"fixed_steps must be in 1..4096, got {self.fixed_steps}")
        if self.fixed_batch is not None and (self.impl != "unrolled" or self.fixed_batch < 1):
            raise ConfigError("fixed_batch (>= 1) is for impl=unrolled only")
        if self.impl == "unrolled" and self.form != "sequence":
            raise ConfigError("impl=unrolled is available for the sequence form only")
        if self.form not in FORMS:
            raise ConfigError(f"form={self.form!r} is not supported; choose one of: {', '.join(FORMS)}")
        if self.impl not in IMPLS:
            raise ConfigError(f"impl={self.impl!r} is not supported; choose one of: {', '.join(IMPLS)}")
        if self.opset not in SUPPORTED_OPSETS:
            raise ConfigError(
                f"opset {self.opset} is not supported; choose {SUPPORTED_OPSETS.start}..{SUPPORTED_OPSETS.stop - 1}"
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExportConfig:
        """An export config read back from a graph's metadata."""
        return cls(**data)
