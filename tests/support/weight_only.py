"""Helpers and fixtures that both halves of tests/test_weight_only.py need: tests/unit/test_weight_only.py and
tests/e2e/test_weight_only_cli.py."""

from __future__ import annotations

import onnx
import onnx.reference
from onnx import TensorProto, helper

from edgelstm.artifact.walk import graphs, model_nodes


def _model(graph: onnx.GraphProto, opset: int = 17) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def _expansion_casts(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """The Cast nodes that read a stored int8/int4 tensor (initializer or Constant), subgraphs included."""
    found: list[onnx.NodeProto] = []
    ints = (TensorProto.INT8, TensorProto.INT4)

    for graph in graphs(model.graph):
        stored = {i.name for i in graph.initializer if i.data_type in ints}
        stored |= {n.output[0] for n in graph.node if n.op_type == "Constant" and n.attribute[0].t.data_type in ints}
        found += [node for node in graph.node if node.op_type == "Cast" and node.input[0] in stored]
    return found


def _dequantize_nodes(model: onnx.ModelProto) -> list[str]:
    return [op for op in _op_list(model) if op == "DequantizeLinear"]


def _op_list(model: onnx.ModelProto) -> list[str]:
    """Every node's op type, subgraphs included (through the artifact core's one walker)."""
    return [node.op_type for node in model_nodes(model)]
