"""Helpers and fixtures that both halves of tests/test_gate_verdict_boundaries.py need:
tests/unit/test_gate_verdict_boundaries.py and tests/e2e/test_gate_verdict_boundaries_cli.py."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.checkpoint import save_checkpoint
from edgelstm.export.api import export_model
from edgelstm.export.verify import VerificationConfig
from edgelstm.loading import load_model
from edgelstm.parity import CheckConfig, TolerancePolicy, run_check
from edgelstm.parity.data import load_sequence_data
from edgelstm.parity.report import CandidateResult
from tests.conftest import tiny_model

N, T = 120, 8
NUMBERS_OFF = {"atol": float("inf"), "rtol": float("inf")}


def _route_output(source: Path, target: Path, op: str, constant: np.ndarray, **attrs: int) -> Path:
    """`output` = op(old output, constant): a damage of known effect appended to an exported graph."""
    graph = onnx.load(str(source))
    producer = next(n for n in graph.graph.node if "output" in n.output)
    producer.output[list(producer.output).index("output")] = "output_undamaged"
    graph.graph.initializer.append(numpy_helper.from_array(constant, "damage"))
    graph.graph.node.append(helper.make_node(op, ["output_undamaged", "damage"], ["output"], **attrs))
    onnx.save(graph, str(target))
    return target


def _workspace(root: Path, head: str, lengths: np.ndarray | None, y: np.ndarray | None) -> Path:
    """A checkpoint, its verified sequence export and data.npz (x, optional lengths and y) under `root`."""
    save_checkpoint(tiny_model(head=head), root / "ckpt")
    verification = VerificationConfig(batches=(1, 3), example_steps=4)
    assert export_model(load_model(str(root / "ckpt")), root / "onnx", ExportConfig(), verification).written
    x = np.random.default_rng(0).standard_normal((N, T, 5)).astype(np.float32)
    arrays = {"x": x} | ({"y": y} if y is not None else {}) | ({"lengths": lengths} if lengths is not None else {})
    np.savez(root / "data.npz", **arrays)
    return root


def check_workspace(root: Path, artifact: Path, tables: dict, strict: bool = False) -> CandidateResult:
    """`artifact` checked against `root`'s checkpoint and data.npz on the CPU (no stress cases, no fp32 baseline)
    under the tolerance `tables`; the one candidate's result."""
    loaded = load_model(str(root / "ckpt"))
    data = load_sequence_data(root / "data.npz", feature_size=5)
    config = CheckConfig(providers=("cpu",), stress=False, strict_evidence=strict)
    (candidate,) = run_check([artifact], loaded, data, config, TolerancePolicy(tables), baseline=False).candidates
    return candidate


def _reference_argmax(root: Path, lengths: np.ndarray | None = None) -> np.ndarray:
    loaded = load_model(str(root / "ckpt"))
    x = np.load(root / "data.npz")["x"]
    with torch.no_grad():
        module = copy.deepcopy(loaded.module).double()
        out, _ = module(torch.from_numpy(x).double(), None if lengths is None else torch.from_numpy(lengths))
    return out.numpy().argmax(-1)


# -- top-1 agreement -------------------------------------------------------------------------------------------


def _kept_class(root: Path) -> int:
    """The reference's most frequent top-1 class: the swap keeps it, so the agreement is its share."""
    return int(np.bincount(_reference_argmax(root), minlength=3).argmax())


def _swap_all_but(kept: int) -> np.ndarray:
    """Gather indices that exchange the two columns other than `kept`."""
    a, b = (c for c in range(3) if c != kept)
    order = np.arange(3)
    order[a], order[b] = b, a
    return order


@pytest.fixture(scope="module")
def classify(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("top1")
    _workspace(root, "classify-last", None, None)  # no labels: top-1 agreement is the only task check
    source = root / "onnx" / "sequence_fused.onnx"
    _route_output(source, root / "swapped.onnx", "Gather", _swap_all_but(_kept_class(root)), axis=-1)
    _route_output(source, root / "rotated.onnx", "Gather", np.array([1, 2, 0], np.int64), axis=-1)
    return root


# -- MAE increase ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def regress(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mae")
    _workspace(root, "forecast", None, np.zeros((N, 4, 2), np.float32))  # targets 0: MAE = mean |output|
    source = root / "onnx" / "sequence_fused.onnx"
    for scale in (1.05, 1.5):
        _route_output(source, root / f"scaled_{scale}.onnx", "Mul", np.array(scale, np.float32))
    return root


# -- ragged per-step labels: sum(lengths) predictions ---------------------------------------------------------------


@pytest.fixture(scope="module")
def per_step(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ragged")
    lengths = np.random.default_rng(1).integers(2, T + 1, size=N)
    lengths[0] = T
    _workspace(root, "per_step", lengths, np.random.default_rng(2).integers(0, 3, size=(N, T)))
    _route_output(root / "onnx" / "sequence_fused.onnx", root / "swapped.onnx", "Gather", np.array([1, 0, 2], np.int64), axis=-1)
    return root
