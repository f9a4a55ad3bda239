"""Weight-only quantization as an onnx-ir pass: weights stored int8 (per output channel) or int4 (per block) behind
`DequantizeLinear`, compute stays float -- so a fused LSTM/GRU keeps its float kernel and its speed.

A stored tensor is a weight when every path from it reaches a weight slot (Conv/ConvTranspose W, MatMul B, Gemm B,
LSTM/GRU/RNN W, R and B) through ops that only move data (Slice, Concat, Unsqueeze, ...): torch exports an nn.LSTM's
gate reordering as Slice/Concat of the stored matrix (silero-vad), and the output-channel axis is followed through
them. A tensor that also feeds anything else (an Add's bias, a Mul) stays float; a fused op's B is a weight slot.

Small weights are quantized too when that makes the file smaller: a tensor stays float only when its int8/int4 bytes,
scales and the DequantizeLinear node that reads them would not be smaller than its float bytes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
import onnx_ir as ir

from edgelstm.errors import UnsupportedGraphError, first_line
from edgelstm.quantize.config import WeightOnlyConfig, WeightOnlyInt4Config, WeightOnlyMixedConfig

if TYPE_CHECKING:  # rounding_plan imports this module
    from edgelstm.quantize.rounding_plan import RoundingPlan

# Ops that only move or select data: the output-channel axis of a weight can be followed through them.
LAYOUT_OPS = frozenset({"Identity", "Slice", "Split", "Concat", "Unsqueeze", "Squeeze", "Transpose"})
FLOAT_TYPES = {ir.DataType.FLOAT: np.float32, ir.DataType.FLOAT16: np.float16}
# Per-axis DequantizeLinear exists since opset 13, but onnx.reference implements it from 19 only: published graphs
# must run there too (issue 11), so int8 raises older graphs to 19. int4 and block_size need 21.
MIN_OPSET = {"int8": 19, "int4": 21}
NOT_SELECTED = "not selected: kept in float by the per-layer choice"
# What one quantized tensor costs besides its values and scales in a compacted artifact (quantize/compact.py): the
# DequantizeLinear node (~45 bytes with short names and its axis) and one more initializer header (~8).
DEQUANTIZE_OVERHEAD_BYTES = 64
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
        notes = [
            f"{storage} weights {how} behind DequantizeLinear, float compute: {len(self.quantized)} tensors "
            f"({', '.join(ops)}), {self.bytes_before} -> {self.bytes_after} bytes"
        ]
        if worst is not None:
            notes.append(f"largest dequantization error {worst.max_abs_error:.3g} ({worst.name})")
        if self.storage != "mixed" and (fallback := [t.name for t in self.quantized if t.storage != self.storage]):
            notes.append(f"int8 per channel where no int4 block axis fits: {', '.join(fallback)}")
        if self.opset_after != self.opset_before:
            notes.append(f"opset {self.opset_before} -> {self.opset_after} (onnx.version_converter) for DequantizeLinear")
        if self.kept:
            notes.append(f"left in float: {len(self.kept)} tensors ({'; '.join(sorted({k.reason for k in self.kept}))})")
        return notes


class WeightOnlyQuantizePass(ir.passes.InPlacePass):
    """Replaces every float weight (subgraphs included) by quantized storage + DequantizeLinear."""

    def __init__(self, config: WeightOnlyConfig, plan: RoundingPlan | None = None) -> None:
        super().__init__()
        self.config = config
        self.plan = plan
        self.report = WeightOnlyReport(config.storage, 0, 0)

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        names = {v.name for v in _all_values(model.graph) if v.name}
        for value, graph, constant_node in _stored_tensors(model.graph):
            tensor = value.const_value if constant_node is None else constant_node.attributes["value"].as_tensor()
            if tensor is None or tensor.dtype not in FLOAT_TYPES:
                continue
            array = tensor.numpy()
            if self.plan is not None and (value.name or "") in self.plan.bias:  # bias correction: the same dtype/shape
                array = self._set_stored(value, constant_node, self.plan.bias[value.name or ""])
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
            if self._stored_bytes(value.name or "", array, slots) + DEQUANTIZE_OVERHEAD_BYTES >= array.nbytes:
                reason = "no smaller quantized (values, scales and a DequantizeLinear node cost more than its floats)"
                self.report.kept.append(KeptTensor(value.name or "", array.shape, reason))
                continue
            entry = self._replace(value, graph, constant_node, array, slots, names)
            self.report.quantized.append(entry)
        return ir.passes.PassResult(model, modified=bool(self.report.quantized))

    def _storage(self, name: str) -> str | None:
        """int8 | int4 for this tensor; None: leave it float (not listed in a mixed config)."""
        if isinstance(self.config, WeightOnlyMixedConfig):
            return dict(self.config.precisions).get(name)
        return self.config.storage

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
        """Bytes of quantized values plus scales, as `_replace` would store them."""
        scale_bytes = array.dtype.itemsize
        if (planned := self._planned(name, array)) is not None:
            values = (array.size + 1) // 2 if planned.storage == "int4" else array.size
            return values + planned.scale.size * scale_bytes
        block_axis = _block_axis(array.shape, slots) if self._storage(name) == "int4" else None
        if block_axis is not None:
            block = self.config.block_size  # type: ignore[attr-defined]  # the int4-capable configs
            blocks = array.size // array.shape[block_axis] * -(-array.shape[block_axis] // block)
            return (array.size + 1) // 2 + blocks * scale_bytes
        return array.size + array.shape[slots[0].channel_axis] * scale_bytes

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
        attributes: dict[str, Any]
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
            attributes = {"axis": axis, "block_size": block} if block else {"axis": axis}
            if storage == "int4":
                import ml_dtypes  # onnx and onnx-ir depend on it: numpy's int4

                stored = ir.Tensor(q.astype(ml_dtypes.int4), dtype=ir.DataType.INT4)
            else:
                stored = ir.Tensor(q)
            dequantized = planned.dequantized().astype(array.dtype)
        elif block_axis is not None:
            assert isinstance(self.config, WeightOnlyInt4Config | WeightOnlyMixedConfig)  # the configs with int4
            block = self.config.block_size
            q, scale = quantize_int4_blockwise(array, block_axis, block)
            import ml_dtypes  # onnx and onnx-ir depend on it: numpy's int4

            stored = ir.Tensor(q.astype(ml_dtypes.int4), dtype=ir.DataType.INT4)
            storage, axis, attributes = "int4", block_axis, {"axis": block_axis, "block_size": block}
            dequantized = (q.astype(np.float32) * np.repeat(scale, block, axis=block_axis)[_crop(array.shape)]).astype(
                array.dtype
            )
        else:
            axis = slots[0].channel_axis
            q, scale = quantize_int8_per_channel(array, axis)
            stored = ir.Tensor(q)
            storage, attributes, block = "int8", {"axis": axis}, 0
            dequantized = (q.astype(array.dtype) * _along(scale, axis, array.ndim)).astype(array.dtype)
        q_value = _stored_value(graph, constant_node, stored, _unique(f"{name}_quantized", names))
        scale_value = _stored_value(graph, constant_node, ir.Tensor(scale), _unique(f"{name}_scale", names))
        dq = ir.node("DequantizeLinear", [q_value, scale_value], attributes, name=_unique(f"{name}_DequantizeLinear", names))
        dq.outputs[0].name = _unique(f"{name}_dequantized", names)
        dq.outputs[0].type = ir.TensorType(ir.DataType.from_numpy(array.dtype))
        dq.outputs[0].shape = ir.Shape(array.shape)
        value.replace_all_uses_with(dq.outputs[0])
        if constant_node is None:
            graph.initializers.pop(name)
            graph.insert_before(graph[0], dq)  # every input of dq is stored: the head of the graph is in order
        else:
            producers = [n for n in (q_value.producer(), scale_value.producer()) if n is not None]
            graph.insert_after(constant_node, [*producers, dq])
            graph.remove(constant_node, safe=True)
        return QuantizedTensor(
            name,
            "+".join(sorted({s.op for s in slots})),
            tuple(array.shape),
            storage,
            axis,
            block,
            array.nbytes,
            (q.size + 1) // 2 + scale.nbytes if storage == "int4" else q.nbytes + scale.nbytes,
            float(np.abs(dequantized.astype(np.float64) - array).max()),
            tuple(dict.fromkeys(s.node for s in slots)),
            rounding,
        )


def quantize_weights(
    model: onnx.ModelProto, config: WeightOnlyConfig, plan: RoundingPlan | None = None
) -> tuple[onnx.ModelProto, WeightOnlyReport]:
    """The model with its float weights stored quantized; the input proto is left unchanged. `plan`: integers and
    scales found by edgelstm.quantize.rounding_plan (blocks, GPTQ) and corrected biases, by tensor name.

    Raises UnsupportedGraphError when the graph's opset is too old for the storage and cannot be converted.
    Ensures the result passes onnx.checker (full) and strict shape inference when the source did.
    """
    opset_before = _default_opset(model)
    needed = MIN_OPSET[config.storage if config.storage != "mixed" else _mixed_storage(config)]
    if plan is not None and plan.int8_blocks:
        needed = max(needed, MIN_OPSET["int4"])  # block_size on DequantizeLinear needs opset 21 whatever the type
    source_valid = _validity_problem(model) is None
    declared = _declared_value_infos(ir.from_proto(model).graph)
    if opset_before < needed:
        try:
            model = onnx.version_converter.convert_version(model, needed)
        except Exception as exc:  # the converter raises bare RuntimeErrors/ValueErrors per missing adapter
            raise UnsupportedGraphError(
                f"{config.scheme} needs opset {needed} (DequantizeLinear {'int4 blocks' if config.storage == 'int4' else 'per axis, runnable in onnx.reference'})"
                f" and this graph's opset {opset_before} could not be converted: {first_line(exc)}"
            ) from None
    else:
        model = onnx.ModelProto.FromString(model.SerializeToString())
    if needed >= MIN_OPSET["int4"]:
        model.ir_version = max(model.ir_version, 10)  # int4 tensors need IR version 10
    graph = ir.from_proto(model)
    quantize_pass = WeightOnlyQuantizePass(config, plan)
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
