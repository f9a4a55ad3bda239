"""Multiply-accumulates and weight bytes of one node run once, from the shapes its scope knows (the per-op formulas)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import onnx
from onnx import helper

from edgelstm.bench.graph_scope import Scope, Shape, int_attribute

MATMUL_LIKE = {"MatMul": 1, "MatMulInteger": 1, "FusedMatMul": 1, "MatMulIntegerToFloat": 1, "DynamicQuantizeMatMul": 1}
MATMUL_LIKE |= {"QLinearMatMul": 3}  # op -> index of its B (weight) input


CONV_LIKE = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3}


RECURRENT_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1, "DynamicQuantizeLSTM": 4}


def needs_shapes(node: onnx.NodeProto) -> bool:
    """Whether counting this node needs its input shapes (a multiplying op, or a subgraph holder)."""
    counted = node.op_type in MATMUL_LIKE or node.op_type in CONV_LIKE or node.op_type in RECURRENT_GATES
    return counted or node.op_type in ("Gemm", "MatMulNBits", "ConvTranspose", "Loop", "If", "Scan")


def contrib_output_shapes(node: onnx.NodeProto, scope: Scope) -> dict[str, Shape]:
    """Output shapes of the counted ops ONNX's shape inference does not know (ORT's com.microsoft domain)."""
    shape = lambda i: scope.shapes.get(node.input[i]) if len(node.input) > i else None  # noqa: E731
    a, b = shape(0), shape(1)
    if a is None:
        return {}
    if node.op_type == "DynamicQuantizeLSTM" and len(a) == 3 and b:
        hidden = int_attribute(node, "hidden_size", 0)
        state = (b[0], a[1], hidden)
        return dict(zip(node.output, [(a[0], b[0], a[1], hidden), state, state], strict=False))
    if node.op_type == "MatMulNBits":
        return {node.output[0]: (*a[:-1], int_attribute(node, "N", 0))}
    if node.op_type in ("FusedMatMul", "MatMulIntegerToFloat", "DynamicQuantizeMatMul") and b:
        return {node.output[0]: (*a[:-1], b[-1])}
    return {}


def node_count(node: onnx.NodeProto, scope: Scope) -> tuple[int, int, int, int, bool] | None:
    """(MACs, weight bytes read, k, n, whether an unknown dim was taken as 1) of one node run once, or None for a
    node that multiplies no weights."""
    op = node.op_type

    def shape(i: int) -> Shape:
        return scope.shapes.get(node.input[i], ()) if len(node.input) > i and node.input[i] else ()

    if op in MATMUL_LIKE:
        a, b = shape(0), shape(MATMUL_LIKE[op])
        k = dim_or_one(a[-1]) if a else dim_or_one(b[-2] if len(b) > 1 else None)
        n = dim_or_one(b[-1]) if len(b) > 1 else 1
        rows = product(a[:-1]) * product(b[:-2])
        return rows * k * n, _weight_bytes(node, MATMUL_LIKE[op], scope), k, n, has_unknown_dims(a, b)
    if op == "Gemm":
        a, b = shape(0), shape(1)
        trans_a, trans_b = int_attribute(node, "transA", 0), int_attribute(node, "transB", 0)
        m, k = (dim_or_one(a[1]), dim_or_one(a[0])) if trans_a else (dim_or_one(a[0]), dim_or_one(a[1] if len(a) > 1 else None))
        n = dim_or_one(b[0]) if trans_b else dim_or_one(b[1] if len(b) > 1 else None)
        return m * k * n, _weight_bytes(node, 1, scope), k, n, has_unknown_dims(a, b)
    if op == "MatMulNBits":
        a = shape(0)
        k, n = int_attribute(node, "K", 0), int_attribute(node, "N", 0)
        return product(a[:-1]) * k * n, _weight_bytes(node, 1, scope), k, n, has_unknown_dims(a)
    if op in CONV_LIKE:
        w, y = shape(CONV_LIKE[op]), scope.shapes.get(node.output[0], ())
        per_output = product(w[1:])
        return (
            product(y) * per_output,
            _weight_bytes(node, CONV_LIKE[op], scope),
            per_output,
            dim_or_one(w[0] if w else None),
            has_unknown_dims(w, y),
        )
    if op == "ConvTranspose":
        x, w = shape(0), shape(1)
        per_input = product(w[1:])
        return (
            product(x) * per_input,
            _weight_bytes(node, 1, scope),
            dim_or_one(w[0] if w else None),
            per_input,
            has_unknown_dims(x, w),
        )
    if op in RECURRENT_GATES:
        x, w, r = shape(0), shape(1), shape(2)
        seq, batch = (x[0], x[1]) if len(x) > 1 else (None, None)
        if int_attribute(node, "layout", 0):
            seq, batch = batch, seq
        hidden = int_attribute(node, "hidden_size", 0) or dim_or_one(r[-1] if r else None)
        n = RECURRENT_GATES[op] * hidden
        per_step = product(w[1:]) + product(r[1:])  # every direction's input and recurrent weights, once per step
        directions = dim_or_one(w[0] if w else None)
        macs = dim_or_one(seq) * dim_or_one(batch) * directions * per_step
        # The input projection is one GEMM over the whole sequence; the recurrent weights are read at every step.
        read = _weight_bytes(node, 1, scope) + dim_or_one(seq) * _weight_bytes(node, 2, scope)
        k = max(product(w[1:]), product(r[1:])) // max(n, 1)  # the larger of the input and recurrent matrices
        return macs, read, max(k, 1), n, has_unknown_dims(x, w, r)
    return None


def _weight_bytes(node: onnx.NodeProto, index: int, scope: Scope) -> int:
    """Bytes of input `index` when it is a weight (computed from stored tensors only), in the type the kernel reads."""
    if len(node.input) <= index or node.input[index] not in scope.static:
        return 0
    name = node.input[index]
    dims = scope.shapes.get(name, ())
    if None in dims:
        return 0
    item = helper.tensor_dtype_to_np_dtype(scope.types.get(name, onnx.TensorProto.FLOAT)).itemsize
    return product(dims) * item


def dim_or_one(d: int | None) -> int:
    """A dimension, with an unknown one (None or 0) taken as 1 (flagged by has_unknown_dims)."""
    return int(d) if d else 1


def product(dims: Iterable[int | None]) -> int:
    """The product of the dimensions, unknown ones taken as 1."""
    return int(np.prod([dim_or_one(d) for d in dims], dtype=np.int64))


def has_unknown_dims(*shapes: Shape) -> bool:
    """Whether any shape is missing or has an unknown dimension (the count then states an assumption)."""
    return any(not s or None in s for s in shapes)
