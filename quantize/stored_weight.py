"""A weight stored as integers and scales, the symmetric int8/int4 rounding that makes one, and the nodes that
expand it back to float."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx_ir as ir

# How stored weights are expanded to float: Cast + Mul (published: ORT folds it at load), or DequantizeLinear.
CAST, DEQUANTIZE = "cast", "dequantize"
WEIGHT_FORMS = (CAST, DEQUANTIZE)


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
        """The float weight these integers and scales decode to, in `dtype` (to measure the rounding error)."""
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
        value = stored_value(graph, constant_node, tensor, _unique(f"{name}_{suffix}", names))
        stored_values.append(value)
        return value

    def node(op: str, inputs: list[ir.Value], attributes: dict[str, Any], suffix: str) -> ir.Value:
        made = ir.node(op, inputs, attributes, name=_unique(f"{name}_{op}", names))
        made.outputs[0].name = _unique(f"{name}_{suffix}", names)
        nodes.append(made)
        return made.outputs[0]

    if stored.storage == "int4":
        import ml_dtypes  # onnx and onnx-ir depend on it: numpy's int4

        packed: Any = stored.q.astype(ml_dtypes.int4)  # an ml_dtypes array: onnx-ir's array protocol, not numpy's stubs
        q_value = constant(ir.Tensor(packed, dtype=ir.DataType.INT4), "quantized")
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


def stored_value(graph: ir.Graph, constant_node: ir.Node | None, tensor: ir.Tensor, name: str) -> ir.Value:
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
    """`name`, or `name_k` with the first free k, claimed in `taken`."""
    candidate, k = name, 1
    while candidate in taken:
        candidate, k = f"{name}_{k}", k + 1
    taken.add(candidate)
    return candidate


def _along(vector: np.ndarray, axis: int, rank: int) -> np.ndarray:
    """A vector reshaped to broadcast along `axis` of a rank-`rank` array."""
    return vector.reshape([-1 if a == axis else 1 for a in range(rank)])


def _crop(shape: tuple[int, ...]) -> tuple[slice, ...]:
    """Slices that cut a padded array back to `shape`."""
    return tuple(slice(0, n) for n in shape)
