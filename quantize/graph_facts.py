"""What a graph contains, as far as quantization cares (ops at every nesting level, Loop bodies included)."""

from __future__ import annotations

from collections import Counter

import onnx
import onnx.numpy_helper

from edgelstm.artifact.walk import graphs, nodes


def op_counts(model: onnx.ModelProto) -> Counter[str]:
    """How many nodes of each op type the graph has, subgraphs included."""
    return Counter(node.op_type for node in nodes(model.graph))


def describe_ops(counts: Counter[str], names: tuple[str, ...]) -> str:
    """ "3 MatMulInteger, 1 LSTM" for the op types in `names` that the graph has ("none" otherwise)."""
    return ", ".join(f"{counts[n]} {n}" for n in names if counts[n]) or "none"


def initializer_bytes(model: onnx.ModelProto) -> int:
    """Bytes of initializers, Loop/If bodies included: what edgelstm reports as a graph's weight bytes."""
    return _tensor_bytes(model, constants=False)


def stored_tensor_bytes(model: onnx.ModelProto) -> int:
    """Initializers plus Constant-node tensors, in every subgraph (silero keeps its weights as Constants inside
    If branches): the bytes a weight quantizer can shrink, whatever the graph's names and structure cost."""
    return _tensor_bytes(model, constants=True)


def _tensor_bytes(model: onnx.ModelProto, constants: bool) -> int:
    """Bytes of the graph's initializers (and Constant values when `constants`), int4 at half a byte."""

    def size(tensor: onnx.TensorProto) -> int:
        return len(tensor.raw_data) or onnx.numpy_helper.to_array(tensor).nbytes

    total = 0
    for graph in graphs(model.graph):
        total += sum(size(init) for init in graph.initializer)
        if constants:
            tensors = (a.t for n in graph.node for a in n.attribute if a.type == onnx.AttributeProto.TENSOR)
            total += sum(size(t) for t in tensors)
    return total
