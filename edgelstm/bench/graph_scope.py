"""What the MAC counter knows about a graph's values as it walks: shapes, element types, and the small integer values
computable before running (shapes, trip counts, conditions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

Shape = tuple[int | None, ...]


SMALL = 1 << 16  # integer tensors up to this many elements are evaluated (shapes, trip counts, conditions, masks)


@dataclass
class Scope:
    """What is known about each value of one (sub)graph while walking it: shape, type, small value, static or not."""

    shapes: dict[str, Shape]  # value name -> shape (None for an unknown dim)
    types: dict[str, int]  # value name -> ONNX element type
    values: dict[str, np.ndarray]  # small integer/bool values known before running
    static: set[str]  # values that do not depend on any graph input: weights and what is computed from them


INTEGER_TYPES = {onnx.TensorProto.INT64, onnx.TensorProto.INT32, onnx.TensorProto.BOOL}


def evaluate_small(node: onnx.NodeProto, scope: Scope) -> np.ndarray | None:
    """The value of a small integer/bool node output computable before running (shapes, trip counts, conditions)."""
    op, v = node.op_type, scope.values
    ins: list[Any] = [v.get(i) for i in node.input]  # None where not known
    # known[k], not `ins[k] is not None`: a checker would narrow ins[k] to None after a failed test
    known = [i is not None for i in ins] + [False] * 5
    try:
        if op == "Constant":
            attr = next((a for a in node.attribute), None)
            if attr is not None and attr.name == "value" and int(np.prod(attr.t.dims)) <= SMALL:
                value = numpy_helper.to_array(attr.t)
                return value if value.dtype.kind in "iub" else None
            if attr is not None and attr.name in ("value_int", "value_ints"):
                return np.array(helper.get_attribute_value(attr), np.int64)
            return None
        if op == "Shape":
            dims = scope.shapes.get(node.input[0])
            if dims is None or None in dims:
                return None
            start, end = int_attribute(node, "start", 0), int_attribute(node, "end", len(dims))
            return np.array(dims[start:end], np.int64)
        if any(i is None for i in ins[:1]) or not node.input:
            return None
        if op == "Identity" or op == "Cast":
            return ins[0] if op == "Identity" else ins[0].astype(helper.tensor_dtype_to_np_dtype(int_attribute(node, "to", 7)))
        if op == "Gather" and known[1]:
            return np.take(ins[0], ins[1], axis=int_attribute(node, "axis", 0))
        if op in ("Squeeze", "Unsqueeze", "Reshape") and all(i is not None for i in ins):
            if op == "Reshape":
                return ins[0].reshape(ins[1])
            axes = ins[1] if len(ins) > 1 else ints_attribute(node, "axes")
            return np.squeeze(ins[0], tuple(axes)) if op == "Squeeze" else np.expand_dims(ins[0], tuple(axes))
        if op == "Concat" and all(i is not None for i in ins):
            return np.concatenate(ins, axis=int_attribute(node, "axis", 0))
        if op == "Slice" and all(i is not None for i in ins[:3]):
            starts, ends = ins[1], ins[2]
            axes = ins[3] if known[3] else range(len(starts))
            strides = ins[4] if known[4] else [1] * len(starts)
            index = [slice(None)] * ins[0].ndim
            for axis, s, e, step in zip(axes, starts, ends, strides, strict=False):
                # ONNX clamps huge ends (INT64_MAX/MIN mean "to the end"); Python slices do the same for any int
                index[int(axis)] = slice(int(s), int(e), int(step))
            return ins[0][tuple(index)]
        binary: dict[str, Any] = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Equal": np.equal, "Less": np.less}
        binary |= {"Greater": np.greater, "And": np.logical_and, "Or": np.logical_or}
        if op in binary and len(ins) == 2 and known[1]:
            return np.asarray(binary[op](ins[0], ins[1]))
        if op == "Div" and known[1] and ins[0].dtype.kind in "iu":
            return np.asarray(ins[0] // ins[1])
        if op == "Range" and all(i is not None and i.size == 1 for i in ins[:3]):
            return np.arange(ins[0].item(), ins[1].item(), ins[2].item(), dtype=ins[0].dtype)
        if op == "ConstantOfShape" and ins[0].size <= 8 and int(np.prod(ins[0])) <= SMALL:
            fill = next((numpy_helper.to_array(a.t) for a in node.attribute if a.name == "value"), np.zeros(1, np.float32))
            return np.full(tuple(int(d) for d in ins[0]), fill.reshape(-1)[0], fill.dtype)
        if op == "Transpose":
            perm = ints_attribute(node, "perm") or None
            return np.transpose(ins[0], perm)
        if op == "Not":
            return np.logical_not(ins[0])
    except (ValueError, IndexError, TypeError):  # a value that does not evaluate here stays unknown
        return None
    return None


def value_info(name: str, scope: Scope, declared: onnx.ValueInfoProto | None = None) -> onnx.ValueInfoProto:
    """A typed value description of `name` from the scope (or its declaration), to feed ONNX shape inference."""
    elem = scope.types.get(name) or (declared.type.tensor_type.elem_type if declared is not None else onnx.TensorProto.FLOAT)
    shape = scope.shapes.get(name)
    if shape is None and declared is not None and declared.type.tensor_type.HasField("shape"):
        shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in declared.type.tensor_type.shape.dim)
    return helper.make_tensor_value_info(name, elem, list(shape) if shape is not None else None)


def copy_scope(scope: Scope) -> Scope:
    """An independent copy, so a subgraph's walk does not change its parent's scope."""
    return Scope(dict(scope.shapes), dict(scope.types), dict(scope.values), set(scope.static))


def int_attribute(node: onnx.NodeProto, name: str, default: int) -> int:
    """The node's integer attribute `name`, or `default` when absent."""
    return next((int(a.i) for a in node.attribute if a.name == name), default)


def ints_attribute(node: onnx.NodeProto, name: str) -> list[int]:
    """The node's integer-list attribute `name`, or [] when absent."""
    return next((list(a.ints) for a in node.attribute if a.name == name), [])


def scalar_of(value: np.ndarray | None) -> int | None:
    """The single integer a one-element array holds (a trip count, a condition), or None."""
    return int(value.reshape(-1)[0]) if value is not None and value.size == 1 else None
