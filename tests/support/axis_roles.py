"""Helpers and fixtures that both halves of tests/test_axis_roles.py need: tests/unit/test_axis_roles.py and
tests/e2e/test_axis_roles_cli.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

HIDDEN, WINDOW = 3, 4


def _lstm_weights(inputs: int) -> list[onnx.TensorProto]:
    rng = np.random.default_rng(0)
    return [
        numpy_helper.from_array((0.5 * rng.standard_normal((1, 4 * HIDDEN, inputs))).astype(np.float32), "W"),
        numpy_helper.from_array((0.5 * rng.standard_normal((1, 4 * HIDDEN, HIDDEN))).astype(np.float32), "R"),
        numpy_helper.from_array((0.1 * rng.standard_normal((1, 8 * HIDDEN))).astype(np.float32), "B"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([-1, HIDDEN], np.int64), "rows_by_hidden"),
    ]


def _save(path: Path, nodes: list, inputs: list, outputs: list, initializers: list) -> Path:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def frames_first_graph(path: Path, window: int | str = WINDOW) -> Path:
    """silero's sequence form in miniature: x [frames, window] -> one LSTM step per frame at batch 1, the state
    h/c [1, 1, H] (fixed batch) carried across frames; y [frames, H]. A free `window` makes the roles ambiguous."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["frames", window])
    h, c = (helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1, HIDDEN]) for n in ("h", "c"))
    nodes = [
        # the window's mean: a feature that runs at any window length (so a free window can be probed)
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=1),
        helper.make_node("Unsqueeze", ["m", "axis1"], ["seq"]),  # [frames, 1 (batch), 1]
        helper.make_node("LSTM", ["seq", "W", "R", "B", "", "h", "c"], ["Y", "hn", "cn"], hidden_size=HIDDEN),
        helper.make_node("Reshape", ["Y", "rows_by_hidden"], ["y"]),  # [frames, 1, 1, H] -> [frames, H]
    ]
    outputs = [
        helper.make_tensor_value_info("y", TensorProto.FLOAT, ["frames", HIDDEN]),
        helper.make_tensor_value_info("hn", TensorProto.FLOAT, [1, None, HIDDEN]),
        helper.make_tensor_value_info("cn", TensorProto.FLOAT, [1, None, HIDDEN]),
    ]
    return _save(path, nodes, [x, h, c], outputs, _lstm_weights(1))


def batch_first_graph(path: Path) -> Path:
    """x [batch, time, F] with states h/c [1, batch, H] (a free batch): the usual streaming export."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", "T", WINDOW])
    h, c = (helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, "B", HIDDEN]) for n in ("h", "c"))
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
        helper.make_node("LSTM", ["xt", "W", "R", "B", "", "h", "c"], ["Y", "hn", "cn"], hidden_size=HIDDEN),
        helper.make_node("Squeeze", ["Y", "axis1"], ["ys"]),  # [T, B, H]
        helper.make_node("Transpose", ["ys"], ["y"], perm=[1, 0, 2]),
    ]
    outputs = [
        helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", "T", HIDDEN]),
        helper.make_tensor_value_info("hn", TensorProto.FLOAT, [1, "B", HIDDEN]),
        helper.make_tensor_value_info("cn", TensorProto.FLOAT, [1, "B", HIDDEN]),
    ]
    return _save(path, nodes, [x, h, c], outputs, _lstm_weights(WINDOW))


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("axes")
    return {
        "frames": frames_first_graph(folder / "frames.onnx"),
        "batch": batch_first_graph(folder / "batch.onnx"),
        "ambiguous": frames_first_graph(folder / "ambiguous.onnx", window="W"),
    }
