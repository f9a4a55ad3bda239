"""Issue 21: the slim streaming graph (one state pair per layer read and written by the fused nodes themselves, no
Slice / Concat / Identity per call), its parity chunk by chunk, and graphs in the layout written before it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgelstm.api_steps import CheckOptions, check
from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.feeds import sequence_feeds
from edgelstm.artifact.file import open_artifact
from edgelstm.artifact.layout import run_batch_first
from edgelstm.artifact.metadata import read_metadata
from edgelstm.artifact.session import session_from_onnx
from edgelstm.artifact.streaming import StreamingSession
from edgelstm.bundle.build import build_bundle
from edgelstm.errors import ExportError
from edgelstm.export.api import export_model, write_stacked_streaming
from edgelstm.export.graph_builder import FLOAT, GraphBuilder
from edgelstm.export.native import build_native_onnx
from edgelstm.loading import load_model
from edgelstm.model_source import ModelSource
from edgelstm.parity.data import SequenceData
from edgelstm.quantize import Fp16Config, quantize
from tests.support.slim_streaming import loaded_tiny, tiny_checkpoint

STEPS = 23  # not a multiple of 7: the last chunk is a short one


@pytest.mark.parametrize(
    "cell,ops",
    [
        ("lstm", ["LSTM", "Squeeze", "LSTM", "Squeeze", "MatMul", "Add"]),
        ("gru", ["GRU", "Squeeze", "GRU", "Squeeze", "MatMul", "Add"]),
    ],
)
def test_slim_graph_is_the_recurrent_nodes_and_the_head(cell: str, ops: list[str]) -> None:
    graph, interface = build_native_onnx(loaded_tiny(cell, 2).module, ExportConfig(form="streaming"))
    assert [n.op_type for n in graph.graph.node] == ops
    fused = [n for n in graph.graph.node if n.op_type in ("LSTM", "GRU")]
    slots = ("h", "c") if cell == "lstm" else ("h",)
    for layer, node in enumerate(fused):
        # the node reads its own state inputs and writes the graph's state outputs: nothing in between
        assert [node.input[5 + k] for k in range(len(slots))] == [f"{s}{layer}_in" for s in slots]
        assert list(node.output[1:]) == [f"{s}{layer}_out" for s in slots]
    assert graph.graph.node[-1].output[0] == "output"
    assert [s.input_name for s in interface.states] == [f"{s}{k}_in" for k in range(2) for s in slots]
    assert all(s.shape == [1, "batch", 8] for s in interface.states)
    # time-major data in and out (no Transpose per call), declared in the interface
    assert interface.layout == "time_major" and fused[0].input[0] == "x"
    assert interface.data_input.shape == ["chunk", "batch", 5] and interface.outputs[0].shape[:2] == ["chunk", "batch"]


def test_one_layer_model_keeps_its_state_names() -> None:
    _, interface = build_native_onnx(loaded_tiny("lstm", 1).module, ExportConfig(form="streaming"))
    assert [(s.input_name, s.output_name) for s in interface.states] == [("h_in", "h_out"), ("c_in", "c_out")]


def test_stacked_layout_is_the_previous_graph() -> None:
    graph, interface = build_native_onnx(
        loaded_tiny("lstm", 2).module, ExportConfig(form="streaming"), streaming_layout="stacked"
    )
    ops = [n.op_type for n in graph.graph.node]
    assert ops.count("Slice") == 4 and ops.count("Concat") == 2 and ops.count("Identity") == 3
    assert [s.input_name for s in interface.states] == ["h_in", "c_in"]
    with pytest.raises(ExportError, match="streaming layout"):
        build_native_onnx(loaded_tiny("lstm", 2).module, ExportConfig(form="streaming"), streaming_layout="wide")


def _one_call(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    info = open_artifact(path)
    names = [o.name for o in info.interface.outputs]
    run = run_batch_first(info.interface, session_from_onnx(path).run)  # a time-major graph fed batch-first data
    outputs = run(names, sequence_feeds(info.interface, x, None, "test"))
    return dict(zip(names, outputs, strict=True))


def _streamed(path: Path, x: np.ndarray, chunk: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    stream = StreamingSession.open(path, batch=x.shape[0])
    pieces = [stream.step(x[:, start : start + chunk]) for start in range(0, x.shape[1], chunk)]
    return {n: np.concatenate([p[n] for p in pieces], axis=1) for n in pieces[0]}, stream.state


@pytest.mark.parametrize(
    "cell,layers,head,impl",
    [
        ("lstm", 1, "per_step", "auto"),
        ("gru", 1, "per_step", "auto"),
        ("lstm", 2, "classify-last", "auto"),
        ("gru", 2, "per_step", "auto"),
        ("peephole", 2, "per_step", "auto"),
        ("lstm", 2, "classify-mean", "loop"),
    ],
)
@pytest.mark.parametrize("chunk", [1, 7])
def test_streaming_in_chunks_matches_one_call(tmp_path: Path, cell: str, layers: int, head: str, impl: str, chunk: int) -> None:
    """Parity of the slim graph through StreamingSession at chunks of 1 and 7 against one call over all the steps
    (bidirectional models cannot stream: export refuses them, see test_export_native)."""
    loaded = loaded_tiny(cell, layers, head)
    path = export_model(loaded, tmp_path, ExportConfig(form="streaming", impl=impl)).path
    x = np.random.default_rng(1).standard_normal((2, STEPS, 5)).astype(np.float32)
    whole = _one_call(path, x)
    streamed, state = _streamed(path, x, chunk)
    np.testing.assert_allclose(streamed["output"], whole["output"], atol=1e-5)
    for spec in open_artifact(path).interface.states:  # the state the stream ended with is the one call's
        np.testing.assert_allclose(state[spec.input_name], whole[spec.output_name], atol=1e-5)


def test_old_layout_graph_still_streams(tmp_path: Path) -> None:
    """A graph written before issue 21 (stacked h_in/c_in) runs through StreamingSession and matches the slim graph
    of the same model step for step."""
    loaded = loaded_tiny("lstm", 2, "per_step")
    old = write_stacked_streaming(loaded, tmp_path / "old.onnx")
    new = export_model(loaded, tmp_path / "new", ExportConfig(form="streaming")).path
    assert [i.name for i in onnx.load(str(old)).graph.input] == ["x", "h_in", "c_in"]
    x = np.random.default_rng(2).standard_normal((1, STEPS, 5)).astype(np.float32)
    old_out, old_state = _streamed(old, x, 1)
    new_out, new_state = _streamed(new, x, 1)
    np.testing.assert_allclose(old_out["output"], new_out["output"], atol=1e-6)
    np.testing.assert_allclose(old_state["h_in"], np.concatenate([new_state["h0_in"], new_state["h1_in"]]), atol=1e-6)


def test_old_layout_graph_still_checks_and_bundles(tmp_path: Path) -> None:
    """check gates a graph in the layout written before issue 21 against its checkpoint, and bundle packs it with
    its own (stacked) state layout in the manifest and the app code."""
    ckpt = tiny_checkpoint(tmp_path, "gru", 2)
    old = write_stacked_streaming(load_model(str(ckpt)), tmp_path / "old_streaming.onnx")
    outcome = check([old], ModelSource(str(ckpt)), CheckOptions(providers=("cpu",), stress=False))
    assert outcome.verdict == "pass", outcome
    build_bundle(old, tmp_path / "bundle")
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert [(s["input_name"], s["shape"]) for s in manifest["state"]] == [("h_in", [2, "batch", 8])]
    assert '"h_in"' in (tmp_path / "bundle" / "README.md").read_text()


def test_name_output_renames_the_value_and_falls_back_to_an_identity() -> None:
    g = GraphBuilder("t")
    g.add_input("a", FLOAT, [1])
    value = g.op1("Neg", ["a"], "negated")
    g.op1("Abs", [value], "reader")
    g.name_output(value, "out", FLOAT, [1])
    assert [(n.op_type, list(n.input), list(n.output)) for n in g.nodes] == [
        ("Neg", ["a"], ["out"]),
        ("Abs", ["out"], ["reader"]),  # a reader of the value reads it under its new name
    ]
    g.name_output("out", "again", FLOAT, [1])  # a graph output already: exposed through an Identity instead
    assert g.nodes[-1].op_type == "Identity" and list(g.nodes[-1].output) == ["again"]


def test_time_major_graph_checks_and_bundles_with_its_layout(tmp_path: Path) -> None:
    """check's streaming parity feeds the time-major slim graph through the layout adapter (batch-first data from
    the checkpoint's side) and passes; the bundle's manifest carries the graph's own shapes and its notes say
    time-major."""
    ckpt = tiny_checkpoint(tmp_path, "lstm", 2)
    path = export_model(load_model(str(ckpt)), tmp_path / "slim", ExportConfig(form="streaming")).path
    outcome = check([path], ModelSource(str(ckpt)), CheckOptions(providers=("cpu",), stress=False))
    assert outcome.verdict == "pass", outcome
    build_bundle(path, tmp_path / "bundle")
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["inputs"][0]["shape"] == ["chunk", "batch", 5]
    assert "time-major" in manifest["streaming_usage"]
    assert "layout: time-major" in (tmp_path / "bundle" / "README.md").read_text()


def test_time_major_graph_quantizes_on_batch_first_calibration_data(tmp_path: Path) -> None:
    """quantize feeds its calibration data (batch-first, as every data file holds it) to a time-major streaming
    graph in the graph's layout: fp16's headroom pass runs the graph on it, and names the largest value it saw."""
    path = export_model(loaded_tiny("lstm", 2), tmp_path / "slim", ExportConfig(form="streaming")).path
    data = SequenceData(np.random.default_rng(4).standard_normal((6, 9, 5)).astype(np.float32), None, None, "noise")
    result = quantize(path, Fp16Config(), tmp_path / "q", calibration=data)
    assert any(note.startswith("largest magnitude on the data") for note in result.notes), result.notes
    assert read_metadata(result.path).interface.layout == "time_major"
