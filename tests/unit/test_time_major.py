"""The time-major pass (export/time_major.py): torch.onnx's layout Transposes around batch_first=True LSTM/GRU
nodes are dropped, the outputs stay the same numbers (turned), and graphs whose data reaches the recurrent nodes
any other way are left byte for byte as they were."""

from __future__ import annotations

import io
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnx_ir as ir
import pytest
import silero_vad
import torch
from onnx import TensorProto, helper

from edgelstm.artifact.interface import GraphInterface, TensorSpec
from edgelstm.artifact.layout import run_batch_first
from edgelstm.artifact.metadata import read_metadata
from edgelstm.artifact.session import session_from_onnx
from edgelstm.artifact.streaming import StreamingSession
from edgelstm.export.state_exposure import PROBE_STEPS, expose_rnn_state, source_parity, stream_graph_file
from edgelstm.export.time_major import TimeMajorDataPass, time_major_model
from edgelstm.jsonio import to_jsonable
from edgelstm.quantize.api import _probe_feeds

FEATURES, HIDDEN, CLASSES = 4, 8, 3


class Net(torch.nn.Module):
    """batch_first RNN -> ReLU -> per-step Linear (optionally a conv front end, which reads x first)."""

    def __init__(self, cell: type, layers: int, conv: bool = False) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(FEATURES, FEATURES, 1) if conv else None
        self.rnn = cell(FEATURES, HIDDEN, num_layers=layers, batch_first=True)
        self.head = torch.nn.Linear(HIDDEN, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv is not None:
            x = self.conv(x.transpose(1, 2)).transpose(1, 2)
        return self.head(torch.relu(self.rnn(x)[0]))


def _streaming_graph(module: torch.nn.Module) -> onnx.ModelProto:
    """The module as torch.onnx writes it, its fused nodes' state exposed (what `export GRAPH.onnx` starts from)."""
    model, _ = expose_rnn_state(_torch_graph(module))
    return model


def _torch_graph(module: torch.nn.Module) -> onnx.ModelProto:
    """The module as torch.onnx writes it (batch-first x, zeros as initial state, final state dropped)."""
    buffer = io.BytesIO()
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            (torch.randn(2, 5, FEATURES),),
            buffer,
            dynamo=False,
            opset_version=17,
            input_names=["x"],
            output_names=["output"],
            dynamic_axes={"x": {0: "batch", 1: "time"}, "output": {0: "batch", 1: "time"}},
        )
    return onnx.load_from_string(buffer.getvalue())


def _interface(model: onnx.ModelProto) -> GraphInterface:
    """The batch-first interface of an exposed graph (data, output, the states at zero)."""
    states = [i.name for i in model.graph.input if i.name != "x"]
    inputs = [TensorSpec("x", "float32", ["batch", "chunk", FEATURES])]
    inputs += [TensorSpec(s, "float32", [1, "batch", HIDDEN]) for s in states]
    outputs = [
        TensorSpec(o.name, "float32", ["batch", "chunk", CLASSES] if o.name == "output" else [1, "batch", HIDDEN])
        for o in model.graph.output
    ]
    return GraphInterface("streaming", "foreign", inputs, outputs, [])


def _run(model: onnx.ModelProto, interface: GraphInterface, x: np.ndarray, path: Path) -> list[np.ndarray]:
    onnx.save(model, str(path))
    names = [o.name for o in interface.outputs]
    zeros = {t.name: np.zeros((1, x.shape[0], HIDDEN), np.float32) for t in interface.inputs if t.name != "x"}
    return run_batch_first(interface, session_from_onnx(path).run)(names, {"x": x, **zeros})


@pytest.mark.parametrize(("cell", "layers"), [(torch.nn.LSTM, 1), (torch.nn.LSTM, 2), (torch.nn.GRU, 1), (torch.nn.GRU, 2)])
def test_layout_transposes_go_and_the_outputs_stay(cell: type, layers: int, tmp_path: Path) -> None:
    model = _streaming_graph(Net(cell, layers))
    before = _interface(model)
    turned, interface, rewrite = time_major_model(model, before)
    assert rewrite.applied and rewrite.data_input == "x" and rewrite.outputs == ("output",) and len(rewrite.removed) == 2
    assert "Transpose" not in {n.op_type for n in turned.graph.node}
    assert interface.layout == "time_major"
    assert interface.data_input.shape == ["chunk", "batch", FEATURES] and interface.outputs[0].shape == [
        "chunk",
        "batch",
        CLASSES,
    ]
    assert [i.name for i in turned.graph.input] == [i.name for i in model.graph.input]  # states untouched
    graph_x = [d.dim_param or d.dim_value for d in turned.graph.input[0].type.tensor_type.shape.dim]
    assert graph_x == ["time", "batch", FEATURES]
    x = np.random.default_rng(0).standard_normal((3, 11, FEATURES)).astype(np.float32)
    expected = _run(model, before, x, tmp_path / "batch_first.onnx")
    got = _run(turned, interface, x, tmp_path / "time_major.onnx")
    for a, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, e, atol=1e-6)
    # the graph itself takes [time, batch, F]: fed batch-first without the adapter, it computes something else
    raw = session_from_onnx(tmp_path / "time_major.onnx").run(
        ["output"],
        {
            "x": x.swapaxes(0, 1).copy(),
            **{t.name: np.zeros((1, 3, HIDDEN), np.float32) for t in interface.inputs if t.name != "x"},
        },
    )[0]
    np.testing.assert_allclose(raw.swapaxes(0, 1), expected[0], atol=1e-6)


def test_a_conv_front_end_is_left_as_it_is() -> None:
    model = _streaming_graph(Net(torch.nn.GRU, 1, conv=True))
    turned, interface, rewrite = time_major_model(model, _interface(model))
    assert not rewrite.applied and "through Transpose" in rewrite.reason and "not a layout Transpose" in rewrite.reason
    assert turned is model and interface.layout == "batch_first"
    assert rewrite.describe().startswith("batch-first")


def test_silero_is_left_as_it_is() -> None:
    silero = Path(silero_vad.__file__).parent / "data" / "silero_vad.onnx"
    ir_model = ir.load(silero)
    layout_pass = TimeMajorDataPass("input")
    assert not layout_pass(ir_model).modified
    assert not layout_pass.rewrite.applied and "rank 2" in layout_pass.rewrite.reason


def _hand_made(direction: str) -> onnx.ModelProto:
    """x [B, T, F] -> Transpose -> LSTM(direction) -> Y: the pass only turns data for one-way nodes."""
    rng = np.random.default_rng(0)
    dirs = 2 if direction == "bidirectional" else 1
    w = rng.standard_normal((dirs, 4 * HIDDEN, FEATURES)).astype(np.float32)
    r = rng.standard_normal((dirs, 4 * HIDDEN, HIDDEN)).astype(np.float32)
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
        helper.make_node("LSTM", ["xt", "W", "R"], ["y"], hidden_size=HIDDEN, direction=direction),
    ]
    graph = helper.make_graph(
        nodes,
        "hand",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", FEATURES])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["time", dirs, "batch", HIDDEN])],
        [
            helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.ravel()),
            helper.make_tensor("R", TensorProto.FLOAT, r.shape, r.ravel()),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_bidirectional_nodes_are_refused_and_one_way_ones_turned() -> None:
    for direction, applied in (("bidirectional", False), ("forward", True)):
        ir_model = ir.from_proto(_hand_made(direction))
        layout_pass = TimeMajorDataPass("x")
        layout_pass(ir_model)
        assert layout_pass.rewrite.applied is applied, layout_pass.rewrite
        if not applied:
            assert "one-way fused" in layout_pass.rewrite.reason
        else:  # Y [T, 1, B, H] is no per-step [B, T, ...] output: only the data input turned
            assert layout_pass.rewrite.outputs == ()


def test_stream_graph_file_writes_time_major_and_checks_it_against_the_source(tmp_path: Path) -> None:
    source = tmp_path / "lstm.onnx"
    onnx.save(_torch_graph(Net(torch.nn.LSTM, 2)), str(source))
    result = stream_graph_file(source, tmp_path / "out")
    assert result.layout.applied and to_jsonable(result)["layout"] == "time_major"
    assert result.source_parity is not None and result.source_parity.chunk == PROBE_STEPS and result.source_parity.passed
    assert [p.chunk for p in result.parity] == [1, 7] and all(p.passed for p in result.parity)
    assert result.path is not None
    interface = read_metadata(result.path).interface
    assert interface.layout == "time_major" and interface.data_input.shape[:2] == ["chunk", "batch"]
    assert "Transpose" not in {n.op_type for n in onnx.load(str(result.path)).graph.node}
    # an app's StreamingSession feeds it batch-first chunks of 1 and gets the source graph's one-call output
    x = np.random.default_rng(4).standard_normal((2, 9, FEATURES)).astype(np.float32)
    (expected,) = session_from_onnx(source).run(["output"], {"x": x})
    stream = StreamingSession.open(result.path, batch=2)
    steps = [stream.step(x[:, t : t + 1])["output"] for t in range(9)]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), expected, atol=1e-5)
    # the check bites: the time-major graph read as if it were batch-first differs from the source
    wrong = replace(
        interface,
        layout="batch_first",
        inputs=[replace(interface.inputs[0], shape=["batch", "chunk", FEATURES]), *interface.inputs[1:]],
    )
    refused = source_parity(source, result.path, wrong)
    assert refused is not None and not refused.passed


def test_an_output_that_is_the_layout_transpose_itself_keeps_its_name(tmp_path: Path) -> None:
    """Y -> Squeeze(axis 1) -> Transpose is the graph output `y` (no head after it): `y` moves onto the Squeeze."""
    model = _hand_made("forward")
    graph = model.graph
    graph.node[1].output[0] = "y4"
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    graph.initializer.append(axes)
    graph.node.extend(
        [helper.make_node("Squeeze", ["y4", "axes"], ["ys"]), helper.make_node("Transpose", ["ys"], ["y"], perm=[1, 0, 2])]
    )
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "time", HIDDEN]))
    onnx.checker.check_model(model, full_check=True)
    interface = GraphInterface(
        "streaming",
        "foreign",
        [TensorSpec("x", "float32", ["batch", "chunk", FEATURES])],
        [TensorSpec("y", "float32", ["batch", "chunk", HIDDEN])],
        [],
    )
    turned, turned_interface, rewrite = time_major_model(model, interface)
    assert rewrite.applied and rewrite.outputs == ("y",) and len(rewrite.removed) == 2
    assert [o.name for o in turned.graph.output] == ["y"] and "Transpose" not in {n.op_type for n in turned.graph.node}
    x = np.random.default_rng(0).standard_normal((2, 5, FEATURES)).astype(np.float32)
    expected = _run(model, interface, x, tmp_path / "before.onnx")
    np.testing.assert_allclose(_run(turned, turned_interface, x, tmp_path / "after.onnx")[0], expected[0], atol=1e-6)


class Stacked(torch.nn.Module):
    """Two batch_first layers of the user's own (LSTM -> ReLU -> GRU): torch.onnx writes a Transpose back to
    batch-first after the first and one to time-major before the second."""

    def __init__(self) -> None:
        super().__init__()
        self.first = torch.nn.LSTM(FEATURES, HIDDEN, batch_first=True)
        self.second = torch.nn.GRU(HIDDEN, HIDDEN, batch_first=True)
        self.head = torch.nn.Linear(HIDDEN, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.second(torch.relu(self.first(x)[0]))[0])


def test_transposes_between_two_batch_first_layers_cancel(tmp_path: Path) -> None:
    model = _streaming_graph(Stacked())
    assert [n.op_type for n in model.graph.node].count("Transpose") == 4
    before = _interface(model)
    turned, interface, rewrite = time_major_model(model, before)
    assert rewrite.applied and len(rewrite.removed) == 4
    assert [n.op_type for n in turned.graph.node] == ["LSTM", "Squeeze", "Relu", "GRU", "Squeeze", "MatMul", "Add"]
    x = np.random.default_rng(0).standard_normal((3, 9, FEATURES)).astype(np.float32)
    expected = _run(model, before, x, tmp_path / "batch_first.onnx")
    for a, e in zip(_run(turned, interface, x, tmp_path / "time_major.onnx"), expected, strict=True):
        np.testing.assert_allclose(a, e, atol=1e-6)


def test_quantizes_crash_probe_feeds_a_time_major_graph_as_it_takes_data(tmp_path: Path) -> None:
    # At a set chunk the probe's batch-first [1, 4, F] must be written as the graph takes it, [4, 1, F].
    source = tmp_path / "lstm.onnx"
    onnx.save(_torch_graph(Net(torch.nn.LSTM, 1)), str(source))
    result = stream_graph_file(source, tmp_path / "out")
    assert result.path is not None
    metadata = read_metadata(result.path)
    chunked = replace(metadata, interface=replace(metadata.interface, chunk=4))
    probe = _probe_feeds(chunked, tmp_path)
    assert probe is not None
    with np.load(probe) as feeds:
        assert feeds["x"].shape == (4, 1, FEATURES)
        session_from_onnx(result.path).run(None, dict(feeds))  # the graph takes them
