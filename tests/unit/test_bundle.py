"""Mobile bundles: complete, relocatable, checksummed, safe to unpack."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.bundle import BundleError, build_bundle, safe_extract, verify_bundle
from edgelstm.errors import OutputExistsError
from edgelstm.export.api import export_model
from tests.conftest import tiny_model
from tests.support import bundle as shared
from tests.support.bundle import _candidate, _parity_report, _sha

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
streaming_artifact = shared.streaming_artifact


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
    assert [s["input_name"] for s in manifest["state"]] == ["h0_in", "h1_in"]  # issue 21: one state pair per layer
    assert manifest["state"][0]["initial_value"] == 0.0
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
