"""Helpers and fixtures that both halves of tests/test_weight_only.py need: tests/unit/test_weight_only.py and
tests/e2e/test_weight_only_cli.py."""

from __future__ import annotations

import onnx
import onnx.reference
from onnx import TensorProto, helper


def _model(graph: onnx.GraphProto, opset: int = 17) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def _expansion_casts(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """The Cast nodes that read a stored int8/int4 tensor (initializer or Constant), subgraphs included."""
    found: list[onnx.NodeProto] = []
    ints = (TensorProto.INT8, TensorProto.INT4)

    def visit(graph: onnx.GraphProto) -> None:
        stored = {i.name for i in graph.initializer if i.data_type in ints}
        stored |= {n.output[0] for n in graph.node if n.op_type == "Constant" and n.attribute[0].t.data_type in ints}
        for node in graph.node:
            if node.op_type == "Cast" and node.input[0] in stored:
                found.append(node)
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    visit(attr.g)

    visit(model.graph)
    return found


def _dequantize_nodes(model: onnx.ModelProto) -> list[str]:
    return [op for op in _op_list(model) if op == "DequantizeLinear"]


def _op_list(model: onnx.ModelProto) -> list[str]:
    """Every node's op type, subgraphs included."""
    ops: list[str] = []

    def visit(graph: onnx.GraphProto) -> None:
        for node in graph.node:
            ops.append(node.op_type)
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    visit(attr.g)

    visit(model.graph)
    return ops
