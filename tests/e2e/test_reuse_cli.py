"""The parity gate's reuse: one torch reference forward per distinct input across the candidates a gate judges,
one real-data run fewer per artifact x provider, torch pinned to the check's threads -- and the same verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgelstm.parity import CheckConfig, run_check
from edgelstm.quantize import DynamicInt8Config, quantize
from edgelstm.quantize.gate import ParityGate
from tests.support import reuse as shared

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
workspace = shared.workspace


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
