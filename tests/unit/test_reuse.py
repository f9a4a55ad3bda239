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
from edgelstm.jsonio import to_jsonable
from edgelstm.loading import load_model
from edgelstm.parity import CheckConfig, run_check
from edgelstm.parity import reference as reference_module
from edgelstm.parity.reference import TorchReferences
from edgelstm.quantize.gate import ParityGate
from tests.conftest import tiny_model
from tests.support import reuse as shared
from tests.support.reuse import BATCH, STEPS

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
workspace = shared.workspace


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
        reused = to_jsonable(run_check([path], loaded, data, config, references=references))
        fresh = to_jsonable(run_check([path], loaded, data, config))
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

    def probe(path: Path, **read: object) -> str | None:  # read: the sha256 and graph open_artifact read
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
