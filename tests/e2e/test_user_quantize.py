"""`quantize pkg.mod:factory --weights w` : the user's module exported in memory (the path `export` takes), quantized,
and gated against the module itself; the Conv1d + bidirectional GRU + attention module of issue 10."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgelstm.quantize.graph_facts import op_counts
from tests.refusals import run_cli
from tests.support.user_module import USER_CODE
from tests.user_modules import user_folder


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory):
    # quiet: the weights are made from its random init here, on purpose
    with user_folder(tmp_path_factory, "user_quantize", "user_quantize", USER_CODE, quiet=True) as (root, name):
        x = np.random.default_rng(0).standard_normal((16, 20, 12)).astype(np.float32)
        np.savez(root / "heldout.npz", x=x)
        yield root, name


def test_a_factory_is_quantized_to_dynamic_int8_and_gated_against_itself(in_user_dir) -> None:
    root, name = in_user_dir
    args = ["quantize", f"{name}:build", "--weights", "weights.safetensors", "--scheme", "dynamic-int8"]
    result = run_cli([*args, "--data", "heldout.npz", "--out", "int8", "--json"])
    assert result.exit_code == 0, result.output
    published = json.loads(result.stdout)
    assert published["source"] == f"{name}:build"
    assert published["parity_passed"] is True and published["parity"]["passed"]
    artifact = Path(published["path"])
    assert artifact.name == "sequence_torch_onnx.dynamic-int8.onnx" and (root / artifact).is_file()
    ops = op_counts(onnx.load(str(root / artifact)))
    assert ops["GRU"] == 0 and ops["Loop"] == 4  # 2 layers x 2 directions, rewritten: no int8 GRU kernel
    assert ops["MatMulInteger"] > 0
    assert any("rewritten to a Loop" in note for note in published["notes"])
    assert published["weight_bytes"] < published["source_weight_bytes"] / 2


def test_a_factory_over_budget_publishes_nothing(in_user_dir) -> None:
    root, name = in_user_dir
    budget = root / "budget.toml"
    budget.write_text("[precision.int8]\nmin_snr_db = 200\n")  # out of int8's reach: the gate must say no
    out = root / "over_budget"
    args = ["quantize", f"{name}:build", "--weights", "weights.safetensors", "--scheme", "dynamic-int8"]
    result = run_cli([*args, "--budget", budget, "--out", out, "--json"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["parity_passed"] is False
    assert not out.exists() or not list(out.glob("*.onnx"))
