"""The parity gate's task-level verdicts at their boundaries, on artifacts whose answers are known by construction.

Numeric tolerances are infinite here, so only the task check can fail an artifact:
- top-1 agreement: logits with two columns swapped agree with the reference exactly where its argmax is the third,
  so the agreement is k/n with k known; a limit of k/n passes, (k+1)/n does not. Rotated columns agree nowhere: FAIL.
- MAE increase: the output scaled by s against all-zero targets has an MAE exactly s times the reference's, on every
  row, so the increase is s - 1 with a zero-width interval; a limit above passes, below fails.
- ragged per-step labels: a per-step head is scored on the valid steps only, sum(lengths) predictions, not B x T.
"""

from __future__ import annotations

import copy
import json
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
from edgelstm.parity.report import CandidateResult, TaskCheck
from tests.conftest import tiny_model
from tests.refusals import run_cli

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


def _reference_argmax(root: Path, lengths: np.ndarray | None = None) -> np.ndarray:
    loaded = load_model(str(root / "ckpt"))
    x = np.load(root / "data.npz")["x"]
    with torch.no_grad():
        module = copy.deepcopy(loaded.module).double()
        out, _ = module(torch.from_numpy(x).double(), None if lengths is None else torch.from_numpy(lengths))
    return out.numpy().argmax(-1)


def _check(root: Path, artifact: Path, **limits: float) -> CandidateResult:
    loaded = load_model(str(root / "ckpt"))
    data = load_sequence_data(root / "data.npz", feature_size=5)
    policy = TolerancePolicy({"default": {**NUMBERS_OFF, **limits}})
    report = run_check([artifact], loaded, data, CheckConfig(providers=("cpu",), stress=False), policy, baseline=False)
    (candidate,) = report.candidates
    return candidate


def _task(candidate: CandidateResult, metric: str) -> TaskCheck:
    return next(t for t in candidate.tasks if t.metric == metric)


def _cli(root: Path, artifact: Path, toml: str, *extra: str) -> tuple[int, dict]:
    (root / "limits.toml").write_text(toml)
    report = root / "report.json"
    args = ["check", artifact, "--reference", root / "ckpt", "--data", root / "data.npz", "--providers", "cpu"]
    result = run_cli([*args, "--no-stress", "--tolerances", root / "limits.toml", "--report", report, *extra])
    return result.exit_code, json.loads(report.read_text())


def _cli_task(report: dict, metric: str) -> dict:
    return next(t for t in report["candidates"][0]["tasks"] if t["metric"] == metric)


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


def test_top1_agreement_passes_at_its_limit_and_not_one_sequence_above(classify: Path) -> None:
    agree = int((_reference_argmax(classify) == _kept_class(classify)).sum())  # where the swap changes nothing
    assert 0 < agree < N - 1, "the data must give the swap some agreements and some disagreements"
    at_limit = _check(classify, classify / "swapped.onnx", min_top1_agreement=agree / N)
    top1 = _task(at_limit, "top1_agreement")
    assert top1.value == agree / N and top1.evidence is not None and top1.evidence.n == N
    assert top1.passed and at_limit.passed
    above = _check(classify, classify / "swapped.onnx", min_top1_agreement=(agree + 1) / N)
    assert not _task(above, "top1_agreement").passed and not above.passed


def test_rotated_logit_columns_fail_top1_end_to_end(classify: Path) -> None:
    """Every argmax moves; the numbers are not gated, so only top-1 can catch it."""
    code, report = _cli(classify, classify / "rotated.onnx", "[default]\natol = inf\nrtol = inf\n")
    assert code == 1
    top1 = _cli_task(report, "top1_agreement")
    assert (top1["value"], top1["verdict"]) == (0.0, "FAIL")
    assert report["candidates"][0]["verdict"] == "FAIL"
    clean, _ = _cli(classify, classify / "onnx" / "sequence_fused.onnx", "[default]\natol = inf\nrtol = inf\n")
    assert clean == 0  # the same check passes the undamaged graph


# -- MAE increase ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def regress(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mae")
    _workspace(root, "forecast", None, np.zeros((N, 4, 2), np.float32))  # targets 0: MAE = mean |output|
    source = root / "onnx" / "sequence_fused.onnx"
    for scale in (1.05, 1.5):
        _route_output(source, root / f"scaled_{scale}.onnx", "Mul", np.array(scale, np.float32))
    return root


@pytest.mark.parametrize(("limit", "passed"), [(0.0501, True), (0.0499, False)], ids=["above", "below"])
def test_mae_increase_is_judged_at_its_limit(regress: Path, limit: float, passed: bool) -> None:
    candidate = _check(regress, regress / "scaled_1.05.onnx", max_mae_increase=limit)
    mae = _task(candidate, "mae_increase")
    assert mae.value == pytest.approx(0.05, abs=1e-5)
    assert mae.evidence is not None and mae.evidence.high - mae.evidence.low < 1e-5  # the same on every row
    assert mae.passed is passed and candidate.passed is passed


def test_an_output_scaled_by_one_and_a_half_fails_on_mae_end_to_end(regress: Path) -> None:
    code, report = _cli(regress, regress / "scaled_1.5.onnx", "[default]\natol = inf\nrtol = inf\n")
    assert code == 1
    mae = _cli_task(report, "mae_increase")
    assert mae["value"] == pytest.approx(0.5, abs=1e-5) and mae["verdict"] == "FAIL"
    clean, _ = _cli(regress, regress / "onnx" / "sequence_fused.onnx", "[default]\natol = inf\nrtol = inf\n")
    assert clean == 0


# -- ragged per-step labels: sum(lengths) predictions ---------------------------------------------------------------


@pytest.fixture(scope="module")
def per_step(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ragged")
    lengths = np.random.default_rng(1).integers(2, T + 1, size=N)
    lengths[0] = T
    _workspace(root, "per_step", lengths, np.random.default_rng(2).integers(0, 3, size=(N, T)))
    _route_output(root / "onnx" / "sequence_fused.onnx", root / "swapped.onnx", "Gather", np.array([1, 0, 2], np.int64), axis=-1)
    return root


def test_ragged_per_step_rows_count_only_the_valid_steps(per_step: Path) -> None:
    lengths = np.load(per_step / "data.npz")["lengths"]
    argmax = _reference_argmax(per_step, lengths)
    valid = np.arange(T)[None, :] < lengths[:, None]
    masked, unmasked = float((argmax[valid] == 2).mean()), float((argmax == 2).mean())
    assert abs(masked - unmasked) > 1 / lengths.sum(), "padding must change the share, or this test proves nothing"
    top1 = _task(_check(per_step, per_step / "swapped.onnx", min_top1_agreement=0.0), "top1_agreement")
    assert top1.evidence is not None and top1.evidence.n == int(lengths.sum()) < N * T
    assert top1.value == pytest.approx(masked, abs=1e-12)
    assert top1.detail == f"over {int(lengths.sum())} predictions"


def test_ragged_per_step_rows_end_to_end(per_step: Path) -> None:
    lengths = np.load(per_step / "data.npz")["lengths"]
    code, report = _cli(per_step, per_step / "onnx" / "sequence_fused.onnx", "[default]\nmin_top1_agreement = 0.99\n")
    assert code == 0
    top1 = _cli_task(report, "top1_agreement")
    assert top1["evidence"]["n"] == int(lengths.sum()) and top1["evidence"]["unit"] == "prediction"
    assert top1["value"] == 1.0
