"""Scale granularity and error-compensating rounding (edgelstm.quantize.rounding, rounding_plan, calibration) and
the calibration / gate split (edgelstm.quantize.split)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from edgelstm.config import HeadConfig, ModelConfig
from tests.conftest import random_checkpoint
from tests.refusals import run_cli


def test_cli_gptq_blocks_reach_the_artifact_and_the_report_names_calibration_and_gate_rows(tmp_path: Path) -> None:
    config = ModelConfig(input_size=5, hidden_size=16, cell="gru", head=HeadConfig("classify", 3))
    checkpoint = random_checkpoint(tmp_path / "ckpt", config)
    np.savez(tmp_path / "data.npz", x=np.random.default_rng(8).standard_normal((12, 20, 5)).astype(np.float32))
    args = ["--scheme", "weight-only-int8", "--rounding", "gptq", "--granularity", "block", "--block-size", "8"]
    result = run_cli(["quantize", checkpoint, "--out", tmp_path / "q", *args, "--data", tmp_path / "data.npz", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["config"]["rounding"] == "gptq" and report["config"]["granularity"] == "block"
    split = report["data_split"]
    assert "rows 0,3,6,9 (4 of 12)" in split["calibration"] and "(8 of 12)" in split["gate"]
    assert any(n.startswith("rounding: ") and "gptq block" in n for n in report["notes"])
    artifact = onnx.load(report["path"])
    stored = {i.name: numpy_helper.to_array(i) for i in artifact.graph.initializer}
    # GRU W/R blocks run along the last (input) axis: each Expand spreads the scales to [..., blocks, 8].
    blocks = [int(stored[n.input[1]][-1]) for n in artifact.graph.node if n.op_type == "Expand"]
    assert blocks and set(blocks) == {8}
    refused = run_cli(["quantize", checkpoint, "--out", tmp_path / "r", "--scheme", "dynamic-int8", "--rounding", "gptq"])
    assert refused.exit_code == 2 and "--rounding" in refused.output
