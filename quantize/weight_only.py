"""Weight-only quantization as an onnx-ir pass: weights stored int8 (per output channel) or int4 (per block) and
expanded to float by `Cast` + `Mul` at the head of the graph, compute stays float -- so a fused LSTM/GRU keeps its
float kernel and its speed.

Why Cast + Mul and not DequantizeLinear (issue 19): ONNX Runtime constant-folds Cast + Mul of stored tensors into
float weights when a session starts, in a default `InferenceSession(path)`; it folds DequantizeLinear only when the
session sets `session.disable_quant_qdq=1`, which a file cannot carry, and otherwise dequantizes on every call
(1.5-1.6x slower than float, measured). The file stays as small (the folded floats live in memory only).
`scripts/bench_weight_forms.py` measures both forms against float.

A stored tensor is a weight when every path from it reaches a weight slot (Conv/ConvTranspose W, MatMul B, Gemm B,
LSTM/GRU/RNN W, R and B) through ops that only move data (Slice, Concat, Unsqueeze, ...): torch exports an nn.LSTM's
gate reordering as Slice/Concat of the stored matrix (silero-vad), and the output-channel axis is followed through
them. A tensor that also feeds anything else (an Add's bias, a Mul) stays float; a fused op's B is a weight slot.

Small weights are quantized too when that makes the file smaller: a tensor stays float only when its int8/int4 bytes,
scales and the DequantizeLinear node that reads them would not be smaller than its float bytes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir

from edgelstm.errors import UnsupportedGraphError, first_line
from edgelstm.quantize.config import WeightOnlyConfig, WeightOnlyInt4Config, WeightOnlyMixedConfig
from edgelstm.quantize.plan import RoundingPlan

# Ops that only move or select data: the output-channel axis of a weight can be followed through them.
LAYOUT_OPS = frozenset({"Identity", "Slice", "Split", "Concat", "Unsqueeze", "Squeeze", "Transpose"})
FLOAT_TYPES = {ir.DataType.FLOAT: np.float32, ir.DataType.FLOAT16: np.float16}
# The opset each storage needs, per form. Cast form: Cast from INT4 needs 21; int8 needs Expand (8) and Slice with
# inputs (10) for blocks, so graphs older than 10 are converted. DequantizeLinear form: per-axis exists since 13 but
# onnx.reference implements it from 19 only, and published graphs must run there too (issue 11); block_size: 21.
CAST, DEQUANTIZE = "cast", "dequantize"
WEIGHT_FORMS = (CAST, DEQUANTIZE)
MIN_OPSET = {"int8": 10, "int4": 21}
DEQUANTIZE_MIN_OPSET = {"int8": 19, "int4": 21}
NOT_SELECTED = "not selected: kept in float by the per-layer choice"
# What one quantized tensor costs besides its values and scales in a compacted artifact (quantize/compact.py): the
# Cast and Mul nodes (~50 bytes with short names) and one more initializer header (~8); blocks add an Expand and a
# Reshape with their two shape tensors (and a Slice where the length is not a multiple of the block).
DEQUANTIZE_OVERHEAD_BYTES = 64
BLOCK_OVERHEAD_BYTES = 96
# Stored float tensors that are not weights (biases of Add, constants) are listed as kept from this size on only:
# the report is for what a user might have expected to shrink, not for every scalar.
KEPT_REPORT_ELEMENTS = 256


@dataclass(frozen=True)
class WeightSlot:
    """Where a stored tensor is used as a weight, in the stored tensor's own axes."""

    op: str
    channel_axis: int  # output channels: one int8 scale each
    reduce_axes: tuple[int, ...]  # summed over by the op: int4 blocks run along one of these
    node: str = ""  # the consuming node's name: a layer, for per-layer (mixed) precision


@dataclass(frozen=True)
class QuantizedTensor:
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
    name: str
    shape: tuple[int, ...]
    reason: str


@dataclass
class WeightOnlyReport:
    storage: str
    opset_before: int
    opset_after: int
    form: str = CAST  # how stored weights become float in the graph: CAST | DEQUANTIZE
    quantized: list[QuantizedTensor] = field(default_factory=list)
    kept: list[KeptTensor] = field(default_factory=list)

    @property
    def bytes_before(self) -> int:
        return sum(t.bytes_before for t in self.quantized)

    @property
    def bytes_after(self) -> int:
        return sum(t.bytes_after for t in self.quantized)

    def to_dict(self) -> dict[str, Any]:
        return {
            "storage": self.storage,
            "opset_before": self.opset_before,
            "opset_after": self.opset_after,
            "form": self.form,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "quantized": [asdict(t) for t in self.quantized],
            "kept": [asdict(t) for t in self.kept],
        }

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


class WeightOnlyQuantizePass(ir.passes.InPlacePass):
    """Replaces every float weight (subgraphs included) by quantized storage + DequantizeLinear."""

    def __init__(self, config: WeightOnlyConfig, form: str = CAST, plan: RoundingPlan | None = None) -> None:
        super().__init__()
        if form not in WEIGHT_FORMS:
            raise ValueError(f"unknown weight form {form!r}; choose from {', '.join(WEIGHT_FORMS)}")
        self.config = config
        self.form = form
        self.plan = plan
        self.report = WeightOnlyReport(config.storage, 0, 0, form)

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        names = {v.name for v in _all_values(model.graph) if v.name}
        corrected_biases: list[tuple[ir.Value, ir.Node | None]] = []
        for value, graph, constant_node in _stored_tensors(model.graph):
            tensor = value.const_value if constant_node is None else constant_node.attributes["value"].as_tensor()
            if tensor is None or tensor.dtype not in FLOAT_TYPES:
                continue
            array = tensor.numpy()
            if self.plan is not None and (value.name or "") in self.plan.bias:
                corrected_biases.append((value, constant_node))  # written once its weight is known to be quantized
            try:
                slots = _weight_slots(value, list(range(array.ndim)))
            except _NotAWeight as exc:
                if array.size >= max(self.config.min_elements, KEPT_REPORT_ELEMENTS):
                    self.report.kept.append(KeptTensor(value.name or "", array.shape, f"{exc}"))
                continue
            if not slots:
                continue
            if array.size < self.config.min_elements:
                reason = f"under {self.config.min_elements} elements (scales would cost more than they save)"
                self.report.kept.append(KeptTensor(value.name or "", array.shape, reason))
                continue
            if self._storage(value.name or "") is None:
                self.report.kept.append(KeptTensor(value.name or "", array.shape, NOT_SELECTED))
                continue
            if len({s.channel_axis for s in slots}) > 1:
                reason = "its uses disagree on the output-channel axis"
                self.report.kept.append(KeptTensor(value.name or "", array.shape, reason))
                continue
            if self._stored_bytes(value.name or "", array, slots) >= array.nbytes:
                reason = "no smaller quantized (values, scales and the nodes that expand them cost more than its floats)"
                self.report.kept.append(KeptTensor(value.name or "", array.shape, reason))
                continue
            entry = self._replace(value, graph, constant_node, array, slots, names)
            self.report.quantized.append(entry)
        # bias correction only where its weight was rounded as planned (a weight kept float needs none)
        quantized = {t.name for t in self.report.quantized}
        for value, constant_node in corrected_biases:
            if self.plan is not None and self.plan.bias_weight.get(value.name or "") in quantized:
                self._set_stored(value, constant_node, self.plan.bias[value.name or ""])
        return ir.passes.PassResult(model, modified=bool(self.report.quantized))

    def _storage(self, name: str) -> str | None:
        """int8 | int4 for this tensor; None: leave it float (not listed in a mixed config)."""
        if isinstance(self.config, WeightOnlyMixedConfig):
            return dict(self.config.precisions).get(name)
        return self.config.storage

    def _scale_itemsize(self, array: np.ndarray) -> int:
        # The cast form keeps fp16 weights' scales in float32 (see expand_stored_weight).
        return 4 if self.form == CAST and array.dtype == np.float16 else array.dtype.itemsize

    def _planned(self, name: str, array: np.ndarray) -> Any:
        """The rounding plan's integers and scales for this tensor, when it has them (same shape)."""
        planned = self.plan.weights.get(name) if self.plan is not None else None
        return planned if planned is not None and planned.q.shape == array.shape else None

    @staticmethod
    def _set_stored(value: ir.Value, constant_node: ir.Node | None, array: np.ndarray) -> np.ndarray:
        if constant_node is None:
            value.const_value = ir.Tensor(array, name=value.name)
        else:
            constant_node.attributes["value"] = ir.AttrTensor("value", ir.Tensor(array, name=value.name))
        return array

    def _stored_bytes(self, name: str, array: np.ndarray, slots: list[WeightSlot]) -> int:
        """Bytes of quantized values plus scales, as `_replace` would store them, and the nodes expanding them."""
        scale_bytes = self._scale_itemsize(array)
        if (planned := self._planned(name, array)) is not None:
            values = (array.size + 1) // 2 if planned.storage == "int4" else array.size
            overhead = DEQUANTIZE_OVERHEAD_BYTES + (BLOCK_OVERHEAD_BYTES if planned.block_size and self.form == CAST else 0)
            return values + planned.scale.size * scale_bytes + overhead
        block_axis = _block_axis(array.shape, slots) if self._storage(name) == "int4" else None
        if block_axis is not None:
            block = self.config.block_size  # type: ignore[attr-defined]  # the int4-capable configs
            blocks = array.size // array.shape[block_axis] * -(-array.shape[block_axis] // block)
            overhead = DEQUANTIZE_OVERHEAD_BYTES + (BLOCK_OVERHEAD_BYTES if self.form == CAST else 0)
            return (array.size + 1) // 2 + blocks * scale_bytes + overhead
        return array.size + array.shape[slots[0].channel_axis] * scale_bytes + DEQUANTIZE_OVERHEAD_BYTES

    def _replace(
        self,
        value: ir.Value,
        graph: ir.Graph,
        constant_node: ir.Node | None,
        array: np.ndarray,
        slots: list[WeightSlot],
        names: set[str],
    ) -> QuantizedTensor:
        name = value.name or "weight"
        block_axis = _block_axis(array.shape, slots) if self._storage(name) == "int4" else None
        rounding = "nearest"
        if (planned := self._planned(name, array)) is not None:
            q, scale, axis, block, storage, rounding = (
                planned.q,
                planned.scale,
                planned.axis,
                planned.block_size,
                planned.storage,
                planned.rounding,
            )
        elif block_axis is not None:
            assert isinstance(self.config, WeightOnlyInt4Config | WeightOnlyMixedConfig)  # the configs with int4
            block = self.config.block_size
            q, scale = quantize_int4_blockwise(array, block_axis, block)
            storage, axis = "int4", block_axis
        else:
            axis = slots[0].channel_axis
            q, scale = quantize_int8_per_channel(array, axis)
            storage, block = "int8", 0
        stored = StoredWeight(q, scale, axis, block, storage)
        expanded = expand_stored_weight(graph, constant_node, stored, array, name, names, self.form)
        value.replace_all_uses_with(expanded)
        if constant_node is None:
            graph.initializers.pop(name)
        else:
            graph.remove(constant_node, safe=True)
        return QuantizedTensor(
            name,
            "+".join(sorted({s.op for s in slots})),
            tuple(array.shape),
            storage,
            axis,
            block,
            array.nbytes,
            ((q.size + 1) // 2 if storage == "int4" else q.nbytes) + scale.size * self._scale_itemsize(array),
            float(np.abs(stored.dequantized(array.dtype).astype(np.float64) - array).max()),
            tuple(dict.fromkeys(s.node for s in slots)),
            rounding,
        )


@dataclass(frozen=True)
class StoredWeight:
    """One weight as the quantizer math left it: integer values, scales and how the scales spread over the values.

    `q` is int8 (int4 values in -8..7 for int4 storage). `scale` keeps the rank of the weight: per channel (block 0)
    one value along `axis`, 1 elsewhere or a vector along `axis`; blockwise, ceil(len / block) along `axis`
    (DequantizeLinear-21's blocked layout).
    """

    q: np.ndarray
    scale: np.ndarray
    axis: int
    block: int  # 0: per channel along `axis`
    storage: str  # int8 | int4

    def scale_full(self) -> np.ndarray:
        """The scales spread to the weight's shape."""
        rank = self.q.ndim
        if not self.block:
            return self.scale.reshape([-1 if a == self.axis else 1 for a in range(rank)])
        return np.repeat(self.scale, self.block, axis=self.axis)[_crop(self.q.shape)]

    def dequantized(self, dtype: np.dtype) -> np.ndarray:
        return (self.q.astype(np.float32) * self.scale_full().astype(np.float32)).astype(dtype)


def expand_stored_weight(
    graph: ir.Graph,
    constant_node: ir.Node | None,
    stored: StoredWeight,
    like: np.ndarray,
    name: str,
    names: set[str],
    form: str = CAST,
) -> ir.Value:
    """The nodes that turn `stored` back into a float weight shaped and typed like `like`, inserted where the stored
    tensor was (head of the graph for an initializer, after its Constant node otherwise); returns the float value.

    CAST form: Cast(q) * scale, scales spread over blocks by Expand + Reshape (+ Slice for a last partial block).
    Every input is stored, so ORT folds the whole chain into one float initializer at session creation (default
    options, If/Loop bodies too). fp16 weights are expanded in float32 and cast back: ORT's CPU provider has no
    fp16 Mul kernel, so an fp16 Mul would stay unfolded and run on every call.
    DEQUANTIZE form: one DequantizeLinear (per axis, or block_size), folded by ORT only with
    session.disable_quant_qdq=1; kept for comparison (scripts/bench_weight_forms.py) and old artifacts.
    """
    dtype = ir.DataType.from_numpy(like.dtype)
    nodes: list[ir.Node] = []
    stored_values: list[ir.Value] = []

    def constant(tensor: ir.Tensor, suffix: str) -> ir.Value:
        value = _stored_value(graph, constant_node, tensor, _unique(f"{name}_{suffix}", names))
        stored_values.append(value)
        return value

    def node(op: str, inputs: list[ir.Value], attributes: dict[str, Any], suffix: str) -> ir.Value:
        made = ir.node(op, inputs, attributes, name=_unique(f"{name}_{op}", names))
        made.outputs[0].name = _unique(f"{name}_{suffix}", names)
        nodes.append(made)
        return made.outputs[0]

    if stored.storage == "int4":
        import ml_dtypes  # onnx and onnx-ir depend on it: numpy's int4

        q_value = constant(ir.Tensor(stored.q.astype(ml_dtypes.int4), dtype=ir.DataType.INT4), "quantized")
    else:
        q_value = constant(ir.Tensor(stored.q.astype(np.int8)), "quantized")
    if form == DEQUANTIZE:
        attributes: dict[str, Any] = {"axis": stored.axis}
        if stored.block:
            attributes["block_size"] = stored.block
        scale_value = constant(ir.Tensor(stored.scale.astype(like.dtype)), "scale")
        result = node("DequantizeLinear", [q_value, scale_value], attributes, "dequantized")
    elif form == CAST:
        compute = np.float32 if like.dtype == np.float16 else like.dtype
        axis = stored.axis
        if not stored.block:
            scale_value = constant(ir.Tensor(stored.scale_full().astype(compute)), "scale")
        else:
            blocks = stored.scale.shape[axis]
            spread = [*like.shape[:axis], blocks, 1, *like.shape[axis + 1 :]]
            scale_value = constant(ir.Tensor(stored.scale.reshape(spread).astype(compute)), "scale")
            spread[axis + 1] = stored.block
            shape = ir.Tensor(np.array(spread, np.int64))
            scale_value = node("Expand", [scale_value, constant(shape, "block_shape")], {}, "scale_blocks")
            padded = [*like.shape[:axis], blocks * stored.block, *like.shape[axis + 1 :]]
            shape = ir.Tensor(np.array(padded, np.int64))
            scale_value = node("Reshape", [scale_value, constant(shape, "padded_shape")], {}, "scale_padded")
            if padded[axis] != like.shape[axis]:
                crop = [("starts", 0), ("ends", like.shape[axis]), ("axes", axis)]
                bounds = [constant(ir.Tensor(np.array([v], np.int64)), k) for k, v in crop]
                scale_value = node("Slice", [scale_value, *bounds], {}, "scale_spread")
        casted = node("Cast", [q_value], {"to": ir.DataType.from_numpy(np.dtype(compute))}, "float")
        result = node("Mul", [casted, scale_value], {}, "dequantized")
        if compute != like.dtype:
            result = node("Cast", [result], {"to": dtype}, "cast")
    else:
        raise ValueError(f"unknown weight form {form!r}; choose from {', '.join(WEIGHT_FORMS)}")
    result.type, result.shape = ir.TensorType(dtype), ir.Shape(like.shape)
    if constant_node is None:
        anchor = graph[0] if len(graph) else None
        for made in nodes:  # every input is stored or made just before: the head of the graph is in order
            if anchor is None:
                graph.append(made)
            else:
                graph.insert_before(anchor, made)
    else:
        producers = [v.producer() for v in stored_values]
        graph.insert_after(constant_node, [*(p for p in producers if p is not None), *nodes])
    return result


def quantize_weights(
    model: onnx.ModelProto, config: WeightOnlyConfig, form: str = CAST, plan: RoundingPlan | None = None
) -> tuple[onnx.ModelProto, WeightOnlyReport]:
    """The model with its float weights stored quantized; the input proto is left unchanged. `form`: how stored
    weights are expanded (CAST, the published form; DEQUANTIZE, for comparison). `plan`: integers and scales found
    by edgelstm.quantize.rounding_plan (blocks, GPTQ) and corrected biases, by tensor name.

    Raises UnsupportedGraphError when the graph's opset is too old for the storage and cannot be converted.
    Ensures the result passes onnx.checker (full) and strict shape inference when the source did.
    """
    opset_before = _default_opset(model)
    storage = config.storage if config.storage != "mixed" else _mixed_storage(config)
    needed = (MIN_OPSET if form == CAST else DEQUANTIZE_MIN_OPSET)[storage]
    if form == DEQUANTIZE and plan is not None and plan.int8_blocks:
        needed = max(needed, 21)  # block_size on DequantizeLinear needs opset 21 whatever the type
    source_valid = _validity_problem(model) is None
    declared = _declared_value_infos(ir.from_proto(model).graph)
    if opset_before < needed:
        try:
            model = onnx.version_converter.convert_version(model, needed)
        except Exception as exc:  # the converter raises bare RuntimeErrors/ValueErrors per missing adapter
            raise UnsupportedGraphError(
                f"{config.scheme} needs opset {needed} ({_opset_reason(storage, form)})"
                f" and this graph's opset {opset_before} could not be converted: {first_line(exc)}"
            ) from None
    else:
        model = onnx.ModelProto.FromString(model.SerializeToString())
    if needed >= 21:
        model.ir_version = max(model.ir_version, 10)  # int4 tensors need IR version 10
    graph = ir.from_proto(model)
    quantize_pass = WeightOnlyQuantizePass(config, form, plan)
    quantize_pass(graph)
    # The converter writes an inferred type for every intermediate value (silero: 636 entries, +49 kB); keep the
    # file as lean as its source: only the value types the source declared.
    for owner in _graphs(graph.graph):
        for node in owner:
            for value in node.outputs:
                if value.name not in declared and not value.is_graph_output():
                    value.type, value.shape = None, None
    quantize_pass.report.opset_before, quantize_pass.report.opset_after = opset_before, _default_opset(model)
    result = ir.to_proto(graph)
    if source_valid and (problem := _validity_problem(result)) is not None:
        raise RuntimeError(f"weight-only quantization produced an invalid graph: {problem}")
    return result, quantize_pass.report


def weight_layers(model: onnx.ModelProto, min_elements: int = 1024) -> dict[str, list[QuantizedTensor]]:
    """The weights weight-only quantization would store, grouped per layer (the first node using each: a fused
    LSTM/GRU's W and R together, one Conv, one MatMul), If/Loop bodies included; in graph order."""
    from edgelstm.quantize.config import WeightOnlyInt8Config

    _, report = quantize_weights(model, WeightOnlyInt8Config(min_elements=min_elements))
    layers: dict[str, list[QuantizedTensor]] = {}
    for tensor in report.quantized:
        layers.setdefault(tensor.nodes[0] if tensor.nodes and tensor.nodes[0] else tensor.name, []).append(tensor)
    return layers


def _opset_reason(storage: str, form: str) -> str:
    if form == DEQUANTIZE:
        return f"DequantizeLinear {'int4 blocks' if storage == 'int4' else 'per axis, runnable in onnx.reference'}"
    return "Cast from int4" if storage == "int4" else "Expand and Slice for scales"


def _mixed_storage(config: WeightOnlyConfig) -> str:
    assert isinstance(config, WeightOnlyMixedConfig)
    return "int4" if any(p == "int4" for _, p in config.precisions) else "int8"


def quantize_int8_per_channel(weights: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 along `axis`: scale = max|w| / 127 per channel (1 for an all-zero channel)."""
    others = tuple(a for a in range(weights.ndim) if a != axis)
    peak = np.abs(weights).max(axis=others)
    scale = np.where(peak > 0, peak / weights.dtype.type(127), weights.dtype.type(1)).astype(weights.dtype)
    q = np.clip(np.round(weights / _along(scale, axis, weights.ndim)), -127, 127).astype(np.int8)
    return q, scale


def quantize_int4_blockwise(weights: np.ndarray, axis: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int4 in blocks of `block` along `axis`: scale = max|w| / 7 per block; scales keep the rank of w
    with ceil(len / block) along `axis` (DequantizeLinear-21's blocked layout)."""
    length = weights.shape[axis]
    blocks = -(-length // block)
    padded = np.pad(weights, [(0, blocks * block - length if a == axis else 0) for a in range(weights.ndim)])
    shape = list(weights.shape)
    shape[axis : axis + 1] = [blocks, block]
    peak = np.abs(padded.reshape(shape)).max(axis=axis + 1)
    scale = np.where(peak > 0, peak / weights.dtype.type(7), weights.dtype.type(1)).astype(weights.dtype)
    expanded = np.repeat(scale, block, axis=axis)[_crop(weights.shape)]
    q = np.clip(np.round(weights / expanded), -8, 7).astype(np.int8)
    return q, scale


class _NotAWeight(Exception):
    """A stored tensor is used other than as a weight; the message says how."""


def _weight_slot(node: ir.Node, index: int, rank: int) -> tuple[int, tuple[int, ...]] | None:
    """(channel axis, reduced axes) of input `index` of `node` when that input is a weight, in its own axes."""
    if node.domain not in ("", "ai.onnx"):
        return None
    op = node.op_type
    if op == "Conv" and index == 1 and rank >= 3:
        return 0, tuple(range(1, rank))
    if op == "ConvTranspose" and index == 1 and rank >= 3:
        return 1, (0, *range(2, rank))
    if op == "MatMul" and index == 1 and rank >= 2:
        return rank - 1, (rank - 2,)
    if op == "Gemm" and index == 1 and rank == 2:
        trans_b = node.attributes.get_int("transB", 0)
        return (0, (1,)) if trans_b else (1, (0,))
    if op in ("LSTM", "GRU", "RNN") and index in (1, 2) and rank == 3:
        return 1, (2,)  # [directions, gates * hidden, inputs]: one scale per gate row
    if op in ("LSTM", "GRU", "RNN") and index == 3 and rank == 2:
        # B: [directions, 2 * gates * hidden], added, never multiplied: one scale per direction, no int4 block axis
        # (int4 configs store it int8). A bias's error shifts a gate by at most max|b| / 254.
        return 0, ()
    return None


def _weight_slots(value: ir.Value, axes: list[int | None]) -> list[WeightSlot]:
    """Every weight slot `value` reaches; `axes[i]` is the stored tensor's axis that axis i of `value` came from."""
    slots: list[WeightSlot] = []
    if value.is_graph_output():
        raise _NotAWeight("a graph output")
    for node, index in value.uses():
        slot = _weight_slot(node, index, len(axes))
        if slot is not None:
            channel, reduced = axes[slot[0]], tuple(axes[a] for a in slot[1])
            if channel is None or None in reduced:
                raise _NotAWeight(f"its {node.op_type} channel axis comes from an inserted axis")
            slots.append(WeightSlot(node.op_type, channel, reduced, node.name or ""))  # type: ignore[arg-type]
        elif node.op_type in LAYOUT_OPS and node.domain in ("", "ai.onnx") and (index == 0 or node.op_type == "Concat"):
            moved = _moved_axes(node, axes)
            for output in node.outputs:
                slots.extend(_weight_slots(output, moved))
        else:
            raise _NotAWeight(f"not a weight: input {index} of {node.op_type}")
    return slots


def _moved_axes(node: ir.Node, axes: list[int | None]) -> list[int | None]:
    """Where each input axis ends up in the output of a layout op."""
    op = node.op_type
    if op in ("Identity", "Slice", "Split", "Concat"):
        return list(axes)
    if op == "Transpose":
        perm = node.attributes.get_ints("perm", None) or list(reversed(range(len(axes))))
        return [axes[p] for p in perm]
    listed = node.attributes.get_ints("axes", None)
    if listed is None and len(node.inputs) > 1 and node.inputs[1] is not None:
        listed = _constant_ints(node.inputs[1])
    if listed is None:
        raise _NotAWeight(f"{op} without constant axes")
    if op == "Unsqueeze":
        rank = len(axes) + len(listed)
        inserted = {a % rank for a in listed}
        rest = iter(axes)
        return [None if a in inserted else next(rest) for a in range(rank)]
    removed = {a % len(axes) for a in listed}  # Squeeze
    return [a for i, a in enumerate(axes) if i not in removed]


def _constant_ints(value: ir.Value) -> list[int] | None:
    if value.const_value is not None:
        return [int(v) for v in value.const_value.numpy().reshape(-1)]
    producer = value.producer()
    if producer is not None and producer.op_type == "Constant" and "value" in producer.attributes:
        return [int(v) for v in producer.attributes["value"].as_tensor().numpy().reshape(-1)]
    return None


def _block_axis(shape: tuple[int, ...], slots: list[WeightSlot]) -> int | None:
    """The longest axis that every use reduces over (blocks then never mix output channels), if it holds a block."""
    common = set(slots[0].reduce_axes).intersection(*(s.reduce_axes for s in slots[1:]))
    candidates = [a for a in common if shape[a] > 1]
    return max(candidates, key=lambda a: shape[a]) if candidates else None


def _stored_tensors(graph: ir.Graph) -> list[tuple[ir.Value, ir.Graph, ir.Node | None]]:
    """(value, owning graph, Constant node or None) for every initializer and `value` Constant, subgraphs included.
    Initializers that are also graph inputs are overridable defaults, part of the interface: left alone."""
    found: list[tuple[ir.Value, ir.Graph, ir.Node | None]] = []
    for owner in _graphs(graph):
        inputs = {id(v) for v in owner.inputs}
        found.extend((v, owner, None) for v in owner.initializers.values() if id(v) not in inputs)
        found.extend(
            (n.outputs[0], owner, n)
            for n in owner
            if n.op_type == "Constant" and n.domain in ("", "ai.onnx") and set(n.attributes) == {"value"}
        )
    return found


def _graphs(graph: ir.Graph) -> list[ir.Graph]:
    found = [graph]
    for node in graph:
        for attr in node.attributes.values():
            if attr.type == ir.AttributeType.GRAPH:
                found.extend(_graphs(attr.as_graph()))
            elif attr.type == ir.AttributeType.GRAPHS:
                for sub in attr.as_graphs():
                    found.extend(_graphs(sub))
    return found


def _all_values(graph: ir.Graph) -> list[ir.Value]:
    values: list[ir.Value] = []
    for owner in _graphs(graph):
        values.extend(owner.inputs)
        values.extend(owner.initializers.values())
        for node in owner:
            values.extend(node.outputs)
    return values


def _declared_value_infos(graph: ir.Graph) -> set[str]:
    return {v.name or "" for owner in _graphs(graph) for n in owner for v in n.outputs if v.type is not None}


def _stored_value(graph: ir.Graph, constant_node: ir.Node | None, tensor: ir.Tensor, name: str) -> ir.Value:
    """Stored like the tensor it replaces: an initializer, or a Constant node (silero keeps its weights so)."""
    if constant_node is None:
        value = ir.Value(name=name, shape=tensor.shape, type=ir.TensorType(tensor.dtype), const_value=tensor)
        graph.register_initializer(value)
        return value
    node = ir.node("Constant", [], {"value": tensor}, name=f"{name}_Constant")
    node.outputs[0].name = name
    node.outputs[0].type, node.outputs[0].shape = ir.TensorType(tensor.dtype), tensor.shape
    return node.outputs[0]


def _unique(name: str, taken: set[str]) -> str:
    candidate, k = name, 1
    while candidate in taken:
        candidate, k = f"{name}_{k}", k + 1
    taken.add(candidate)
    return candidate


def _along(vector: np.ndarray, axis: int, rank: int) -> np.ndarray:
    return vector.reshape([-1 if a == axis else 1 for a in range(rank)])


def _crop(shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(0, n) for n in shape)


def _default_opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


def _validity_problem(model: onnx.ModelProto) -> str | None:
    """Why the graph fails the full checker or strict shape inference; None when it passes both."""
    try:
        onnx.checker.check_model(model, full_check=True)
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        return first_line(exc)
    return None
