"""Folding a short chain of pure ops on stored tensors into the one tensor it computes (onnx's reference evaluator),
so weights a graph builds by Slice/Concat read as constants."""

from __future__ import annotations

import numpy as np
import onnx
import onnx_ir as ir
from onnx_ir import convenience

# Pure ops torch.onnx and others use to build weights from constants in the graph (silero-vad reorders its LSTM
# gates with Slice + Concat + Unsqueeze of Constant nodes): such a chain is folded to the tensor it computes.
FOLDABLE = {"Identity", "Unsqueeze", "Squeeze", "Concat", "Slice", "Transpose", "Reshape", "Gather", "Cast", "Split"}


FOLD_LIMIT = 64  # nodes per weight: a weight is a short chain, anything longer is not worth the evaluation


def fold_constant(value: ir.Value, opset: int, budget: list[int]) -> np.ndarray | None:
    """The tensor `value` computes when it is stored or built from stored tensors by a short pure chain; None otherwise."""
    tensor = convenience.get_const_tensor(value)
    if tensor is not None:
        return tensor.numpy()
    node = value.producer()
    if node is None or node.op_type not in FOLDABLE or node.domain not in ("", "ai.onnx") or budget[0] <= 0:
        return None
    budget[0] -= 1
    args: list[np.ndarray | None] = []
    for arg in node.inputs:
        folded = fold_constant(arg, opset, budget) if arg is not None else None
        if arg is not None and folded is None:
            return None
        args.append(folded)
    index = value.index()
    assert index is not None  # an output of `node`, which produced it
    return _evaluate(node, args, opset)[index]


def _evaluate(node: ir.Node, args: list[np.ndarray | None], opset: int) -> list[np.ndarray]:
    """Run one pure node on constant inputs with onnx's reference implementation (the spec's own semantics)."""
    from onnx.reference import ReferenceEvaluator

    proto = ir.serde.serialize_node(node)
    names = [f"in{k}" if a is not None else "" for k, a in enumerate(args)]
    proto.input[:] = names
    proto.output[:] = [f"out{k}" for k in range(len(proto.output))]
    feeds = {n: a for n, a in zip(names, args, strict=True) if a is not None}  # n is "" exactly where a is None
    graph = onnx.helper.make_graph(
        [proto],
        "fold",
        [onnx.helper.make_tensor_value_info(n, onnx.helper.np_dtype_to_tensor_dtype(a.dtype), a.shape) for n, a in feeds.items()],
        [onnx.helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in proto.output],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])
    return [np.asarray(o) for o in ReferenceEvaluator(model).run(None, feeds)]  # arrays already; typed as such
