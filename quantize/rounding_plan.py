"""Per weight: which granularity and which rounding, decided before the weight-only pass writes the graph.

The plan is computed on the graph as given (with the calibration statistics of edgelstm.quantize.calibration when
there are some) and handed to edgelstm.quantize.weight_only, which stores each planned weight's integers and scales
as they are here. Biases of Conv/Gemm layers whose weights were rounded get the rounding's mean output shift
subtracted (bias correction: (Wq - W) E[x]), so a layer's output is unbiased on the calibration data.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnx_ir as ir

from edgelstm.quantize.config import WeightOnlyConfig, WeightOnlyMixedConfig
from edgelstm.quantize.moments import Moments
from edgelstm.quantize.plan import RoundingPlan
from edgelstm.quantize.rounding import GranularityChoice, RoundedWeight, WeightLayout, choose_blocks, round_weight
from edgelstm.quantize.weight_slots import FLOAT_TYPES, NotAWeight, shared_block_axis, stored_tensors, weight_slots

# Blocks are kept only where they cut a weight's output error at least this much (blocks of random weights alone
# gain ~1.5x; an input-channel outlier gains far more).
MIN_BLOCK_GAIN = 2.0


def weight_layout(value: ir.Value, constant_node: ir.Node | None) -> WeightLayout | None:
    """The stored tensor's matrix view (from its weight slots, which must agree); None when it has none."""
    tensor = value.const_value if constant_node is None else constant_node.attributes["value"].as_tensor()
    if tensor is None:
        return None
    shape = tuple(int(d) for d in tensor.shape.numpy())
    try:
        slots = weight_slots(value, list(range(len(shape))))
    except NotAWeight:
        return None
    if not slots or len({(s.channel_axis, s.reduce_axes) for s in slots}) != 1 or not slots[0].reduce_axes:
        return None
    reduce_axes = slots[0].reduce_axes
    if list(reduce_axes) != sorted(reduce_axes):
        return None  # a Transpose reordered the summed axes: the matrix columns would not match the inputs
    return WeightLayout(shape, slots[0].channel_axis, reduce_axes, shared_block_axis(shape, slots))


def plan_rounding(model: onnx.ModelProto, config: WeightOnlyConfig, moments: Moments | None = None) -> RoundingPlan:
    """Integers and scales for every weight the config quantizes, by its `rounding` and `granularity`."""
    graph = ir.from_proto(model)
    plan = RoundingPlan(calibration="" if moments is None else getattr(moments, "description", ""))
    block_forms: dict[str, RoundedWeight] = {}
    elements = 0
    done: dict[bytes, tuple[str, RoundedWeight]] = {}  # identical weights in twin branches share one result
    for value, _, constant_node in stored_tensors(graph.graph):
        tensor = value.const_value if constant_node is None else constant_node.attributes["value"].as_tensor()
        name = value.name or ""
        if not name or tensor is None or tensor.dtype not in FLOAT_TYPES or tensor.size < config.min_elements:
            continue
        storage = _storage(config, name)
        layout = weight_layout(value, constant_node)
        if layout is not None and isinstance(config, WeightOnlyMixedConfig) and storage != "int8":
            # A mix's block allowance is a share of the graph's weights, not of those the mix happens to store in
            # int8: a layer then gets the same scales alone (mixed's per-layer ranking) as in any mix, and as in
            # whole-graph int8 (a silero encoder conv alone could not afford its blocks within 2 % of itself).
            elements += tensor.size
        if storage is None or layout is None:
            continue
        array = tensor.numpy()
        hessian = moments.second_moment(name) if moments is not None else None
        if hessian is None and moments is not None:
            twin = done.get(_fingerprint(array, storage))
            if twin is not None:
                hessian = moments.second_moment(twin[0])
        rounding = config.rounding if hessian is not None else "nearest"
        if config.rounding != "nearest" and hessian is None:
            plan.uncalibrated[name] = moments.missing.get(name, "not reached on the calibration data") if moments else "no data"
        if storage == "int4" and layout.block_axis is None:
            storage = "int8"  # no axis to block along: int8 per channel, as the int4 path has always done
        block_size = getattr(config, "block_size", 32)
        if storage == "int4":
            plan.weights[name] = round_weight(array, layout, "int4", block_size, hessian, rounding)
        else:
            channel = round_weight(array, layout, "int8", 0, hessian, rounding)
            plan.weights[name] = channel
            # auto measures blocks on the layer's calibration inputs; a weight no calibration call reached (silero's
            # 8 kHz branch at sr=16000) keeps one scale per channel: its gain would be a guess that costs bytes.
            unmeasured = config.granularity == "auto" and moments is not None and hessian is None
            kept = name in getattr(config, "channel", ())  # a mix measured this weight better per channel
            if config.granularity != "channel" and layout.block_axis is not None and not unmeasured and not kept:
                blocked = round_weight(array, layout, "int8", block_size, hessian, rounding)
                block_forms[name] = blocked
                extra = blocked.scale.size - channel.scale.size
                plan.choices.append(GranularityChoice(name, channel.output_error, blocked.output_error, extra))
                elements += array.size
                if config.granularity == "block":
                    plan.weights[name] = blocked
            elif config.granularity != "channel":
                elements += array.size
        if hessian is not None:
            done.setdefault(_fingerprint(array, storage), (name, plan.weights[name]))
    if config.granularity == "auto":
        total = elements or 1
        for name in choose_blocks(plan.choices, total, config.max_extra_scales, MIN_BLOCK_GAIN):
            plan.weights[name] = block_forms[name]
    if moments is not None:
        _correct_biases(graph, plan, moments)
    return plan


def _storage(config: WeightOnlyConfig, name: str) -> str | None:
    """How a weight is stored under `config` (int8, int4, or None for float in a mixed config)."""
    if isinstance(config, WeightOnlyMixedConfig):
        return dict(config.precisions).get(name)
    return config.storage


def _fingerprint(array: np.ndarray, storage: str) -> bytes:
    """Bytes identifying a weight and its storage: a weight identical to one already rounded reuses its rounding."""
    return storage.encode() + str(array.shape).encode() + np.ascontiguousarray(array).tobytes()


def _correct_biases(graph: ir.Model, plan: RoundingPlan, moments: Moments) -> None:
    """bias -= (Wq - W) E[x] for each Conv/Gemm bias read by one rounded (not nearest) weight's layer alone."""
    stored = {v.name: (v, n) for v, _, n in stored_tensors(graph.graph)}
    for name, bias_name in moments.bias.items():
        rounded, mean = plan.weights.get(name), moments.mean(name)
        if rounded is None or mean is None or rounded.rounding == "nearest" or name not in stored or bias_name not in stored:
            continue
        value, node = stored[name]
        layout = weight_layout(value, node)
        if layout is None or layout.rows_axes != (layout.channel_axis,):
            continue  # rows are not the layer's output channels: the shift does not map onto the bias
        array = layout.to_matrix(_tensor(*stored[name]).numpy().astype(np.float64))
        shift = (layout.to_matrix(rounded.dequantized()) - array) @ mean
        bias = _tensor(*stored[bias_name]).numpy()
        if bias.size == shift.size:
            plan.bias[bias_name] = (bias.astype(np.float64) - shift.reshape(bias.shape)).astype(bias.dtype)
            plan.bias_weight[bias_name] = name


def _tensor(value: ir.Value, constant_node: ir.Node | None) -> ir.TensorProtocol:
    """The stored tensor behind a value: its initializer, or its Constant node's value."""
    tensor = value.const_value if constant_node is None else constant_node.attributes["value"].as_tensor()
    assert tensor is not None
    return tensor
