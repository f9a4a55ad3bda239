"""What a graph contains, as far as quantization cares (ops at every nesting level, Loop bodies included)."""

from __future__ import annotations

from collections import Counter

import onnx
import onnx.numpy_helper


def op_counts(model: onnx.ModelProto) -> Counter[str]:
    counts: Counter[str] = Counter()

    def visit(graph: onnx.GraphProto) -> None:
        for node in graph.node:
            counts[node.op_type] += 1
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    visit(attr.g)

    visit(model.graph)
    return counts


def describe_ops(counts: Counter[str], names: tuple[str, ...]) -> str:
    return ", ".join(f"{counts[n]} {n}" for n in names if counts[n]) or "none"


def initializer_bytes(model: onnx.ModelProto) -> int:
    """Bytes of initializers, Loop/If bodies included: what edgelstm reports as a graph's weight bytes."""
    return _tensor_bytes(model, constants=False)


def stored_tensor_bytes(model: onnx.ModelProto) -> int:
    """Initializers plus Constant-node tensors, in every subgraph (silero keeps its weights as Constants inside
    If branches): the bytes a weight quantizer can shrink, whatever the graph's names and structure cost."""
    return _tensor_bytes(model, constants=True)


def _tensor_bytes(model: onnx.ModelProto, constants: bool) -> int:
    def size(tensor: onnx.TensorProto) -> int:
        return len(tensor.raw_data) or onnx.numpy_helper.to_array(tensor).nbytes

    def visit(graph: onnx.GraphProto) -> int:
        total = sum(size(init) for init in graph.initializer)
        for node in graph.node:
            for attr in node.attribute:
                if constants and attr.type == onnx.AttributeProto.TENSOR:
                    total += size(attr.t)
                for sub in [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs):
                    total += visit(sub)
        return total

    return visit(model.graph)
