"""Weight-only int8 / int4: per-channel and blockwise storage expanded by Cast + Mul (folded by ORT), on any graph."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnx.reference
import pytest
import torch

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.checkpoint import save_checkpoint
from edgelstm.config import HeadConfig, ModelConfig
from edgelstm.export.api import export_model
from edgelstm.loading import load_model
from edgelstm.model import SequenceModel
from edgelstm.quantize import quantize
from edgelstm.quantize.config import WeightOnlyInt8Config
from edgelstm.quantize.gate import ParityGate
from edgelstm.quantize.stored_weight import DEQUANTIZE
from edgelstm.quantize.weight_only import quantize_weights
from tests.conftest import random_checkpoint
from tests.refusals import run_cli
from tests.support.weight_only import _dequantize_nodes, _expansion_casts, _model


@pytest.fixture(scope="module")
def gru_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2x64 GRU whose weights dominate its file (random init: the gate compares it with itself in fp32)."""
    config = ModelConfig(input_size=6, hidden_size=64, cell="gru", num_layers=2, head=HeadConfig("classify", 7))
    return random_checkpoint(tmp_path_factory.mktemp("gru") / "ckpt", config)


@pytest.mark.parametrize("scheme", ["weight-only-int8", "weight-only-int4"])
def test_cli_publishes_a_weight_only_gru_artifact_several_times_smaller(
    gru_checkpoint: Path, tmp_path: Path, scheme: str
) -> None:
    result = run_cli(["quantize", gru_checkpoint, "--out", tmp_path, "--scheme", scheme, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["parity_passed"] is True and report["impl"] == "fused"
    assert report["compression"] >= (3.0 if scheme == "weight-only-int8" else 4.0)
    artifact = onnx.load(report["path"])
    onnx.checker.check_model(artifact, full_check=True)
    # W, R and B of both layers and the 7x64 head (its 7 biases would cost more quantized than float)
    assert len(_expansion_casts(artifact)) == 7


FORMS = {
    "lstm-streaming": ({"cell": "lstm"}, ExportConfig(form="streaming", impl="fused")),
    "peephole-fused": ({"cell": "peephole"}, ExportConfig(impl="fused")),
    "bidirectional-loop": ({"cell": "lstm", "bidirectional": True}, ExportConfig(impl="loop")),
    "gru-loop": ({"cell": "gru"}, ExportConfig(impl="loop")),
}


@pytest.mark.parametrize("case", list(FORMS))
def test_edgelstm_artifacts_of_every_form_pass_the_gate(tmp_path: Path, case: str) -> None:
    arch, export_config = FORMS[case]
    torch.manual_seed(0)
    model = SequenceModel(ModelConfig(input_size=6, hidden_size=32, head=HeadConfig("classify", 7), **arch))
    save_checkpoint(model, tmp_path / "ckpt")
    reference = load_model(str(tmp_path / "ckpt"))
    artifact = export_model(reference, tmp_path / "fp32", export_config).path
    result = quantize(artifact, WeightOnlyInt8Config(), tmp_path / "q", gate=ParityGate(reference, None))
    assert result.parity_passed is True and result.path is not None
    assert _expansion_casts(onnx.load(str(result.path)))  # the recurrent weights, in the Loop body for the loop form
    assert result.weight_bytes < result.source_weight_bytes / 1.5


def test_new_artifacts_need_no_session_entry_and_old_dequantize_ones_keep_theirs(gru_checkpoint: Path, tmp_path: Path) -> None:
    """Published weight-only graphs fold in a default session (Cast + Mul); artifacts written before, with
    DequantizeLinear, still get session.disable_quant_qdq from edgelstm's sessions and their bundle's manifest.
    Static-int8 QDQ graphs must keep QDQ handling on."""
    from edgelstm.artifact.session import weight_only_session_config

    quantized = run_cli(["quantize", gru_checkpoint, "--out", tmp_path / "q", "--scheme", "weight-only-int8", "--json"])
    artifact = Path(json.loads(quantized.stdout)["path"])
    assert _expansion_casts(onnx.load(str(artifact))) and weight_only_session_config(artifact) == {}
    bundled = run_cli(["bundle", artifact, "--out", tmp_path / "bundle"])
    assert bundled.exit_code == 0, bundled.output
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert "config_entries" not in manifest["session_settings"]

    exported = run_cli(["export", gru_checkpoint, "--out", tmp_path / "fp32", "--batches", "1", "--steps", "3"])
    assert exported.exit_code == 0, exported.output
    fp32 = next((tmp_path / "fp32").glob("*.onnx"))
    assert weight_only_session_config(fp32) == {}
    old_model, _ = quantize_weights(onnx.load(str(fp32)), WeightOnlyInt8Config(), form=DEQUANTIZE)  # as before issue 19
    old = tmp_path / "old_int8.onnx"
    onnx.save(old_model, str(old))
    assert _dequantize_nodes(old_model)
    assert weight_only_session_config(old) == {"session.disable_quant_qdq": "1"}
    assert weight_only_session_config(old.read_bytes()) == {"session.disable_quant_qdq": "1"}  # in-memory graphs too
    bundled = run_cli(["bundle", old, "--out", tmp_path / "old_bundle"])
    assert bundled.exit_code == 0, bundled.output
    manifest = json.loads((tmp_path / "old_bundle" / "manifest.json").read_text())
    assert manifest["session_settings"]["config_entries"] == {"session.disable_quant_qdq": "1"}
    assert run_cli(["bundle", "verify", tmp_path / "old_bundle"]).exit_code == 0

    graph = onnx.helper.make_graph(
        [
            onnx.helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
            onnx.helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"]),
        ],
        "qdq",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])],
        [onnx.numpy_helper.from_array(np.float32(0.1), "s"), onnx.numpy_helper.from_array(np.uint8(0), "z")],
    )
    static = tmp_path / "static.onnx"
    onnx.save(_model(graph, 19), str(static))
    assert weight_only_session_config(static) == {}  # activations are quantized: QDQ handling stays on
