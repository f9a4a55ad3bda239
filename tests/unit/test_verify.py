"""Verification must catch real faults, not just pass clean exports."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from onnx import numpy_helper

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.session import ProviderError, SessionSettings, resolve_provider, session_from_onnx
from edgelstm.errors import InputShapeError
from edgelstm.export.api import export_model
from edgelstm.export.native import build_native_onnx
from edgelstm.export.verify import VerificationConfig, load_data_feeds, native_reference, verify_graph
from edgelstm.loading import load_model
from tests.conftest import tiny_model, write_cell_loop_module

SMALL_GRID = VerificationConfig(batches=(1, 3), example_steps=8)


def test_corrupted_weight_in_the_graph_fails_verification() -> None:
    model = tiny_model(cell="lstm", layers=2)
    graph, interface = build_native_onnx(model, ExportConfig())
    weight = next(i for i in graph.graph.initializer if i.name == "layer1_R")
    array = numpy_helper.to_array(weight).copy()
    array[0, 3, 2] += 0.05  # one recurrent weight, slightly off
    weight.CopyFrom(numpy_helper.from_array(array, weight.name))
    result = verify_graph(graph.SerializeToString(), interface, native_reference(model, interface), SMALL_GRID)
    assert not result.passed
    assert result.failures()


def test_streaming_graph_that_drops_state_between_chunks_fails() -> None:
    model = tiny_model(cell="gru", head="per_step")
    graph, interface = build_native_onnx(model, ExportConfig(form="streaming", impl="fused"))
    gru = next(n for n in graph.graph.node if n.op_type == "GRU")
    gru.input[5] = ""  # ignore h_in: every chunk restarts from zeros
    result = verify_graph(graph.SerializeToString(), interface, native_reference(model, interface), SMALL_GRID)
    assert not result.passed
    assert any(c.label.startswith("chunks of") for c in result.failures())


def test_traced_time_loop_freezes_the_time_axis_and_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user model looping over time in Python is unrolled by the tracer at the example length."""
    write_cell_loop_module(tmp_path, "loopy_models", features=4)
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = load_model("loopy_models:build", input_size=4)
    result = export_model(loaded, tmp_path / "out", ExportConfig(), SMALL_GRID)
    assert not result.passed
    failing_steps = {c.steps for c in result.verification.failures()}
    assert 8 not in failing_steps and failing_steps  # right only at the example length
    assert not result.written and not (tmp_path / "out" / "sequence_torch_onnx.onnx").exists()
    sys.modules.pop("loopy_models", None)


def test_clean_export_of_a_user_module_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "plain_models.py").write_text(
        textwrap.dedent(
            """
        import torch
        class Tagger(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = torch.nn.GRU(4, 8, num_layers=2, batch_first=True, bidirectional=True)
                self.fc = torch.nn.Linear(16, 3)
            def forward(self, x):
                y, _ = self.rnn(x)
                return self.fc(y)
        def build():
            torch.manual_seed(0)
            return Tagger()
        """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    result = export_model(load_model("plain_models:build"), tmp_path / "out", ExportConfig(), SMALL_GRID)
    assert result.passed and result.written
    sys.modules.pop("plain_models", None)


def test_real_data_file_is_checked_against_the_graph_inputs(tmp_path: Path) -> None:
    model = tiny_model()
    _, interface = build_native_onnx(model, ExportConfig())
    good = tmp_path / "good.npz"
    np.savez(good, x=np.zeros((4, 6, 5), np.float32), lengths=np.array([6, 2, 1, 6]))
    feeds = load_data_feeds(good, interface)
    assert feeds["x"].shape == (4, 6, 5) and feeds["lengths"].tolist() == [6, 2, 1, 6]
    cases = {
        "wrong.npz": {"x": np.zeros((4, 6, 3), np.float32)},
        "nan.npz": {"x": np.full((2, 3, 5), np.nan, np.float32)},
        "lengths.npz": {"x": np.zeros((2, 3, 5), np.float32), "lengths": np.array([3, 9])},
        "nox.npz": {"y": np.zeros(3)},
    }
    for name, arrays in cases.items():
        np.savez(tmp_path / name, **arrays)
        with pytest.raises(InputShapeError):
            load_data_feeds(tmp_path / name, interface)
    (tmp_path / "corrupt.npz").write_bytes(b"not a zip")
    with pytest.raises(InputShapeError, match="readable"):
        load_data_feeds(tmp_path / "corrupt.npz", interface)


def test_unknown_provider_lists_what_is_available() -> None:
    with pytest.raises(ProviderError, match="available: cpu"):
        resolve_provider("warp-drive")
    assert resolve_provider("CPU") == "CPUExecutionProvider"


def test_missing_cuda_is_an_error_not_a_cpu_fallback() -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDA is present here; the refusal path needs a build without it")
    graph, _ = build_native_onnx(tiny_model(), ExportConfig())
    with pytest.raises(ProviderError, match="cuda"):
        session_from_onnx(graph.SerializeToString(), SessionSettings(provider="cuda"))


@pytest.mark.cuda
@pytest.mark.parametrize("impl", ["fused", "loop"])
def test_export_verifies_on_cuda(impl: str) -> None:
    model = tiny_model(cell="lstm", layers=2, bidirectional=True)
    graph, interface = build_native_onnx(model, ExportConfig(impl=impl))
    settings = SessionSettings(provider="cuda")
    session = session_from_onnx(graph.SerializeToString(), settings)
    assert session.get_providers()[0] == "CUDAExecutionProvider"
    result = verify_graph(graph.SerializeToString(), interface, native_reference(model, interface), SMALL_GRID, settings=settings)
    assert result.passed, [c.label for c in result.failures()]
