"""Mobile bundles: complete, relocatable, checksummed, safe to unpack."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from edgelstm.export.api import export_model
from edgelstm.export.config import ExportConfig
from typer.testing import CliRunner

from edgelstm.bundle import BundleError, build_bundle, safe_extract, verify_bundle
from edgelstm.checkpoint import save_checkpoint
from edgelstm.cli import app
from edgelstm.config import Preprocessing
from edgelstm.errors import OutputExistsError
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
    assert names == {"streaming_fused.onnx", "streaming_fused.ort", "required_operators.config", "mobile_usability.json"}
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
    assert verify_bundle(tmp_path / "b").files_checked == 4
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
