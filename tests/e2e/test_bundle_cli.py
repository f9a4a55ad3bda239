"""Mobile bundles: complete, relocatable, checksummed, safe to unpack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgelstm.bundle import build_bundle, verify_bundle
from edgelstm.cli import app
from tests.support import bundle as shared
from tests.support.bundle import _candidate, _parity_report, _sha

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
streaming_artifact = shared.streaming_artifact


def test_cli_bundle_and_verify(streaming_artifact: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(app, ["bundle", str(streaming_artifact), "--out", str(tmp_path / "b"), "--zip"])
    assert made.exit_code == 0, made.output
    assert "mobile usability: NNAPI" in made.output
    checked = runner.invoke(app, ["bundle", "verify", str(tmp_path / "b.zip")])
    assert checked.exit_code == 0 and checked.output.startswith("OK")
    ort_sha = _sha(tmp_path / "b" / "streaming_fused.ort")
    assert f"ran     streaming_fused.ort  sha256 {ort_sha}" in checked.output
    assert f"parity  not checked for streaming_fused.onnx  sha256 {_sha(streaming_artifact)}" in checked.output
    missing = runner.invoke(app, ["bundle", "verify", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "error:" in missing.output


def test_a_parallel_policy_reaches_the_manifest_the_notes_and_verify(
    streaming_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgelstm.bundle import verify as verify_module

    bench = tmp_path / "bench.json"
    rows = [
        {"name": "streaming_fused.onnx", "kind": "artifact", "batch": 1, "steps": 10, "threads": t, "mode": "run",
         "p50_ms": ms, "p90_ms": ms, "allow_spinning": False, "execution_mode": mode}
        for t, mode, ms in ((1, "sequential", 0.30), (2, "sequential", 0.25), (2, "parallel", 0.21))
    ]  # fmt: skip
    bench.write_text(json.dumps({"latencies": rows, "settings": {}}))
    build_bundle(streaming_artifact, tmp_path / "b", bench_report=bench)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    settings = manifest["session_settings"]
    assert (settings["execution_mode"], settings["intra_op_num_threads"], settings["inter_op_num_threads"]) == ("parallel", 1, 2)
    assert manifest["session_policy"]["summary"] == "every batch: parallel execution on 2 inter-op threads, no spinning"
    notes = (tmp_path / "b" / "README.md").read_text()
    assert "options.SetExecutionMode(ExecutionMode::ORT_PARALLEL); options.SetInterOpNumThreads(2);" in notes
    opened = []
    real = verify_module._policy_settings
    monkeypatch.setattr(verify_module, "_policy_settings", lambda m: opened.append(real(m)) or opened[-1])
    checked = CliRunner().invoke(app, ["bundle", "verify", str(tmp_path / "b")])
    assert checked.exit_code == 0, checked.output
    assert [(s.execution_mode, s.inter_op_threads) for s in opened] == [("parallel", 2)]


def _bench_with_policy(path: Path) -> Path:
    """Batch 1 fastest on 1 thread, batch 8 on 2 threads with spinning (and rows of another artifact, ignored)."""
    rows = [
        {"name": name, "kind": "artifact", "batch": b, "steps": 10, "threads": t, "mode": "run", "p50_ms": ms,
         "p90_ms": ms, "allow_spinning": spin}
        for name, b, t, spin, ms in (
            ("streaming_fused.onnx", 1, 1, False, 0.20), ("streaming_fused.onnx", 1, 2, False, 0.30),
            ("streaming_fused.onnx", 1, 2, True, 0.25), ("streaming_fused.onnx", 8, 1, False, 2.0),
            ("streaming_fused.onnx", 8, 2, False, 1.5), ("streaming_fused.onnx", 8, 2, True, 1.1),
            ("other.onnx", 1, 4, True, 0.01),
        )
    ]  # fmt: skip
    path.write_text(json.dumps({"latencies": rows, "settings": {}, "versions": {"cpu_count": "2"}}))
    return path


def test_bundle_with_bench_carries_the_measured_policy_and_verify_uses_it(
    streaming_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgelstm.bundle import verify as verify_module

    bench = _bench_with_policy(tmp_path / "bench.json")
    made = CliRunner().invoke(app, ["bundle", str(streaming_artifact), "--out", str(tmp_path / "b"), "--bench", str(bench)])
    assert made.exit_code == 0, made.output
    expected = "batch < 8: 1 thread, no spinning; batch >= 8: 2 threads, spinning"
    assert f"session policy: {expected}" in made.output
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    policy = manifest["session_policy"]
    assert policy["status"] == "measured" and policy["summary"] == expected and policy["source"] == "bench.json"
    assert [(e["from_batch"], e["intra_op_threads"], e["allow_spinning"]) for e in policy["by_batch"]] == [
        (1, 1, False),
        (8, 2, True),
    ]
    assert policy["measured_on"] == {"cpu_count": "2"}
    assert f"Policy: {expected}." in (tmp_path / "b" / "README.md").read_text()
    # verify reads it back and opens its session with it (batch 1 -> 1 thread, no spinning)
    opened = []
    real = verify_module._policy_settings
    monkeypatch.setattr(verify_module, "_policy_settings", lambda m: opened.append(real(m)) or opened[-1])
    checked = CliRunner().invoke(app, ["bundle", "verify", str(tmp_path / "b")])
    assert checked.exit_code == 0, checked.output
    assert f"policy  {expected}" in checked.output
    assert [(s.intra_op_threads, s.allow_spinning, s.graph_optimization) for s in opened] == [(1, False, "disable")]


def test_a_malformed_policy_in_the_manifest_is_refused_with_one_line(streaming_artifact: Path, tmp_path: Path) -> None:
    from tests.refusals import assert_refused

    build_bundle(streaming_artifact, tmp_path / "b", bench_report=_bench_with_policy(tmp_path / "bench.json"))
    path = tmp_path / "b" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["session_policy"]["by_batch"][1]["intra_op_threads"] = "all cores"
    path.write_text(json.dumps(manifest))
    assert_refused(["bundle", "verify", tmp_path / "b"], "session_policy", "by_batch[1].intra_op_threads", watch=(tmp_path,))
    manifest["session_policy"] = {"status": "guessed"}
    path.write_text(json.dumps(manifest))
    assert_refused(["bundle", "verify", tmp_path / "b"], "'status' must be", watch=(tmp_path,))


def test_an_inconclusive_verdict_is_shipped_and_verified_by_its_name(streaming_artifact: Path, tmp_path: Path) -> None:
    """A check whose data could not resolve a budget: not a pass, and not called FAIL either (issue 19, item 4)."""
    mine = _sha(streaming_artifact)
    report = _parity_report(
        tmp_path / "check.json",
        _candidate("elsewhere/streaming_fused.onnx", "inconclusive", mine),
        _candidate("elsewhere/streaming_fused.onnx", "pass", mine, provider="mobile"),
    )
    made = CliRunner().invoke(
        app, ["bundle", str(streaming_artifact), "--out", str(tmp_path / "b"), "--parity-report", str(report)]
    )
    assert made.exit_code == 0, made.output
    assert "parity: inconclusive" in made.output
    parity = json.loads((tmp_path / "b" / "manifest.json").read_text())["parity"]
    assert parity["passed"] is False  # readers of the bool see no pass
    assert verify_bundle(tmp_path / "b").parity == "inconclusive"


def test_a_report_without_sha256_counts_by_hashing_the_file_it_names(streaming_artifact: Path, tmp_path: Path) -> None:
    report = _parity_report(tmp_path / "check.json", _candidate(str(streaming_artifact), "pass"), _candidate("x.onnx", "skipped"))
    made = CliRunner().invoke(
        app, ["bundle", str(streaming_artifact), "--out", str(tmp_path / "b"), "--parity-report", str(report)]
    )
    assert made.exit_code == 0, made.output
    assert f"parity: pass for streaming_fused.onnx sha256 {_sha(streaming_artifact)}" in made.output
    parity = json.loads((tmp_path / "b" / "manifest.json").read_text())["parity"]
    assert parity["passed"] is True and "hashed" in parity["matched_by"]
