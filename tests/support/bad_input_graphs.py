"""Helpers and fixtures that both halves of tests/test_bad_input_graphs.py need: tests/unit/test_bad_input_graphs.py
and tests/e2e/test_bad_input_graphs_cli.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.checkpoint import save_checkpoint
from edgelstm.export.api import export_model
from edgelstm.loading import load_model
from tests.conftest import tiny_model


@dataclass
class Graphs:
    root: Path
    ckpt: Path
    sequence: Path  # an edgelstm sequence artifact (LSTM classifier)
    streaming: Path  # its streaming form (h_in/c_in -> h_out/c_out)
    foreign: Path  # the sequence artifact without its metadata: a graph made elsewhere

    def folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(exist_ok=True)
        return path


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> Graphs:
    root = tmp_path_factory.mktemp("bad_graphs")
    save_checkpoint(tiny_model(cell="lstm", head="classify-last"), root / "ckpt")
    loaded = load_model(str(root / "ckpt"))
    sequence = export_model(loaded, root / "seq", ExportConfig(form="sequence", impl="fused")).path
    streaming = export_model(loaded, root / "stream", ExportConfig(form="streaming", impl="fused")).path
    model = onnx.load(str(sequence))
    del model.metadata_props[:]
    onnx.save(model, str(root / "foreign.onnx"))
    return Graphs(root, root / "ckpt", sequence, streaming, root / "foreign.onnx")


def _x_to_y(node: onnx.NodeProto, opset: int = 17, extra_opsets: tuple[tuple[str, int], ...] = (), inits=()) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "time", 5])
    graph = helper.make_graph([node], "g", [x], [y], list(inits))
    opsets = [helper.make_opsetid("", opset), *(helper.make_opsetid(d, v) for d, v in extra_opsets)]
    return helper.make_model(graph, opset_imports=opsets)


def _save(graphs: Graphs, name: str, model: onnx.ModelProto) -> Path:
    path = graphs.folder(name) / "model.onnx"
    onnx.save(model, str(path))
    return path


def _ort_refuses_types(graphs: Graphs) -> Path:
    """Valid protobuf that passes the checks made before ORT; ORT's type inference refuses it (float + int64)."""
    ones = numpy_helper.from_array(np.ones(5, np.int64), "c")
    return _save(graphs, "typemix", _x_to_y(helper.make_node("Add", ["x", "c"], ["y"]), inits=[ones]))


def check_with_budget(graphs: Graphs, budget: Path) -> list[str]:
    """`check` of the exported sequence graph against its checkpoint on the CPU with the budget file `budget`."""
    common = ["--reference", str(graphs.ckpt), "--providers", "cpu", "--no-stress"]
    return ["check", str(graphs.sequence), *common, "--tolerances", str(budget)]
