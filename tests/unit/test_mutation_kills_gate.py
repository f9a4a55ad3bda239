"""The parity gate (edgelstm/parity/gate.py): verdict lines the mutation run (docs/testing/mutation.md) found unguarded.

- accuracy against labels: swapped logit columns judged against 1-D labels, every number of the accuracy_delta
  check recomputed here (accuracy of each side, gained/lost, the paired interval) and its strict verdict;
- the provider's table: a [provider.cpu] limit must reach both the numeric and the task check;
- the unit of a pooled head's sample is "sequence";
- the MAE check reports both sides' MAE; a graph of the wrong feature count is refused naming both counts; a case
  that fails at run time keeps its shape in the report, and of a multi-line error its last line (the cause);
- the MAE bootstrap interval is drawn with the seed the report names (CheckConfig.seed), not the default, and an
  unresolved MAE pass names the data size that would resolve it; the interval methods are named;
- a streaming graph of a pooled head is judged at each sequence's last valid step.
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.checkpoint import save_checkpoint
from edgelstm.errors import InputShapeError
from edgelstm.export.api import export_model
from edgelstm.loading import load_model
from edgelstm.parity import CheckConfig, TolerancePolicy, candidate_check, run_check
from edgelstm.parity.data import load_sequence_data
from edgelstm.parity.evidence_strength import INCONCLUSIVE, PASS, bootstrap_interval, paired_difference_interval
from edgelstm.parity.report import CandidateResult, TaskCheck
from edgelstm.parity.task_checks import regression_checks
from edgelstm.parity.tolerances import ToleranceSpec
from tests.conftest import random_checkpoint, tiny_config, tiny_model
from tests.support.gate_verdict_boundaries import (
    NUMBERS_OFF,
    N,
    T,
    _kept_class,
    _reference_argmax,
    _route_output,
    _swap_all_but,
    _workspace,
    check_workspace,
)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """classify-last with labels: the reference's own argmax, except that where the swapped graph differs from the
    reference, half the labels are the swapped graph's answer (it gains those, loses the rest), and every 9th label
    is a class neither picks."""
    root = tmp_path_factory.mktemp("labelled")
    _workspace(root, "classify-last", None, None)
    ref = _reference_argmax(root).astype(np.int64)
    cand = _swap_all_but(_kept_class(root))[ref]
    y = ref.copy()
    differ = np.flatnonzero(cand != ref)
    y[differ[::2]] = cand[differ[::2]]
    both_wrong = np.setdiff1d(np.arange(0, N, 9), differ)
    y[both_wrong] = (ref[both_wrong] + 1) % 3
    data = dict(np.load(root / "data.npz"))
    np.savez(root / "data.npz", **data, y=y)
    _route_output(
        root / "onnx" / "sequence_fused.onnx", root / "swapped.onnx", "Gather", _swap_all_but(_kept_class(root)), axis=-1
    )
    return root


def _task(candidate: CandidateResult, metric: str) -> TaskCheck:
    return next(t for t in candidate.tasks if t.metric == metric)


def _expected(root: Path) -> tuple[float, float, int, int]:
    """Accuracy of the swapped graph and of the reference against the labels, and the paired gained/lost counts."""
    y = np.load(root / "data.npz")["y"]
    ref = _reference_argmax(root)
    kept = _kept_class(root)
    order = _swap_all_but(kept)
    cand = order[ref]  # the swapped graph's argmax: the kept class stays, the other two exchange
    right_c, right_r = cand == y, ref == y
    gained, lost = int(np.sum(right_c & ~right_r)), int(np.sum(~right_c & right_r))
    return float(right_c.mean()), float(right_r.mean()), gained, lost


def test_accuracy_delta_against_labels_is_computed_from_both_sides(labelled: Path) -> None:
    acc_c, acc_r, gained, lost = _expected(labelled)
    assert gained > 0 and lost > 0, "the swap must win some labels and lose others, or the paired counts prove nothing"
    candidate = check_workspace(
        labelled, labelled / "swapped.onnx", {"default": {**NUMBERS_OFF, "min_top1_agreement": 0.0, "max_accuracy_drop": 1.0}}
    )
    accuracy = _task(candidate, "accuracy_delta")
    assert (accuracy.candidate_value, accuracy.reference_value) == (pytest.approx(acc_c), pytest.approx(acc_r))
    assert accuracy.value == pytest.approx(acc_c - acc_r) and accuracy.limit == -1.0
    assert accuracy.detail.endswith(f"{gained} gained, {lost} lost of {N}")
    evidence = accuracy.evidence
    assert evidence is not None and (evidence.n, evidence.unit, evidence.method) == (N, "sequence", "Tango score, paired")
    assert (evidence.low, evidence.high) == pytest.approx(paired_difference_interval(gained, lost, N))
    assert accuracy.passed and evidence.verdict == PASS
    assert _task(candidate, "top1_agreement").evidence.unit == "sequence"  # type: ignore[union-attr]


def test_strict_evidence_holds_an_unresolved_accuracy_pass_inconclusive(labelled: Path) -> None:
    acc_c, acc_r, _, _ = _expected(labelled)
    drop = (acc_r - acc_c) + 1 / N  # within the limit by one sequence: the interval straddles it
    tables = {"default": {**NUMBERS_OFF, "min_top1_agreement": 0.0, "max_accuracy_drop": drop}}
    lenient = _task(check_workspace(labelled, labelled / "swapped.onnx", tables), "accuracy_delta")
    assert lenient.evidence is not None and lenient.evidence.verdict == PASS and not lenient.evidence.resolved
    strict = _task(check_workspace(labelled, labelled / "swapped.onnx", tables, strict=True), "accuracy_delta")
    assert strict.evidence is not None and strict.evidence.verdict == INCONCLUSIVE and not strict.passed


def test_a_provider_table_reaches_the_numeric_and_the_task_checks(labelled: Path) -> None:
    open_default = {**NUMBERS_OFF, "min_top1_agreement": 0.0, "max_accuracy_drop": 1.0}
    candidate = check_workspace(labelled, labelled / "swapped.onnx", {"default": open_default})
    assert candidate.passed  # nothing gated by default
    cpu = {"atol": 0.0, "rtol": 0.0, "min_top1_agreement": 1.0}
    judged = check_workspace(labelled, labelled / "swapped.onnx", {"default": open_default, "provider": {"cpu": cpu}})
    assert not judged.passed
    assert not _task(judged, "top1_agreement").passed and _task(judged, "top1_agreement").limit == 1.0
    outputs = [o for case in judged.cases for o in case.outputs]
    assert outputs and all(o.atol == 0.0 and o.rtol == 0.0 for o in outputs)
    assert any(not o.passed for o in outputs)


@pytest.fixture(scope="module")
def regress(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mae_sides")
    _workspace(root, "forecast", None, np.zeros((N, 4, 2), np.float32))  # targets 0: MAE = mean |output|
    _route_output(root / "onnx" / "sequence_fused.onnx", root / "scaled.onnx", "Mul", np.array(1.25, np.float32))
    return root


def test_the_mae_check_reports_the_mae_of_both_sides(regress: Path) -> None:
    loaded = load_model(str(regress / "ckpt"))
    x = np.load(regress / "data.npz")["x"]
    with torch.no_grad():
        reference, _ = copy.deepcopy(loaded.module).double()(torch.from_numpy(x).double(), None)
    mae_r = float(np.abs(reference.numpy()).mean())
    mae = _task(check_workspace(regress, regress / "scaled.onnx", {"default": NUMBERS_OFF}), "mae_increase")
    assert mae.reference_value == pytest.approx(mae_r, rel=1e-5)
    assert mae.candidate_value == pytest.approx(1.25 * mae_r, rel=1e-5)


def test_a_graph_with_another_feature_count_is_refused_naming_both(labelled: Path, tmp_path: Path) -> None:
    loaded = load_model(str(random_checkpoint(tmp_path / "seven", replace(tiny_config(), input_size=7))))
    data = load_sequence_data(labelled / "data.npz", feature_size=5)
    with pytest.raises(InputShapeError, match="takes 5 features but the reference model takes 7"):
        run_check([labelled / "swapped.onnx"], loaded, data, CheckConfig(providers=("cpu",), stress=False), TolerancePolicy({}))


def test_a_case_that_fails_at_run_time_keeps_its_shape_and_the_error(labelled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> list[np.ndarray]:
        raise RuntimeError("kernel missing")

    monkeypatch.setattr(candidate_check.CandidateCheck, "_run", broken)
    candidate = check_workspace(labelled, labelled / "swapped.onnx", {"default": NUMBERS_OFF})
    assert candidate.cases and not candidate.passed
    for case in candidate.cases:
        assert (case.batch, case.steps) == (N, T) and "RuntimeError: kernel missing" in case.error


def _mae_interval(cand: np.ndarray, ref: np.ndarray, y: np.ndarray, seed: int) -> tuple[float, float, str]:
    (mae,) = regression_checks("output", cand, ref, y, ToleranceSpec(), "sequence", seed, False)
    assert mae.evidence is not None
    return mae.evidence.low, mae.evidence.high, mae.evidence.method


def test_the_mae_bootstrap_uses_the_seed_it_reports() -> None:
    # A report says "seed 7": its interval must be seed 7's, reproducible, and not seed 0's.
    rng = np.random.default_rng(3)
    y = rng.normal(size=(40, 2))
    ref = y + rng.normal(scale=0.1, size=y.shape)
    cand = y + rng.normal(scale=0.12, size=y.shape)
    low, high, method = _mae_interval(cand, ref, y, 7)
    assert method.endswith("seed 7") and (low, high) == _mae_interval(cand, ref, y, 7)[:2]
    assert (low, high) != _mae_interval(cand, ref, y, 0)[:2]
    err_c, err_r = np.abs(cand - y).mean(axis=1), np.abs(ref - y).mean(axis=1)
    assert (low, high) == pytest.approx(
        bootstrap_interval(lambda rows: (err_c[rows].mean() - err_r[rows].mean()) / err_r[rows].mean(), 40, seed=7)
    )


def test_the_gates_mae_interval_follows_the_check_seed(regress: Path) -> None:
    def interval(seed: int) -> tuple[float, float]:
        loaded = load_model(str(regress / "ckpt"))
        data = load_sequence_data(regress / "data.npz", feature_size=5)
        config = CheckConfig(providers=("cpu",), stress=False, seed=seed)
        tables = TolerancePolicy({"default": NUMBERS_OFF})
        (candidate,) = run_check([regress / "scaled.onnx"], loaded, data, config, tables, baseline=False).candidates
        evidence = _task(candidate, "mae_increase").evidence
        assert evidence is not None and evidence.method.endswith(f"seed {seed}")
        return evidence.low, evidence.high

    assert interval(5) != interval(0)


def test_a_multi_line_run_time_error_keeps_its_last_line_the_cause(labelled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # ONNX Runtime puts the cause at the end of a multi-line message: the case error and the failure line keep it.
    def broken(*args: object, **kwargs: object) -> list[np.ndarray]:
        raise RuntimeError("Non-zero status code returned while running Reshape node.\n\n  Input shape:{1,7,5}, requested {-1,6}")

    monkeypatch.setattr(candidate_check.CandidateCheck, "_run", broken)
    candidate = check_workspace(labelled, labelled / "swapped.onnx", {"default": NUMBERS_OFF})
    assert candidate.cases and not candidate.passed
    assert {case.error for case in candidate.cases} == {"RuntimeError: Input shape:{1,7,5}, requested {-1,6}"}
    assert f"{candidate.cases[0].label}: RuntimeError: Input shape:{{1,7,5}}, requested {{-1,6}}" in candidate.failures()


def test_a_streaming_pooled_head_is_judged_at_each_sequences_last_valid_step(tmp_path: Path) -> None:
    # A streaming graph of a pooled head emits a prediction after every step; the one that counts is the prediction
    # after the sequence's last valid step. Labels are the float64 reference's own answers with the lengths.
    save_checkpoint(tiny_model(head="classify-last"), tmp_path / "ckpt")
    loaded = load_model(str(tmp_path / "ckpt"))
    artifact = export_model(loaded, tmp_path / "onnx", ExportConfig(form="streaming")).path
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, T, 5)).astype(np.float32)
    lengths = rng.integers(2, T - 2, size=N).astype(np.int64)  # a step past the end is still inside the array
    np.savez(tmp_path / "data.npz", x=x, lengths=lengths)
    y = _reference_argmax(tmp_path, lengths)
    np.savez(tmp_path / "data.npz", x=x, lengths=lengths, y=y)
    data = load_sequence_data(tmp_path / "data.npz", feature_size=5)
    config = CheckConfig(providers=("cpu",), stress=False)
    (candidate,) = run_check([artifact], loaded, data, config, TolerancePolicy({"default": NUMBERS_OFF})).candidates
    accuracy = _task(candidate, "accuracy_delta")
    assert (accuracy.candidate_value, accuracy.reference_value) == (1.0, 1.0)
    assert _task(candidate, "top1_agreement").detail == f"over {N} predictions"


def test_an_unresolved_mae_pass_names_the_data_size_that_would_resolve_it() -> None:
    # The bootstrap interval's half-widths shrink as sqrt(n / m): the upper end reaches the 2 % limit at
    # m = n ((high - value) / (limit - value))^2 sequences, the number the reason gives.
    rng = np.random.default_rng(3)
    y = rng.normal(size=(40, 2))
    ref = y + rng.normal(scale=0.1, size=y.shape)
    cand = ref + rng.normal(scale=0.01, size=y.shape)
    (mae,) = regression_checks("output", cand, ref, y, ToleranceSpec(max_mae_increase=0.02), "sequence", 0, False)
    e = mae.evidence
    assert e is not None and e.verdict == PASS and not e.resolved and e.low < 0.02 < e.high
    assert e.needed_n == math.ceil(40 * ((e.high - e.value) / (0.02 - e.value)) ** 2) == 63
    assert "about 63 sequences would resolve it" in e.reason


def test_the_task_checks_name_their_interval_methods(labelled: Path) -> None:
    candidate = check_workspace(labelled, labelled / "swapped.onnx", {"default": NUMBERS_OFF})
    methods = {t.metric: t.evidence.method for t in candidate.tasks if t.evidence is not None}
    assert methods == {"top1_agreement": "Wilson score", "accuracy_delta": "Tango score, paired"}


def test_a_long_run_time_error_is_cut_to_300_characters(labelled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> list[np.ndarray]:
        raise RuntimeError("x" * 1000)

    monkeypatch.setattr(candidate_check.CandidateCheck, "_run", broken)
    candidate = check_workspace(labelled, labelled / "swapped.onnx", {"default": NUMBERS_OFF})
    assert {case.error for case in candidate.cases} == {("RuntimeError: " + "x" * 1000)[:300]}
