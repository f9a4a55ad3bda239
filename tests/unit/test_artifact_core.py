"""The artifact core's own pieces (issue 18): the one node walk, the session factory's settings and optimised files,
the graph reader's dtype table, and the artifact file read once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from edgelstm.artifact.file import open_artifact
from edgelstm.artifact.graph_io import numpy_dtype, read_value_infos, session_tensor_specs
from edgelstm.artifact.metadata import metadata_of, read_metadata
from edgelstm.artifact.session import SessionSettings, session_from_onnx, write_optimized
from edgelstm.artifact.walk import graphs, model_nodes, nodes
from edgelstm.errors import LoadError

OPSET = [helper.make_opsetid("", 17)]


def _identity_graph(name: str, inner: str, outer: str) -> onnx.GraphProto:
    return helper.make_graph(
        [helper.make_node("Identity", [inner], [outer])],
        name,
        [],
        [helper.make_tensor_value_info(outer, TensorProto.FLOAT, None)],
    )


def _nested_if_model() -> onnx.ModelProto:
    """An If whose then-branch holds another If: three levels of graphs, a local function beside them."""
    inner = helper.make_node(
        "If", ["c"], ["z"], then_branch=_identity_graph("deep_then", "x", "z"), else_branch=_identity_graph("deep_else", "x", "z")
    )
    then = helper.make_graph([inner], "then", [], [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)])
    outer = helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=_identity_graph("else", "x", "y"))
    graph = helper.make_graph(
        [outer],
        "nested",
        [helper.make_tensor_value_info("c", TensorProto.BOOL, []), helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    function = helper.make_function("local", "Twice", ["a"], ["b"], [helper.make_node("Add", ["a", "a"], ["b"])], OPSET)
    return helper.make_model(graph, opset_imports=[*OPSET, helper.make_opsetid("local", 1)], functions=[function])


def test_the_walk_enters_subgraphs_at_any_depth() -> None:
    model = _nested_if_model()
    assert sorted(g.name for g in graphs(model.graph)) == ["deep_else", "deep_then", "else", "nested", "then"]
    assert sorted(n.op_type for n in nodes(model.graph)) == ["Identity", "Identity", "Identity", "If", "If"]
    assert "Add" in {n.op_type for n in model_nodes(model)}  # local functions are the file's own code too


def test_the_dtype_table_is_onnx_own() -> None:
    assert numpy_dtype(TensorProto.FLOAT16) == "float16"
    assert numpy_dtype(TensorProto.INT64) == "int64"
    assert numpy_dtype(0) == "float32"  # an exporter that left the type out: float, as ORT assumes
    assert numpy_dtype(TensorProto.STRING) == "object"
    assert numpy_dtype(10_000) == "onnx-type-10000"


def _add_model(path: Path) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["y"])],
        "add",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
    )
    onnx.save(helper.make_model(graph, opset_imports=OPSET), str(path))
    return path


def test_the_reader_and_a_session_agree_on_the_interface(tmp_path: Path) -> None:
    path = _add_model(tmp_path / "add.onnx")
    inputs, outputs = read_value_infos(onnx.load(str(path)))
    session = session_from_onnx(path)
    (from_session,) = session_tensor_specs(session.get_inputs())
    assert (inputs[0].name, inputs[0].dtype, list(inputs[0].shape)) == (from_session.name, from_session.dtype, from_session.shape)
    assert outputs[0].name == session.get_outputs()[0].name


def test_plain_settings_set_only_what_differs_from_ort(tmp_path: Path) -> None:
    path = _add_model(tmp_path / "add.onnx")
    default = session_from_onnx(path, SessionSettings.ort_defaults()).get_session_options()
    unoptimised = session_from_onnx(path, SessionSettings.ort_defaults(graph_optimization="disable")).get_session_options()
    assert default.graph_optimization_level == ort.SessionOptions().graph_optimization_level  # ORT's own default
    assert unoptimised.graph_optimization_level == ort.GraphOptimizationLevel.ORT_DISABLE_ALL


def test_write_optimized_writes_what_a_session_then_runs(tmp_path: Path) -> None:
    path = _add_model(tmp_path / "add.onnx")
    ort_file = write_optimized(path, tmp_path / "add.ort", "extended", ort_format=True)
    onnx_file = write_optimized(path, tmp_path / "optimized.onnx", "basic")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    (y,) = session_from_onnx(ort_file).run(None, {"x": x})
    np.testing.assert_array_equal(y, 2 * x)
    assert ort_file.read_bytes()[4:8] == b"ORTM"  # the ORT format's flatbuffer identifier, not a protobuf
    assert onnx.load(str(onnx_file)).graph.node[0].op_type == "Add"


def test_the_artifact_file_is_read_once_and_says_what_it_is(tmp_path: Path) -> None:
    path = _add_model(tmp_path / "plain.onnx")
    with pytest.raises(LoadError, match=r"plain\.onnx: this ONNX file has no edgelstm metadata"):
        metadata_of(onnx.load(str(path)), path)
    with pytest.raises(LoadError, match="no edgelstm metadata"):
        read_metadata(path)
    info = open_artifact(path)
    assert info.metadata is None and info.interface.impl == "unknown" and info.precision == "fp32"
    assert len(info.sha256) == 64
