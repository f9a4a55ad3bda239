"""What weight-only quantization did to each stored tensor: quantized (bytes before/after, error) or kept in float, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from edgelstm.quantize.stored_weight import CAST, DEQUANTIZE


@dataclass(frozen=True)
class QuantizedTensor:
    """One weight stored quantized: its storage, scales, bytes before and after and rounding error."""

    name: str
    op: str  # consumer op types, e.g. "LSTM" or "MatMul+Gemm" for a shared tensor
    shape: tuple[int, ...]
    storage: str  # int8 | int4
    axis: int  # int8: the channel axis; int4: the block axis
    block_size: int  # 0 for per-channel int8
    bytes_before: int
    bytes_after: int  # quantized values plus scales
    max_abs_error: float  # of the dequantized weight against the float one
    nodes: tuple[str, ...] = ()  # the nodes that use it as a weight
    rounding: str = "nearest"  # nearest | gptq (edgelstm.quantize.rounding)


@dataclass(frozen=True)
class KeptTensor:
    """A stored float tensor left as it was, with why (not a weight, or not smaller quantized)."""

    name: str
    shape: tuple[int, ...]
    reason: str


@dataclass
class WeightOnlyReport:
    """Every stored tensor weight-only quantization touched or kept, and the opsets before and after."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("bytes_before", "bytes_after")
    JSON_ORDER: ClassVar[tuple[str, ...]] = ("storage", "opset_before", "opset_after", "form", "bytes_before", "bytes_after")

    storage: str
    opset_before: int
    opset_after: int
    form: str = CAST  # how stored weights become float in the graph: CAST | DEQUANTIZE
    quantized: list[QuantizedTensor] = field(default_factory=list)
    kept: list[KeptTensor] = field(default_factory=list)

    @property
    def bytes_before(self) -> int:
        """Float bytes of the weights that were quantized."""
        return sum(t.bytes_before for t in self.quantized)

    @property
    def bytes_after(self) -> int:
        """Bytes of those weights once stored quantized (values and scales)."""
        return sum(t.bytes_after for t in self.quantized)

    def notes(self) -> list[str]:
        """One line each, for the quantize result."""
        ops = sorted({t.op for t in self.quantized})
        worst = max(self.quantized, key=lambda t: t.max_abs_error, default=None)
        how = {"int8": "per output channel", "int4": "blockwise"}.get(self.storage, "per layer")
        if self.storage == "int8" and (blocked := sum(bool(t.block_size) for t in self.quantized)):
            how = f"per output channel ({blocked} blockwise along input channels)"
        storage = self.storage
        if storage == "mixed":
            counts = {s: sum(t.storage == s for t in self.quantized) for s in ("int8", "int4")}
            storage = "mixed (" + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + ")"
        behind = (
            "expanded by Cast and Mul (ONNX Runtime folds them to float weights when a session starts, default options)"
            if self.form == CAST
            else "behind DequantizeLinear (float speed in ONNX Runtime only with session.disable_quant_qdq=1)"
        )
        notes = [
            f"{storage} weights {how} {behind}, float compute: {len(self.quantized)} tensors "
            f"({', '.join(ops)}), {self.bytes_before} -> {self.bytes_after} bytes"
        ]
        if worst is not None:
            notes.append(f"largest dequantization error {worst.max_abs_error:.3g} ({worst.name})")
        if self.storage != "mixed" and (fallback := [t.name for t in self.quantized if t.storage != self.storage]):
            notes.append(f"int8 per channel where no int4 block axis fits: {', '.join(fallback)}")
        if self.opset_after != self.opset_before:
            needs = "DequantizeLinear" if self.form == DEQUANTIZE else "int4 Cast" if self.opset_after >= 21 else "Expand/Slice"
            notes.append(f"opset {self.opset_before} -> {self.opset_after} (onnx.version_converter) for {needs}")
        if self.kept:
            notes.append(f"left in float: {len(self.kept)} tensors ({'; '.join(sorted({k.reason for k in self.kept}))})")
        return notes
