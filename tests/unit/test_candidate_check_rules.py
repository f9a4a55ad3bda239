"""What one candidate's numeric check reads (edgelstm/parity/candidate_check.py): the tolerance tables for its
precision and for each output, the float64 reference's noise floor, the names it reports, and a model whose input
has no floor to measure (tokens). Each test here kills a mutant the gate's mutation run left alive
(docs/testing/mutation.md): an output budget that never reaches its output, a precision table read as fp32's,
a floor that never widens a budget, a report that loses its names, a check that crashes where no floor exists.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.checkpoint import save_checkpoint
from edgelstm.export.api import export_model
from edgelstm.export.verify import VerificationConfig
from edgelstm.loading import load_model
from edgelstm.parity import CheckConfig, TolerancePolicy, candidate_check, run_check
from edgelstm.parity.data import SequenceData, load_sequence_data
from edgelstm.parity.reference import TorchReference
from edgelstm.parity.report import CandidateResult
from tests.conftest import tiny_model
from tests.support.gate_verdict_boundaries import N, T, _route_output, _workspace

SHIFT = 1e-3  # far beyond fp32's default budget (atol 1e-5 + rtol 1e-4 x range), far inside the tables' 0.01 below


@pytest.fixture(scope="module")
def shifted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classifier's verified export, a copy whose `output` is moved by SHIFT everywhere, one whose classes rotate."""
    root = _workspace(tmp_path_factory.mktemp("shifted"), "classify-last", None, None)
    _route_output(root / "onnx" / "sequence_fused.onnx", root / "shifted.onnx", "Add", np.array(SHIFT, np.float32))
    rotation = np.array([1, 2, 0], np.int64)  # every top-1 answer moves to another class
    _route_output(root / "onnx" / "sequence_fused.onnx", root / "rotated.onnx", "Gather", rotation, axis=-1)
    return root


def _check(root: Path, artifact: Path, tables: dict) -> CandidateResult:
    loaded = load_model(str(root / "ckpt"))
    data = load_sequence_data(root / "data.npz", feature_size=5)
    config = CheckConfig(providers=("cpu",), stress=False)
    (candidate,) = run_check([artifact], loaded, data, config, TolerancePolicy(tables), baseline=False).candidates
    return candidate


def _numeric_verdicts(candidate: CandidateResult) -> set[bool]:
    return {o.passed for case in candidate.cases for o in case.outputs if o.name == "output"}


def test_the_shift_fails_fp32s_default_budget(shifted: Path) -> None:
    # the control for the two tests below: without a table, SHIFT fails every case's `output`
    assert _numeric_verdicts(_check(shifted, shifted / "shifted.onnx", {})) == {False}


def test_a_precision_table_reaches_the_numeric_check(shifted: Path) -> None:
    candidate = _check(shifted, shifted / "shifted.onnx", {"precision": {"fp32": {"atol": 0.01}}})
    assert _numeric_verdicts(candidate) == {True}
    assert {o.atol for case in candidate.cases for o in case.outputs} == {0.01}


def test_a_precision_table_reaches_the_task_checks(shifted: Path) -> None:
    numbers_off = {"atol": float("inf"), "rtol": float("inf")}
    assert not _check(shifted, shifted / "rotated.onnx", {"default": numbers_off}).passed  # 0 % agreement
    tables = {"default": numbers_off, "precision": {"fp32": {"min_top1_agreement": 0.0}}}
    candidate = _check(shifted, shifted / "rotated.onnx", tables)
    assert candidate.passed and [t.limit for t in candidate.tasks if t.metric == "top1_agreement"] == [0.0]


def test_an_output_table_reaches_its_output_only(shifted: Path) -> None:
    candidate = _check(shifted, shifted / "shifted.onnx", {"output": {"output": {"atol": 0.01}}})
    assert _numeric_verdicts(candidate) == {True}
    others = {o.atol for case in candidate.cases for o in case.outputs if o.name != "output"}
    assert 0.01 not in others  # the other outputs keep fp32's default


def test_every_comparison_and_case_keeps_its_name(shifted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean = _check(shifted, shifted / "onnx" / "sequence_fused.onnx", {})
    graph_outputs = [o.name for o in onnx.load(str(shifted / "onnx" / "sequence_fused.onnx")).graph.output]
    for case in clean.cases:
        assert [o.name for o in case.outputs] == graph_outputs
    names = [case.label for case in clean.cases]
    assert names == ["data"]  # stress=False: the data case alone

    def broken(*args: object, **kwargs: object) -> list[np.ndarray]:
        raise RuntimeError("kernel missing")

    monkeypatch.setattr(candidate_check.CandidateCheck, "_run", broken)
    failed = _check(shifted, shifted / "onnx" / "sequence_fused.onnx", {})
    assert [case.label for case in failed.cases] == names  # a case that fails at run time is still named


def test_the_float64_noise_floor_widens_each_elements_budget(shifted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a measured floor of SHIFT per element: SHIFT <= fp32's budget + 4 x floor, so the shifted graph passes
    def floor(self: TorchReference, interface: object, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [np.full_like(np.asarray(out, np.float64), SHIFT) for out in self.run(interface, feeds)]

    monkeypatch.setattr(TorchReference, "noise_floor", floor)
    candidate = _check(shifted, shifted / "shifted.onnx", {})
    assert _numeric_verdicts(candidate) == {True}
    floors = [o.max_noise_floor for case in candidate.cases for o in case.outputs]
    assert floors and floors == pytest.approx([SHIFT] * len(floors))


def test_a_token_model_has_no_floor_to_measure_and_is_still_judged(tmp_path: Path) -> None:
    # token ids are not a float input: the reference measures no floor (None), and the check still runs every case
    save_checkpoint(tiny_model(head="lm"), tmp_path / "ckpt")
    verification = VerificationConfig(batches=(1, 2), example_steps=4)
    assert export_model(load_model(str(tmp_path / "ckpt")), tmp_path / "onnx", ExportConfig(), verification).written
    loaded = load_model(str(tmp_path / "ckpt"))
    tokens = np.random.default_rng(0).integers(0, 11, size=(16, 6)).astype(np.int64)
    config = CheckConfig(providers=("cpu",), stress=False)
    data = SequenceData(tokens, None, None, "tokens")
    (candidate,) = run_check([tmp_path / "onnx" / "sequence_fused.onnx"], loaded, data, config, baseline=False).candidates
    assert candidate.cases and not any(case.error for case in candidate.cases)
    assert {o.max_noise_floor for case in candidate.cases for o in case.outputs} == {0.0}
    assert candidate.passed


def test_a_per_step_head_without_lengths_is_judged_at_every_step(tmp_path: Path) -> None:
    # no lengths in the data: every sequence is T steps long, so top-1 agreement counts N x T predictions
    root = _workspace(tmp_path, "per_step", None, None)
    candidate = _check(root, root / "onnx" / "sequence_fused.onnx", {})
    (agreement,) = [t for t in candidate.tasks if t.metric == "top1_agreement"]
    assert agreement.evidence is not None and agreement.evidence.n == N * T
    assert agreement.evidence.unit == "prediction" and agreement.passed
