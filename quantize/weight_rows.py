"""Which rows (output channels) of a stored weight reach each of its weight slots, followed through layout ops.

GPTQ rounds every row of a weight against one input second moment H. When one stored tensor feeds several layers
that read different inputs, summing their H is right only if every output channel reaches the same layers (tied
weights, an unrolled recurrence, a gate reordering by Slice/Concat); when the rows are split between layers (rows
0:n to one MatMul, n: to another), each row group has its own H and one sum would be the wrong H for all of them.
`slot_rows` answers the question exactly by pushing an array of channel indices through the layout ops
(Identity, Slice, Split, Concat, Unsqueeze, Squeeze, Transpose) that lie between the stored tensor and the slot.
"""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from edgelstm.quantize.rounding import WeightLayout
from edgelstm.quantize.weight_slots import LAYOUT_OPS, constant_ints


def slot_rows(stored: ir.Value, layout: WeightLayout, slot: ir.Value) -> frozenset[int] | None:
    """The rows of the stored tensor's matrix view (edgelstm.quantize.rounding.WeightLayout) that `slot` holds; None
    when a producer on the way is not a layout op with constant parameters, or mixes in another tensor."""
    rows = np.arange(len(layout.row_channels()))
    base = layout.from_matrix(np.repeat(rows[:, None], layout.cols, axis=1))
    found = _follow(slot, stored, base, {})
    return None if found is None else frozenset(int(c) for c in np.unique(found))


def _follow(value: ir.Value, stored: ir.Value, base: np.ndarray, memo: dict[int, np.ndarray | None]) -> np.ndarray | None:
    """Which stored elements `value` holds, followed through layout ops from `stored` (memoised), or None."""
    if value is stored:
        return base
    if id(value) in memo:
        return memo[id(value)]
    node = value.producer()
    result = None
    if node is not None and node.op_type in LAYOUT_OPS and node.domain in ("", "ai.onnx"):
        data = [node.inputs[0]] if node.op_type != "Concat" else list(node.inputs)
        arrays = [_follow(v, stored, base, memo) if v is not None else None for v in data]
        if all(a is not None for a in arrays):
            result = _apply(node, arrays, node.outputs.index(value))  # type: ignore[arg-type]
    memo[id(value)] = result
    return result


def _apply(node: ir.Node, arrays: list[np.ndarray], output: int) -> np.ndarray | None:
    """The layout op on index arrays, numpy's way (ONNX's Slice clamps like Python slices)."""
    op, x = node.op_type, arrays[0]
    if op == "Identity":
        return x
    if op == "Concat":
        return np.concatenate(arrays, axis=node.attributes.get_int("axis", 0))
    if op == "Transpose":
        perm = node.attributes.get_ints("perm", None)
        return np.transpose(x, perm)
    if op in ("Unsqueeze", "Squeeze"):
        axes = _param(node, "axes", 1)
        if axes is None:
            return np.squeeze(x) if op == "Squeeze" else None
        if op == "Squeeze":
            return np.squeeze(x, axis=tuple(a % x.ndim for a in axes))
        rank = x.ndim + len(axes)
        return np.expand_dims(x, tuple(a % rank for a in axes))
    if op == "Slice":
        starts, ends = _param(node, "starts", 1), _param(node, "ends", 2)
        axes = _param(node, "axes", 3) or list(range(len(starts or [])))
        steps = _param(node, "steps", 4) or [1] * len(axes)
        if starts is None or ends is None:
            return None
        index = [slice(None)] * x.ndim
        for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
            index[axis % x.ndim] = slice(start, end, step)
        return x[tuple(index)]
    if op == "Split":
        axis = node.attributes.get_int("axis", 0) % x.ndim
        split = _param(node, "split", 1)
        if split is None:
            parts = len(node.outputs)
            size = -(-x.shape[axis] // parts)  # equal parts, the last one smaller (opset 18's num_outputs)
            split = [min(size, x.shape[axis] - k * size) for k in range(parts)]
        bounds = np.cumsum([0, *split])
        return np.take(x, np.arange(bounds[output], bounds[output + 1]), axis=axis)
    return None


def _param(node: ir.Node, name: str, index: int) -> list[int] | None:
    """A parameter given as an attribute (old opsets) or as a constant input (newer ones)."""
    listed = node.attributes.get_ints(name, None)
    if listed is not None:
        return list(listed)
    if len(node.inputs) > index and node.inputs[index] is not None:
        return constant_ints(node.inputs[index])  # type: ignore[arg-type]
    return None
