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
from edgelstm.errors import InputShapeError
from edgelstm.export.api import export_model
from edgelstm.export.verify import VerificationConfig
from edgelstm.loading import load_model
from edgelstm.parity import CheckConfig, candidate_check, run_check
from edgelstm.parity.data import SequenceData
from edgelstm.parity.reference import TorchReference
from edgelstm.parity.report import CandidateResult
from edgelstm.parity.tolerances import ToleranceSpec
from tests.conftest import tiny_model
from tests.support.gate_verdict_boundaries import NUMBERS_OFF, N, T, _route_output, _workspace, check_workspace

SHIFT = 1e-3  # far beyond fp32's default budget (atol 1e-5 + rtol 1e-4 x range), far inside the tables' 0.01 below


@pytest.fixture(scope="module")
def shifted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classifier's verified export, a copy whose `output` is moved by SHIFT everywhere, one whose classes rotate."""
    root = _workspace(tmp_path_factory.mktemp("shifted"), "classify-last", None, None)
    _route_output(root / "onnx" / "sequence_fused.onnx", root / "shifted.onnx", "Add", np.array(SHIFT, np.float32))
    rotation = np.array([1, 2, 0], np.int64)  # every top-1 answer moves to another class
    _route_output(root / "onnx" / "sequence_fused.onnx", root / "rotated.onnx", "Gather", rotation, axis=-1)
    return root


def _numeric_verdicts(candidate: CandidateResult) -> set[bool]:
    return {o.passed for case in candidate.cases for o in case.outputs if o.name == "output"}


def test_the_shift_fails_fp32s_default_budget(shifted: Path) -> None:
    # the control for the two tests below: without a table, SHIFT fails every case's `output`
    assert _numeric_verdicts(check_workspace(shifted, shifted / "shifted.onnx", {})) == {False}


def test_a_precision_table_reaches_the_numeric_check(shifted: Path) -> None:
    candidate = check_workspace(shifted, shifted / "shifted.onnx", {"precision": {"fp32": {"atol": 0.01}}})
    assert _numeric_verdicts(candidate) == {True}
    assert {o.atol for case in candidate.cases for o in case.outputs} == {0.01}


def test_a_precision_table_reaches_the_task_checks(shifted: Path) -> None:
    assert not check_workspace(shifted, shifted / "rotated.onnx", {"default": NUMBERS_OFF}).passed  # 0 % agreement
    tables = {"default": NUMBERS_OFF, "precision": {"fp32": {"min_top1_agreement": 0.0}}}
    candidate = check_workspace(shifted, shifted / "rotated.onnx", tables)
    assert candidate.passed and [t.limit for t in candidate.tasks if t.metric == "top1_agreement"] == [0.0]
    assert {t.case for t in candidate.tasks} == {"data"}


def test_an_output_table_reaches_its_output_only(shifted: Path) -> None:
    candidate = check_workspace(shifted, shifted / "shifted.onnx", {"output": {"output": {"atol": 0.01}}})
    assert _numeric_verdicts(candidate) == {True}
    others = {o.atol for case in candidate.cases for o in case.outputs if o.name != "output"}
    assert others == {ToleranceSpec().atol}  # h_out and c_out keep fp32's default


def test_every_comparison_and_case_keeps_its_name(shifted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean = check_workspace(shifted, shifted / "onnx" / "sequence_fused.onnx", {})
    graph_outputs = [o.name for o in onnx.load(str(shifted / "onnx" / "sequence_fused.onnx")).graph.output]
    for case in clean.cases:
        assert [o.name for o in case.outputs] == graph_outputs
    names = [case.label for case in clean.cases]
    assert names == ["data"]  # stress=False: the data case alone
    assert [(case.batch, case.steps) for case in clean.cases] == [(N, T)]

    def broken(*args: object, **kwargs: object) -> list[np.ndarray]:
        raise RuntimeError("kernel missing")

    monkeypatch.setattr(candidate_check.CandidateCheck, "_run", broken)
    failed = check_workspace(shifted, shifted / "onnx" / "sequence_fused.onnx", {})
    assert [case.label for case in failed.cases] == names  # a case that fails at run time is still named


def test_the_float64_noise_floor_widens_each_elements_budget(shifted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a measured floor of SHIFT per element: SHIFT <= fp32's budget + 4 x floor, so the shifted graph passes
    def floor(self: TorchReference, interface: object, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [np.full_like(np.asarray(out, np.float64), SHIFT) for out in self.run(interface, feeds)]

    monkeypatch.setattr(TorchReference, "noise_floor", floor)
    candidate = check_workspace(shifted, shifted / "shifted.onnx", {})
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
    candidate = check_workspace(root, root / "onnx" / "sequence_fused.onnx", {})
    (agreement,) = [t for t in candidate.tasks if t.metric == "top1_agreement"]
    assert agreement.evidence is not None and agreement.evidence.n == N * T
    assert agreement.evidence.unit == "prediction" and agreement.passed


# ---- regression through the gate, and what it refuses before running anything ----


@pytest.fixture(scope="module")
def forecast(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A forecaster (horizon 4 x 2 outputs) with random targets, and a copy whose output is scaled by 1.05."""
    targets = np.random.default_rng(5).standard_normal((N, 4, 2)).astype(np.float32)
    root = _workspace(tmp_path_factory.mktemp("forecast"), "forecast", None, targets)
    _route_output(root / "onnx" / "sequence_fused.onnx", root / "scaled.onnx", "Mul", np.array(1.05, np.float32))
    return root


def test_the_mae_check_is_named_counted_in_sequences_and_held_inconclusive_under_strict_evidence(forecast: Path) -> None:
    (first,) = check_workspace(forecast, forecast / "scaled.onnx", {"default": NUMBERS_OFF}, False).tasks
    assert (first.case, first.metric, first.evidence.unit, first.evidence.n) == ("data", "mae_increase", "sequence", N)
    # a limit between the value and its interval's upper end: within, but the data do not resolve it
    limit = (first.value + first.evidence.high) / 2
    tables = {"default": {**NUMBERS_OFF, "max_mae_increase": limit}}
    (lenient,) = check_workspace(forecast, forecast / "scaled.onnx", tables, False).tasks
    (strict,) = check_workspace(forecast, forecast / "scaled.onnx", tables, True).tasks
    assert lenient.evidence.verdict == "pass" and strict.evidence.verdict == "inconclusive"


def test_a_forecaster_checked_without_targets_has_no_mae_check(forecast: Path, tmp_path: Path) -> None:
    x = np.load(forecast / "data.npz")["x"]
    loaded = load_model(str(forecast / "ckpt"))
    data = SequenceData(x, None, None, "no targets")
    config = CheckConfig(providers=("cpu",), stress=False)
    (candidate,) = run_check([forecast / "onnx" / "sequence_fused.onnx"], loaded, data, config, baseline=False).candidates
    assert candidate.tasks == [] and candidate.passed


def test_a_graph_without_inputs_is_refused_naming_it(shifted: Path, tmp_path: Path) -> None:
    value = onnx.numpy_helper.from_array(np.zeros((1, 3), np.float32), "value")
    node = onnx.helper.make_node("Constant", [], ["output"], value=value)
    out = onnx.helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [1, 3])
    graph = onnx.helper.make_graph([node], "no_inputs", [], [out])
    path = tmp_path / "no_inputs.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(InputShapeError) as refused:
        check_workspace(shifted, path, {})
    assert str(refused.value) == f"{path}: the graph has no inputs"


def test_an_export_of_another_architecture_is_refused_naming_it(shifted: Path, tmp_path: Path) -> None:
    save_checkpoint(tiny_model(head="classify-last", layers=2), tmp_path / "ckpt")
    verification = VerificationConfig(batches=(1, 2), example_steps=4)
    written = export_model(load_model(str(tmp_path / "ckpt")), tmp_path / "onnx", ExportConfig(), verification)
    with pytest.raises(InputShapeError) as refused:
        check_workspace(shifted, written.path, {})
    assert str(refused.value) == f"{written.path}: was exported from a different architecture than the reference model"


def test_the_task_checks_of_a_case_split_by_length_are_named_after_the_case(tmp_path: Path) -> None:
    # a streaming graph takes no lengths: ragged data runs one length at a time ("data T=3", ...); the task
    # checks pool those runs back into one, named after the case ("data")
    save_checkpoint(tiny_model(head="classify-last"), tmp_path / "ckpt")
    loaded = load_model(str(tmp_path / "ckpt"))
    artifact = export_model(loaded, tmp_path / "onnx", ExportConfig(form="streaming")).path
    rng = np.random.default_rng(2)
    x = rng.standard_normal((24, T, 5)).astype(np.float32)
    lengths = rng.integers(2, T + 1, size=24).astype(np.int64)
    data = SequenceData(x, lengths, None, "ragged")
    config = CheckConfig(providers=("cpu",), stress=False)
    (candidate,) = run_check([artifact], loaded, data, config, baseline=False).candidates
    labels = [case.label for case in candidate.cases]
    assert len(labels) > 1 and all(label.startswith("data T=") for label in labels)
    assert {t.case for t in candidate.tasks} == {"data"}
