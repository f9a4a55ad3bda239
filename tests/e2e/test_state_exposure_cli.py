"""State exposure for foreign graphs: torch.onnx's fused LSTM/GRU (zeros in, state dropped) becomes a streaming graph
whose state is I/O, written only when chunked runs carrying that state match the whole sequence."""

from __future__ import annotations

import io
import json
import textwrap
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from edgelstm.artifact.layout import run_batch_first
from edgelstm.artifact.metadata import read_metadata
from edgelstm.artifact.session import session_from_onnx
from tests.refusals import assert_refused, run_cli
from tests.support.state_exposure import CLASSES, FEATURES, HIDDEN
from tests.user_modules import user_folder


class RecurrentNet(torch.nn.Module):
    """A user's model: 2-layer RNN -> optional attention weighting over the whole sequence -> per-step Linear."""

    def __init__(self, cell: type, bidirectional: bool = False, attention: bool = False) -> None:
        super().__init__()
        self.rnn = cell(FEATURES, HIDDEN, num_layers=2, batch_first=True, bidirectional=bidirectional)
        width = HIDDEN * (2 if bidirectional else 1)
        self.score = torch.nn.Linear(width, 1)
        self.head = torch.nn.Linear(width, CLASSES)
        self.attention = attention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.rnn(x)
        if self.attention:  # softmax over time: every step's output depends on the whole sequence
            y = y * torch.softmax(self.score(y), dim=1) * y.shape[1]
        return self.head(y)


def _export(module: torch.nn.Module, path: Path, fixed_steps: int | None = None) -> Path:
    buffer = io.BytesIO()
    steps = fixed_steps or 5
    free = {0: "batch"} if fixed_steps else {0: "batch", 1: "time"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            (torch.randn(2, steps, FEATURES),),
            buffer,
            dynamo=False,
            opset_version=17,
            input_names=["x"],
            output_names=["output"],
            dynamic_axes={"x": free, "output": free},
        )
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("foreign")
    torch.manual_seed(0)
    models = {
        "lstm": RecurrentNet(torch.nn.LSTM),
        "gru": RecurrentNet(torch.nn.GRU),
        "bigru": RecurrentNet(torch.nn.GRU, bidirectional=True),
        "attention": RecurrentNet(torch.nn.LSTM, attention=True),
    }
    return {name: _export(module, root / f"{name}.onnx") for name, module in models.items()}


@pytest.fixture(scope="module")
def streamed(graphs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("streaming")
    paths = {}
    for name in ("lstm", "gru"):
        result = run_cli(["export", graphs[name], "--form", "streaming", "--out", out, "--json"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["passed"] and [p["chunk"] for p in report["parity"]] == [1, 7]
        paths[name] = Path(report["path"])
    return paths


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_exposed_graph_streams_and_keeps_the_whole_sequence_outputs(
    graphs: dict[str, Path], streamed: dict[str, Path], name: str
) -> None:
    original = session_from_onnx(graphs[name])
    exposed = session_from_onnx(streamed[name])
    interface = read_metadata(streamed[name]).interface
    # the layout Transposes of batch_first=True are gone: x and output are [time, batch, ...], as the metadata says
    assert interface.layout == "time_major" and "Transpose" not in {n.op_type for n in onnx.load(str(streamed[name])).graph.node}
    run = run_batch_first(interface, exposed.run)  # batch-first arrays in and out, as every edgelstm caller holds them
    state_inputs = [i for i in exposed.get_inputs() if i.name != "x"]
    state_outputs = [o.name for o in exposed.get_outputs() if o.name != "output"]
    assert len(state_inputs) == (4 if name == "lstm" else 2)  # h (and c) of each of the two layers
    x = np.random.default_rng(1).standard_normal((3, 19, FEATURES)).astype(np.float32)
    zeros = {i.name: np.zeros((1, 3, HIDDEN), np.float32) for i in state_inputs}
    (whole,) = original.run(["output"], {"x": x})
    np.testing.assert_allclose(run(["output"], {"x": x, **zeros})[0], whole, atol=1e-6)

    def chunked(carry: bool) -> np.ndarray:
        state, pieces = dict(zeros), []
        for start in range(0, 19, 7):
            y, *finals = run(["output", *state_outputs], {"x": x[:, start : start + 7], **state})
            pieces.append(y)
            if carry:
                state = {i.name: v for i, v in zip(state_inputs, finals, strict=True)}
        return np.concatenate(pieces, axis=1)

    np.testing.assert_allclose(chunked(carry=True), whole, atol=1e-5)
    # The state outputs are what carries the stream: dropping them between chunks changes the outputs.
    assert np.abs(chunked(carry=False) - whole).max() > 1e-3


def test_inspect_shows_the_exposed_state_pairs(streamed: dict[str, Path]) -> None:
    result = run_cli(["inspect", streamed["lstm"], "--json"])
    assert result.exit_code == 0, result.output
    described = json.loads(result.stdout)
    pairs = {(s["input"], s["output"]) for s in described["states"]}
    assert pairs == {(f"rnn_LSTM{k}_{s}_in", f"rnn_LSTM{k}_{s}_out") for k in ("", "_1") for s in ("h", "c")}
    assert described["batch_axis"]["rnn_LSTM_h_in"] == 1
    text = run_cli(["inspect", streamed["gru"]]).stdout
    assert "rnn_GRU_h_in -> rnn_GRU_h_out" in text


def test_artifact_records_its_source(graphs: dict[str, Path], streamed: dict[str, Path]) -> None:
    from edgelstm.files import file_sha256

    metadata = read_metadata(streamed["gru"])
    assert metadata.source_sha256 == file_sha256(graphs["gru"])
    assert metadata.interface.form == "streaming" and len(metadata.interface.states) == 2
    sidecar = json.loads(streamed["gru"].with_suffix(".export.json").read_text())
    assert sidecar["sha256"] and all(p["passed"] for p in sidecar["parity"])


def test_bidirectional_is_refused(graphs: dict[str, Path], tmp_path: Path) -> None:
    assert_refused(
        ["export", graphs["bigru"], "--form", "streaming", "--out", tmp_path / "o"],
        "cannot stream",
        "bidirectional",
        watch=(tmp_path,),
    )


def test_attention_over_the_sequence_is_refused_by_the_parity_check(graphs: dict[str, Path], tmp_path: Path) -> None:
    assert_refused(
        ["export", graphs["attention"], "--form", "streaming", "--out", tmp_path / "o"],
        "streaming parity check failed",
        "chunks of 1",
        watch=(tmp_path,),
    )


def test_a_graph_with_a_fixed_time_axis_cannot_stream_and_says_so(tmp_path: Path) -> None:
    # torch traced at 16 steps with only the batch free: no other chunk length runs, so no streaming graph is written
    torch.manual_seed(0)
    fixed = _export(RecurrentNet(torch.nn.LSTM), tmp_path / "fixed.onnx", fixed_steps=16)
    assert_refused(["export", fixed, "--form", "streaming", "--out", tmp_path / "o"], "fixed.onnx", "failed", watch=(tmp_path,))


def test_sequence_form_of_an_onnx_file_is_refused(graphs: dict[str, Path], tmp_path: Path) -> None:
    assert_refused(["export", graphs["gru"], "--out", tmp_path / "o"], "--form streaming", watch=(tmp_path,))


@pytest.mark.parametrize("name", ["gru", "bigru"])
def test_unrolled_form_of_a_foreign_graph(graphs: dict[str, Path], tmp_path: Path, name: str) -> None:
    result = run_cli(["export", graphs[name], "--impl", "unrolled", "--fixed-steps", "9", "--out", tmp_path, "--json"])
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)
    artifact = Path(written["path"])
    assert artifact.name == f"{name}.unrolled_9.onnx" and len(written["rewritten"]) == 2
    model = onnx.load(str(artifact))
    ops = {node.op_type for node in model.graph.node}
    assert not ops & {"GRU", "LSTM", "Loop", "Scan", "If"}
    x = np.random.default_rng(2).standard_normal((3, 9, FEATURES)).astype(np.float32)
    (expected,) = session_from_onnx(graphs[name]).run(["output"], {"x": x})
    np.testing.assert_allclose(session_from_onnx(artifact).run(["output"], {"x": x})[0], expected, atol=1e-5)


def test_unrolling_a_graph_without_fused_rnn_is_refused(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "plain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "t", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "t", 2])],
    )
    path = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert_refused(
        ["export", path, "--impl", "unrolled", "--fixed-steps", "4", "--out", tmp_path / "o"],
        "cannot unroll",
        "no fused LSTM/GRU",
        watch=(tmp_path,),
    )


ONE_LAYER_LSTM = textwrap.dedent(
    f"""
    import torch


    class Net(torch.nn.Module):  # batch_first=True: torch.onnx traces a Transpose on each side of the LSTM node
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM({FEATURES}, {HIDDEN}, batch_first=True)
            self.head = torch.nn.Linear({HIDDEN}, {CLASSES})

        def forward(self, x):
            return self.head(torch.tanh(self.rnn(x)[0]))


    def build():
        torch.manual_seed(0)
        return Net()
    """
)


def test_streaming_form_of_a_torch_graph_is_time_major_and_passes_check_against_the_module(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from edgelstm.loading import load_model

    with user_folder(tmp_path_factory, "time_major", "tm_net", ONE_LAYER_LSTM, quiet=True) as (root, name):
        source = _export(load_model(f"{name}:build", weights=root / "weights.safetensors").user_module, root / "net.onnx")
        made = run_cli(["export", source, "--form", "streaming", "--out", root / "out"])
        assert made.exit_code == 0, made.output
        assert "layout: time-major (x, output" in made.stdout and "vs the source graph, one call of 23 steps" in made.stdout
        written = json.loads((root / "out" / "net.streaming.export.json").read_text())
        assert written["layout"] == "time_major" and written["source_parity"]["passed"]
        # the parity gate feeds it batch-first data from the user's module, through the layout the file declares
        reference = ["--reference", f"{name}:build", "--weights", "weights.safetensors"]
        checked = run_cli(["check", root / "out" / "net.streaming.onnx", *reference, "--providers", "cpu"])
        assert checked.exit_code == 0, checked.output
        assert "PASS" in checked.stdout
        # quantize's crash probe and gate feed the time-major graph through the same layout
        q = ["quantize", root / "out" / "net.streaming.onnx", "--scheme", "dynamic-int8", "--out", root / "q"]
        quantized = run_cli([*q, *reference])
        assert quantized.exit_code == 0, quantized.output
