"""The parity gate's reuse: one torch reference forward per distinct input across the candidates a gate judges,
one real-data run fewer per artifact x provider, torch pinned to the check's threads -- and the same verdicts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from edgelstm.artifact.runners import Runner
from edgelstm.checkpoint import save_checkpoint
from edgelstm.loading import LoadedModel, load_model
from edgelstm.parity import CheckConfig, run_check
from edgelstm.parity import reference as reference_module
from edgelstm.parity.data import SequenceData
from edgelstm.parity.reference import TorchReferences
from edgelstm.quantize import DynamicInt8Config, Fp16Config, quantize
from edgelstm.quantize.gate import ParityGate
from tests.conftest import tiny_model

BATCH, STEPS = 16, 12  # the real-data case's shape: no stress case has it


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[LoadedModel, SequenceData, list[Path]]:
    """A tiny LSTM, real-looking ragged data, and two quantized candidates of it (written without a gate)."""
    root = tmp_path_factory.mktemp("reuse")
    save_checkpoint(tiny_model(cell="lstm", head="classify-last"), root / "ckpt")
    loaded = load_model(str(root / "ckpt"))
    rng = np.random.default_rng(0)
    lengths = rng.integers(4, STEPS + 1, size=BATCH)
    lengths[0] = STEPS
    data = SequenceData(
        rng.standard_normal((BATCH, STEPS, 5)).astype(np.float32), lengths, rng.integers(0, 3, size=BATCH), "reuse data"
    )
    artifacts = []
    for config in (DynamicInt8Config(), Fp16Config()):
        result = quantize(loaded, config, root / "q", calibration=data)
        assert result.path is not None
        artifacts.append(result.path)
    return loaded, data, artifacts


@pytest.fixture
def forwards(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[str, int]]:
    """Every torch reference forward, counted by (dtype, torch threads at the call)."""
    calls: Counter[tuple[str, int]] = Counter()
    original = reference_module.native_reference

    def counting(module: torch.nn.Module, interface: Any) -> Any:
        run = original(module, interface)
        dtype = str(next(module.parameters()).dtype).removeprefix("torch.")

        def counted(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            calls[(dtype, torch.get_num_threads())] += 1
            return run(feeds)

        return counted

    monkeypatch.setattr(reference_module, "native_reference", counting)
    return calls


def _without_timings(report: dict[str, Any]) -> dict[str, Any]:
    for candidate in report["candidates"]:
        candidate.pop("seconds", None)
    if report.get("baseline"):
        report["baseline"].pop("seconds", None)
    return report


def test_the_reference_runs_once_per_input_across_gated_candidates(workspace, forwards) -> None:
    loaded, data, (first, second) = workspace
    ParityGate(loaded, data).run(first)
    one_candidate = sum(forwards.values())
    # float64 only: the gate reads the candidate's verdict, so no torch fp32 baseline row is computed for it
    assert one_candidate > 0 and {dtype for dtype, _ in forwards} == {"float64"}

    forwards.clear()
    gate = ParityGate(loaded, data)
    gate.run(first)
    gate.run(second)  # same model, data and interface: every reference output is already there
    assert sum(forwards.values()) == one_candidate

    forwards.clear()
    for path in (first, second):  # a gate per candidate (what auto did before): every forward twice
        ParityGate(loaded, data).run(path)
    assert sum(forwards.values()) == 2 * one_candidate


def test_shared_references_give_the_verdicts_fresh_ones_give(workspace) -> None:
    loaded, data, artifacts = workspace
    shared = ParityGate(loaded, data)
    assert [shared.run(p) for p in artifacts] == [ParityGate(loaded, data).run(p) for p in artifacts]

    references = TorchReferences(loaded)
    config = CheckConfig(providers=("cpu", "mobile"))
    for path in artifacts:
        reused = run_check([path], loaded, data, config, references=references).to_dict()
        fresh = run_check([path], loaded, data, config).to_dict()
        assert _without_timings(reused) == _without_timings(fresh)


def test_the_real_data_case_runs_twice_per_provider_not_three_times(workspace, monkeypatch) -> None:
    loaded, data, (path, _) = workspace
    runs: Counter[str] = Counter()
    original = Runner.run

    def counting(self: Runner, names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        if feeds["x"].shape[:2] == (BATCH, STEPS):
            runs[self.provider] += 1
        return original(self, names, feeds)

    monkeypatch.setattr(Runner, "run", counting)
    report = run_check([path], loaded, data, CheckConfig(providers=("cpu", "mobile")))
    # once as the case, once more for determinism (whose first run is the case's own)
    assert runs == {"cpu": 2, "mobile": 2}
    for candidate in report.candidates:
        assert candidate.determinism is not None and candidate.determinism.identical


def test_the_reference_runs_on_the_checks_threads_and_torch_gets_its_own_back(workspace, forwards) -> None:
    loaded, data, (path, _) = workspace
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        run_check([path], loaded, data, CheckConfig(providers=("cpu",), threads=1))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    # float64 truth on the check's 1 thread; the fp32 baseline is torch as a user runs it (its own count)
    assert {threads for dtype, threads in forwards if dtype == "float64"} == {1}
    assert {threads for dtype, threads in forwards if dtype == "float32"} == {2}


def test_references_of_another_model_are_refused(workspace, tmp_path: Path) -> None:
    loaded, data, (path, _) = workspace
    save_checkpoint(tiny_model(seed=1, cell="lstm", head="classify-last"), tmp_path / "other")
    other = TorchReferences(load_model(str(tmp_path / "other")))
    with pytest.raises(ValueError, match="another model"):
        run_check([path], loaded, data, CheckConfig(), references=other)


def test_background_crash_probes_still_fail_the_artifact_they_probed(workspace, monkeypatch) -> None:
    from edgelstm.parity import gate as gate_module

    loaded, data, (fine, crashing) = workspace
    probed: list[str] = []

    def probe(path: Path) -> str | None:
        probed.append(path.name)
        return "ONNX Runtime crashed (SIGSEGV) loading or running this graph" if path == crashing else None

    monkeypatch.setattr(gate_module, "crash_reason", probe)
    report = run_check([fine, crashing], loaded, data, CheckConfig(providers=("cpu", "mobile")))
    assert probed == [fine.name, crashing.name]
    verdicts = [(Path(c.artifact).name, c.provider, c.status) for c in report.candidates]
    assert verdicts == [
        (fine.name, "cpu", "run"),
        (fine.name, "mobile", "run"),
        (crashing.name, "cpu", "error"),
        (crashing.name, "mobile", "error"),
    ]
    assert all("SIGSEGV" in c.reason for c in report.candidates[2:])


def _fresh_copy(path: Path, tmp_path: Path, tag: str) -> Path:
    """The same graph with one metadata entry more: bytes no probe in this process has seen."""
    import onnx

    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = "test.fresh", f"{tag}-{tmp_path.name}"
    copy = tmp_path / f"{tag}.onnx"
    onnx.save(model, str(copy))
    return copy


def test_a_quantized_candidate_is_probed_in_one_child_process_not_two(workspace, monkeypatch, tmp_path: Path) -> None:
    import subprocess

    from edgelstm.artifact import child as crash_probe

    loaded, data, _ = workspace
    launched: list[str] = []
    real_run = subprocess.run

    def counting(args: list[str], **kw: Any) -> Any:
        launched.append(Path(args[3]).name)  # [python, -c, script, graph, feeds]
        return real_run(args, **kw)

    monkeypatch.setattr(crash_probe.subprocess, "run", counting)
    gate = ParityGate(loaded, data)
    result = quantize(loaded, DynamicInt8Config(per_channel=True), tmp_path / "q", calibration=data, gate=gate)
    assert result.parity_passed is not None and result.path is not None
    assert launched == [result.path.name]  # quantize's probe; the gate's probe of the same bytes was answered


def test_a_crash_verdict_is_kept_for_the_same_bytes_and_still_fails_the_gate(workspace, monkeypatch, tmp_path: Path) -> None:
    import subprocess

    from edgelstm.artifact import child as crash_probe

    loaded, data, (path, _) = workspace
    crashing, other = _fresh_copy(path, tmp_path, "crashing"), _fresh_copy(path, tmp_path, "other")
    launched: list[str] = []

    def segfault(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        launched.append(Path(args[3]).name)
        return subprocess.CompletedProcess(args, -11, "", "")

    monkeypatch.setattr(crash_probe.subprocess, "run", segfault)
    first = crash_probe.crash_reason(crashing)
    assert first is not None and "SIGSEGV" in first
    report = run_check([crashing], loaded, data, CheckConfig(providers=("cpu",)))
    assert [c.status for c in report.candidates] == ["error"] and "SIGSEGV" in report.candidates[0].reason
    assert crash_probe.crash_reason(other) is not None  # other bytes: probed on their own
    assert launched == ["crashing.onnx", "other.onnx"]
