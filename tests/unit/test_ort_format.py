"""Artifacts ORT format cannot hold (int4 initializers, onnxruntime 1.32): a mobile verdict, and no auto winner
for a recipe that ships to ORT Mobile, instead of an internal error.

edgelstm's own int4 artifacts now expand their weights by Cast + Mul, which the ORT-format conversion folds into
float32 (the file loads); the int4 `DequantizeLinear` form earlier releases wrote (and other tools write) keeps
int4 initializers, which the ORT format cannot hold: that is the artifact these tests ship."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.runners import ort_format_problem
from edgelstm.config import HeadConfig, ModelConfig
from edgelstm.export import export_model
from edgelstm.loading import load_model
from edgelstm.parity import CheckConfig, run_check
from edgelstm.parity.data import SequenceData
from edgelstm.quantize import ParityGate, WeightOnlyInt8Config, quantize
from edgelstm.quantize.config import WeightOnlyInt4Config
from edgelstm.quantize.gate import NOT_GATED
from edgelstm.quantize.stored_weight import DEQUANTIZE
from edgelstm.quantize.weight_only import quantize_weights
from tests.conftest import random_checkpoint


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, SequenceData]:
    root = tmp_path_factory.mktemp("ortfmt")
    config = ModelConfig(input_size=4, hidden_size=32, head=HeadConfig("classify", 3, "last"))
    loaded = load_model(str(random_checkpoint(root / "ckpt", config)))
    cast_int4 = quantize(loaded, WeightOnlyInt4Config(), root / "q").path
    int8 = quantize(loaded, WeightOnlyInt8Config(), root / "q").path
    assert cast_int4 is not None and int8 is not None
    # The same model's float graph with its int4 weights behind DequantizeLinear (metadata kept: an edgelstm artifact)
    fp32 = export_model(loaded, root / "f", ExportConfig(form="sequence")).path
    assert fp32 is not None and ort_format_problem(cast_int4) is None
    old_int4, _ = quantize_weights(onnx.load(str(fp32)), WeightOnlyInt4Config(), form=DEQUANTIZE)
    int4 = root / "dequantize_int4.onnx"
    onnx.save(old_int4, str(int4))
    rng = np.random.default_rng(0)
    data = SequenceData(rng.standard_normal((8, 6, 4)).astype(np.float32), None, rng.integers(0, 3, 8), "noise")
    return root / "ckpt", int4, int8, data


def test_an_int4_artifact_fails_on_mobile_with_the_reason(artifacts) -> None:
    checkpoint, int4, int8, data = artifacts
    assert ort_format_problem(int8) is None
    assert "ORT Mobile cannot load it" in (ort_format_problem(int4) or "")
    report = run_check([int4], load_model(str(checkpoint)), data, CheckConfig(providers=("mobile",), stress=False))
    (candidate,) = report.candidates
    assert candidate.status == "error" and "ORT Mobile cannot load it" in candidate.reason and not report.passed


def test_a_gate_for_ort_mobile_does_not_let_it_win(artifacts) -> None:
    checkpoint, int4, int8, data = artifacts
    loaded = load_model(str(checkpoint))
    summary = ParityGate(loaded, data, ort_format=True).run(int4)
    assert summary["passed"] is False and summary[NOT_GATED].startswith("cannot ship to ORT Mobile")
    assert NOT_GATED not in ParityGate(loaded, data, ort_format=True).run(int8)
    assert NOT_GATED not in ParityGate(loaded, data).run(int4)  # without the requirement it is gated as before
