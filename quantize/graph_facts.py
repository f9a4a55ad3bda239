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
    """Bytes of stored tensors (weights, biases, constants), Loop bodies included."""
    total = 0

    def visit(graph: onnx.GraphProto) -> None:
        nonlocal total
        for init in graph.initializer:
            total += len(init.raw_data) or onnx.numpy_helper.to_array(init).nbytes
        for node in graph.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    visit(attr.g)

    visit(model.graph)
    return total


def stored_tensor_bytes(model: onnx.ModelProto) -> int:
    """Initializers plus Constant-node tensors, in every subgraph (silero keeps its weights as Constants inside
    If branches): the bytes a weight quantizer can shrink, whatever the graph's names and structure cost."""
    total = 0

    def visit(graph: onnx.GraphProto) -> None:
        nonlocal total
        for init in graph.initializer:
            total += len(init.raw_data) or onnx.numpy_helper.to_array(init).nbytes
        for node in graph.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR:
                    total += len(attr.t.raw_data) or onnx.numpy_helper.to_array(attr.t).nbytes
                for sub in [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs):
                    visit(sub)

    visit(model.graph)
    return total
