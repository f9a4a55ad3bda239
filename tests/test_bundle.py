"""Mobile bundles: complete, relocatable, checksummed, safe to unpack."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.bundle import BundleError, build_bundle, safe_extract, verify_bundle
from edgelstm.checkpoint import save_checkpoint
from edgelstm.cli import app
from edgelstm.config import Preprocessing
from edgelstm.errors import OutputExistsError
from edgelstm.export.api import export_model
from edgelstm.loading import load_model
from tests.conftest import tiny_model


@pytest.fixture(scope="module")
def streaming_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bundle")
    save_checkpoint(
        tiny_model(cell="gru", layers=2),
        root / "ckpt",
        Preprocessing(labels=["a", "b", "c"], feature_mean=[0.0] * 5, feature_std=[1.0] * 5),
    )
    return export_model(load_model(str(root / "ckpt")), root / "onnx", ExportConfig(form="streaming")).path


def test_bundle_holds_everything_an_app_needs(streaming_artifact: Path, tmp_path: Path) -> None:
    result = build_bundle(streaming_artifact, tmp_path / "b", make_zip=True)
    names = set(result.files)
    assert names == {
        "streaming_fused.onnx",
        "streaming_fused.ort",
        "required_operators.config",
        "mobile_usability.json",
        "README.md",
    }
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert [s["input_name"] for s in manifest["state"]] == ["h_in"] and manifest["state"][0]["initial_value"] == 0.0
    assert manifest["labels"] == ["a", "b", "c"] and manifest["preprocessing"]["feature_std"] == [1.0] * 5
    assert {u["execution_provider"] for u in manifest["mobile_usability"]} == {
        "NNAPI",
        "CoreML MLProgram",
        "CoreML NeuralNetwork",
    }
    assert "ai.onnx" in (tmp_path / "b" / "required_operators.config").read_text()
    everything = "".join(p.read_text() for p in (tmp_path / "b").iterdir() if p.suffix in (".json", ".config"))
    assert str(tmp_path) not in everything and "/tmp/" not in everything  # relocatable
    assert verify_bundle(tmp_path / "b").files_checked == 5
    # nothing measured: the manifest and the usage notes say so, and the defaults are what it ships
    assert manifest["session_policy"]["status"] == "not measured" and manifest["session_policy"]["by_batch"] == []
    assert (manifest["session_settings"]["intra_op_num_threads"], manifest["session_settings"]["allow_spinning"]) == (1, False)
    assert "Policy: not measured (no --bench-report was given)" in (tmp_path / "b" / "README.md").read_text()
    assert verify_bundle(tmp_path / "b.zip").ran == "streaming_fused.ort"


def test_verify_catches_an_altered_file(streaming_artifact: Path, tmp_path: Path) -> None:
    build_bundle(streaming_artifact, tmp_path / "b")
    ort_file = tmp_path / "b" / "streaming_fused.ort"
    data = bytearray(ort_file.read_bytes())
    data[-10] ^= 0xFF
    ort_file.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="does not match its sha256"):
        verify_bundle(tmp_path / "b")


def test_unpacking_refuses_paths_outside_the_bundle(tmp_path: Path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../escape.txt", "x")
    with pytest.raises(BundleError, match="outside the bundle"):
        safe_extract(evil, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_no_silent_overwrite(streaming_artifact: Path, tmp_path: Path) -> None:
    build_bundle(streaming_artifact, tmp_path / "b")
    with pytest.raises(OutputExistsError):
        build_bundle(streaming_artifact, tmp_path / "b")


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


def test_manifest_takes_the_fastest_measured_thread_count(streaming_artifact: Path, tmp_path: Path) -> None:
    bench = tmp_path / "bench.json"
    rows = [
        {
            "name": "streaming_fused.onnx",
            "kind": "artifact",
            "batch": 1,
            "steps": 10,
            "threads": t,
            "mode": "run",
            "p50_ms": ms,
            "p90_ms": ms,
        }
        for t, ms in ((1, 0.30), (2, 0.21), (4, 0.25))
    ]
    bench.write_text(json.dumps({"latencies": rows, "settings": {}}))
    build_bundle(streaming_artifact, tmp_path / "b", bench_report=bench)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["session_settings"]["intra_op_num_threads"] == 2 and manifest["session_settings"]["allow_spinning"] is False
    assert manifest["session_policy"]["summary"] == "every batch: 2 threads, no spinning"


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


def test_a_loop_graph_bundles_with_the_mobile_check_marked_unknown_not_crashing(tmp_path: Path) -> None:
    """ORT's usability checker rejects Loop bodies that read outer-scope values; the bundle records why."""
    from edgelstm.bundle.mobile_check import mobile_usability
    from edgelstm.loading import InputSignature, LoadedModel

    model = tiny_model(cell="gru")
    loaded = LoadedModel(model, "checkpoint", "gru", InputSignature.from_config(model.config), model.config)
    exported = export_model(loaded, tmp_path, ExportConfig(form="sequence", impl="loop"))
    results = mobile_usability(exported.path)
    assert [r.execution_provider for r in results] == ["NNAPI", "CoreML MLProgram", "CoreML NeuralNetwork"]
    for r in results:
        assert r.verdict in ("YES", "MAYBE", "NO") or (r.verdict == "UNKNOWN" and r.note.startswith("checker failed"))
    bundle = build_bundle(exported.path, tmp_path / "bundle", make_zip=False)
    assert (bundle.directory / "manifest.json").exists()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _candidate(artifact: str, verdict: str, sha: str | None = None, provider: str = "cpu") -> dict:
    c = {"artifact": artifact, "provider": provider, "precision": "fp32", "verdict": verdict, "gated": True}
    if sha is not None:
        c["artifact_sha256"] = sha
    return c


def _parity_report(path: Path, *candidates: dict) -> Path:
    # The shape `check --report` writes; only the keys a verdict needs, plus a run-wide "passed" that must not leak.
    path.write_text(json.dumps({"passed": True, "reference_dtype": "float64", "versions": {}, "candidates": list(candidates)}))
    return path


def test_a_parity_report_about_another_artifact_is_not_shipped_as_a_pass(streaming_artifact: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.onnx"
    other.write_bytes(b"another model")
    report = _parity_report(tmp_path / "check.json", _candidate(str(other), "pass"), _candidate("gone.onnx", "pass", "1" * 64))
    result = build_bundle(streaming_artifact, tmp_path / "b", parity_report=report)
    parity = json.loads((tmp_path / "b" / "manifest.json").read_text())["parity"]
    assert parity["passed"] is None and parity["status"] == "not checked"
    assert parity["artifact_sha256"] == _sha(streaming_artifact) == result.files["streaming_fused.onnx"]
    assert "other.onnx" in parity["reason"] and "not this file" in parity["reason"]
    assert verify_bundle(tmp_path / "b").parity == "not checked"


def test_the_verdict_is_over_this_artifacts_candidates_only(streaming_artifact: Path, tmp_path: Path) -> None:
    mine = _sha(streaming_artifact)
    report = _parity_report(
        tmp_path / "check.json",
        _candidate("elsewhere/streaming_fused.onnx", "pass", mine),
        _candidate("elsewhere/streaming_fused.onnx", "FAIL", mine, provider="cuda"),
        _candidate("other.onnx", "pass", "2" * 64),
    )
    build_bundle(streaming_artifact, tmp_path / "b", parity_report=report)
    parity = json.loads((tmp_path / "b" / "manifest.json").read_text())["parity"]
    assert (parity["passed"], parity["status"], parity["artifact_sha256"]) == (False, "checked", mine)
    assert [c["provider"] for c in parity["candidates"]] == ["cpu", "cuda"]  # other.onnx's pass is not in it
    assert verify_bundle(tmp_path / "b").parity == "FAIL"


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


def test_latency_rows_of_other_artifacts_are_not_shipped(streaming_artifact: Path, tmp_path: Path) -> None:
    row = {"kind": "artifact", "batch": 1, "steps": 10, "threads": 1, "mode": "run", "p50_ms": 0.1, "p90_ms": 0.2}
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"settings": {}, "latencies": [{**row, "name": "sequence_fused.dynamic-int8.onnx"}]}))
    build_bundle(streaming_artifact, tmp_path / "b", bench_report=bench)
    latency = json.loads((tmp_path / "b" / "manifest.json").read_text())["latency"]
    assert latency["latencies"] == [] and latency["status"] == "not measured"


def test_overwrite_refuses_a_directory_that_is_not_a_bundle_and_deletes_nothing(streaming_artifact: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "train.npz").write_bytes(b"data")
    with pytest.raises(OutputExistsError, match="not one: it has no manifest.json; nothing was deleted"):
        build_bundle(streaming_artifact, out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "train.npz"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary directory left either


def test_overwrite_refuses_a_bundle_holding_a_users_file(streaming_artifact: Path, tmp_path: Path) -> None:
    build_bundle(streaming_artifact, tmp_path / "b")
    (tmp_path / "b" / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="notes.txt"):
        build_bundle(streaming_artifact, tmp_path / "b", overwrite=True)
    assert (tmp_path / "b" / "notes.txt").read_text() == "mine"


def test_overwrite_replaces_a_bundle(streaming_artifact: Path, tmp_path: Path) -> None:
    build_bundle(streaming_artifact, tmp_path / "my.bundle", make_zip=True)
    (tmp_path / "my.bundle" / "mobile_usability.json").write_text("[]")  # stale content to be replaced
    again = build_bundle(streaming_artifact, tmp_path / "my.bundle", make_zip=True, overwrite=True)
    assert again.zip_path == tmp_path / "my.bundle.zip"  # DIR.zip, not DIR with its suffix swapped
    assert verify_bundle(tmp_path / "my.bundle").files_checked == 5 and verify_bundle(again.zip_path).ran


def test_an_existing_zip_is_refused_before_the_directory_is_written(streaming_artifact: Path, tmp_path: Path) -> None:
    (tmp_path / "b.zip").write_bytes(b"someone's zip")
    with pytest.raises(OutputExistsError, match="b.zip already exists"):
        build_bundle(streaming_artifact, tmp_path / "b", make_zip=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.zip"]
    with pytest.raises(OutputExistsError, match="only an edgelstm bundle zip.*nothing was deleted"):
        build_bundle(streaming_artifact, tmp_path / "b", make_zip=True, overwrite=True)
    assert (tmp_path / "b.zip").read_bytes() == b"someone's zip"


def test_a_failure_midway_leaves_neither_the_directory_nor_the_zip(
    streaming_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: Path, target: Path) -> None:
        target.write_bytes(b"half")
        raise OSError(28, "No space left on device", str(target))

    monkeypatch.setattr("edgelstm.bundle.build._write_zip", broken)
    with pytest.raises(OSError):
        build_bundle(streaming_artifact, tmp_path / "b", make_zip=True)
    assert list(tmp_path.iterdir()) == []
