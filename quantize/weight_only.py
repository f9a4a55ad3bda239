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

from typing import Any

import numpy as np
import onnx
import onnx_ir as ir

from edgelstm.errors import UnsupportedGraphError, first_line
from edgelstm.quantize.config import WeightOnlyConfig, WeightOnlyInt4Config, WeightOnlyInt8Config, WeightOnlyMixedConfig
from edgelstm.quantize.plan import RoundingPlan
from edgelstm.quantize.stored_weight import (
    CAST,
    DEQUANTIZE,
    WEIGHT_FORMS,
    StoredWeight,
    expand_stored_weight,
    quantize_int4_blockwise,
    quantize_int8_per_channel,
)
from edgelstm.quantize.weight_only_report import KeptTensor, QuantizedTensor, WeightOnlyReport
from edgelstm.quantize.weight_slots import (
    FLOAT_TYPES,
    NotAWeight,
    WeightSlot,
    all_values,
    declared_value_infos,
    graphs_within,
    shared_block_axis,
    stored_tensors,
    weight_slots,
)

# The opset each storage needs, per form. Cast form: Cast from INT4 needs 21; int8 needs Expand (8) and Slice with
# inputs (10) for blocks, so graphs older than 10 are converted. DequantizeLinear form: per-axis exists since 13 but
# onnx.reference implements it from 19 only, and published graphs must run there too (issue 11); block_size: 21.
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
        """Store every weight of the model quantized in place; stored tensors that are not weights stay float."""
        names = {v.name for v in all_values(model.graph) if v.name}
        corrected_biases: list[tuple[ir.Value, ir.Node | None]] = []
        for value, graph, constant_node in stored_tensors(model.graph):
            tensor = value.const_value if constant_node is None else constant_node.attributes["value"].as_tensor()
            if tensor is None or tensor.dtype not in FLOAT_TYPES:
                continue
            array = tensor.numpy()
            if self.plan is not None and (value.name or "") in self.plan.bias:
                corrected_biases.append((value, constant_node))  # written once its weight is known to be quantized
            try:
                slots = weight_slots(value, list(range(array.ndim)))
            except NotAWeight as exc:
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
        """Bytes per stored scale (float16 weights keep float32 scales in the Cast form)."""
        # The cast form keeps fp16 weights' scales in float32 (see expand_stored_weight).
        return 4 if self.form == CAST and array.dtype == np.float16 else array.dtype.itemsize

    def _planned(self, name: str, array: np.ndarray) -> Any:
        """The rounding plan's integers and scales for this tensor, when it has them (same shape)."""
        planned = self.plan.weights.get(name) if self.plan is not None else None
        return planned if planned is not None and planned.q.shape == array.shape else None

    @staticmethod
    def _set_stored(value: ir.Value, constant_node: ir.Node | None, array: np.ndarray) -> np.ndarray:
        """Store `array` where the weight was (initializer or Constant node); returns what is stored."""
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
        block_axis = shared_block_axis(array.shape, slots) if self._storage(name) == "int4" else None
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
        """Quantize one weight and splice its expansion to float in front of every use."""
        name = value.name or "weight"
        block_axis = shared_block_axis(array.shape, slots) if self._storage(name) == "int4" else None
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
    declared = declared_value_infos(ir.from_proto(model).graph)
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
    for owner in graphs_within(graph.graph):
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
    _, report = quantize_weights(model, WeightOnlyInt8Config(min_elements=min_elements))
    layers: dict[str, list[QuantizedTensor]] = {}
    for tensor in report.quantized:
        layers.setdefault(tensor.nodes[0] if tensor.nodes and tensor.nodes[0] else tensor.name, []).append(tensor)
    return layers


def _opset_reason(storage: str, form: str) -> str:
    """Why a storage and form need their minimum opset, for the refusal message."""
    if form == DEQUANTIZE:
        return f"DequantizeLinear {'int4 blocks' if storage == 'int4' else 'per axis, runnable in onnx.reference'}"
    return "Cast from int4" if storage == "int4" else "Expand and Slice for scales"


def _mixed_storage(config: WeightOnlyConfig) -> str:
    """The narrowest storage a mixed config uses (int4 if any layer is int4), which sets the opset."""
    assert isinstance(config, WeightOnlyMixedConfig)
    return "int4" if any(p == "int4" for _, p in config.precisions) else "int8"


def _default_opset(model: onnx.ModelProto) -> int:
    """The graph's default-domain opset (1 when it names none)."""
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


def _validity_problem(model: onnx.ModelProto) -> str | None:
    """Why the graph fails the full checker or strict shape inference; None when it passes both."""
    try:
        onnx.checker.check_model(model, full_check=True)
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        return first_line(exc)
    return None
