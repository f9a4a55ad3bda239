"""Per-layer sensitivity and mixed precision: the weight filter, the greedy choice, the gated publish."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from edgelstm.config import HeadConfig, ModelConfig
from tests.conftest import random_checkpoint
from tests.refusals import run_cli


@pytest.fixture(scope="module")
def gru_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = ModelConfig(input_size=6, hidden_size=48, cell="gru", num_layers=2, head=HeadConfig("classify", 7))
    return random_checkpoint(tmp_path_factory.mktemp("gru") / "ckpt", config)


def test_cli_mixed_measures_each_layer_and_publishes_a_gated_mix(gru_checkpoint: Path, tmp_path: Path) -> None:
    result = run_cli(["quantize", gru_checkpoint, "--out", tmp_path, "--scheme", "mixed", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    layers = {layer["name"]: layer for layer in report["details"]["layers"]}
    # the two GRUs and the 7x48 head (mixed measures layers down to 256 elements)
    assert sorted(layers) == ["node_head_matmul", "node_layer0_gru", "node_layer1_gru"]
    assert all(set(la["alone"]) == {"int8", "int4"} for la in layers.values())
    assert report["passed"] and report["result"]["parity_passed"] is True
    chosen = report["details"]["precisions"]
    published = dict(report["result"]["config"]["precisions"])
    for name, layer in layers.items():
        assert chosen[name] == layer["chosen"]
        assert all(published.get(t, "float") == layer["chosen"] for t in layer["tensors"])
    # the published mix is the last trial that passed (lowering trials after it may have failed)
    trials = report["details"]["trials"]
    published_trial = trials[report["details"]["published_trial"]]
    assert published_trial["passed"] is True and not any(t["passed"] for t in trials[report["details"]["published_trial"] + 1 :])
    assert published_trial["precisions"] == chosen
    artifact = onnx.load(report["result"]["path"])
    onnx.checker.check_model(artifact, full_check=True)
    assert report["result"]["compression"] > 2.5
