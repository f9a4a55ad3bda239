"""State exposure for foreign graphs: torch.onnx's fused LSTM/GRU (zeros in, state dropped) becomes a streaming graph
whose state is I/O, written only when chunked runs carrying that state match the whole sequence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgelstm.errors import UnsupportedGraphError
from edgelstm.export.state_exposure import expose_rnn_state, stream_graph_file
from tests.support.state_exposure import FEATURES, HIDDEN


def _bare_lstm(initial_h: list[float] | None) -> onnx.ModelProto:
    """A hand-made graph: an LSTM that lists only its Y output (no Y_h/Y_c), initial_h given or absent."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((1, 4 * HIDDEN, FEATURES)).astype(np.float32) * 0.3
    r = rng.standard_normal((1, 4 * HIDDEN, HIDDEN)).astype(np.float32) * 0.3
    inits = [
        helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.ravel()),
        helper.make_tensor("R", TensorProto.FLOAT, r.shape, r.ravel()),
    ]
    inputs = ["x", "W", "R"]
    if initial_h is not None:
        inits.append(helper.make_tensor("h0", TensorProto.FLOAT, [1, 1, HIDDEN], initial_h))
        inputs += ["", "", "h0"]
    node = helper.make_node("LSTM", inputs, ["y"], hidden_size=HIDDEN, name="lstm")
    graph = helper.make_graph(
        [node],
        "bare",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["time", 1, FEATURES])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["time", 1, 1, HIDDEN])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_node_without_state_outputs_gets_them() -> None:
    model, states = expose_rnn_state(_bare_lstm(None))
    onnx.checker.check_model(model, full_check=True)
    assert [(s.input_name, s.output_name) for s in states] == [("lstm_h_in", "lstm_h_out"), ("lstm_c_in", "lstm_c_out")]
    assert [o.name for o in model.graph.output] == ["y", "lstm_h_out", "lstm_c_out"]


def test_constant_nonzero_initial_state_is_refused() -> None:
    expose_rnn_state(_bare_lstm([0.0] * HIDDEN))  # zeros: replaced by the input
    with pytest.raises(UnsupportedGraphError, match="not zeros"):
        expose_rnn_state(_bare_lstm([0.5] * HIDDEN))


def test_graph_without_fused_rnn_is_refused(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "plain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
    )
    path = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(UnsupportedGraphError, match="no fused LSTM/GRU"):
        stream_graph_file(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
