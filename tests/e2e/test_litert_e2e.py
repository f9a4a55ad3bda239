"""LiteRT end to end (issue 20): export one verified .tflite per static shape, gate it on the `litert` provider
against the float64 model (streaming parity, drift over time), and refuse what a static-shape file cannot honestly
run: another shape, or a state that is not carried. Skipped, with the reason, only where the converter is absent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgelstm.api import (
    BundleOptions,
    CheckOptions,
    ExportOptions,
    QuantizeOptions,
    bundle,
    check,
    convert,
    export,
    quantize,
    verify,
)
from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.file import open_artifact
from edgelstm.artifact.litert_file import read_sidecar, sidecar_path
from edgelstm.artifact.litert_metadata import INTERFACE_ENTRY, embed_interface, embedded_interface
from edgelstm.artifact.litert_runner import LiteRTRunner
from edgelstm.artifact.metadata import read_metadata
from edgelstm.bench import BenchConfig, run_bench
from edgelstm.cli import app
from edgelstm.errors import BundleError, ConfigError, InputShapeError, LoadError
from edgelstm.export.api import export_model
from edgelstm.export.litert import LiteRTExportConfig, LiteRTExportResult, export_litert
from edgelstm.files import file_sha256
from edgelstm.jsonio import to_jsonable
from edgelstm.loading import load_model
from edgelstm.model_source import ModelSource
from edgelstm.parity import CheckConfig, run_check
from tests.support import litert as shared
from tests.support import user_module as user_support
from tests.support.litert import CONVERTER_REASON, StateNotCarried, rewrite_beside, state_not_carried

pytest.importorskip("litert_torch", reason=CONVERTER_REASON)  # every test here makes its .tflite with the converter

gru_checkpoint, exported = shared.gru_checkpoint, shared.exported
user = user_support.user  # the user module folder (tests/support/user_module.py), for conftest's in_user_dir
pytestmark = pytest.mark.slow


def _check(paths: list[Path], checkpoint: Path):  # type: ignore[no-untyped-def]
    return run_check(paths, load_model(str(checkpoint)), config=CheckConfig(providers=("litert",)), baseline=False)


def test_export_writes_one_verified_tflite_and_sidecar_per_shape(exported: LiteRTExportResult) -> None:
    assert exported.passed
    assert [a.path.name for a in exported.artifacts] == ["streaming_litert_b1_k4.tflite", "streaming_litert_b2_k4.tflite"]
    for artifact in exported.artifacts:
        assert artifact.written and file_sha256(artifact.path) == artifact.sha256
        sidecar = json.loads(sidecar_path(artifact.path).read_text())
        assert sidecar["tflite_sha256"] == artifact.sha256 and sidecar["shape"]["batch"] == artifact.shape.batch
        labels = [c.label for c in artifact.verification.cases]
        assert labels[1] == "16 chunks of 4, state carried, vs one whole-sequence run"
        assert artifact.verification.max_abs_error < 1e-5


def test_check_on_litert_passes_with_streaming_parity_and_drift(exported: LiteRTExportResult, gru_checkpoint: Path) -> None:
    report = _check([a.path for a in exported.artifacts], gru_checkpoint)
    assert report.passed, report.candidates
    for candidate in report.candidates:
        assert candidate.providers_used[0].startswith("LiteRT interpreter")
        assert [s.label for s in candidate.streaming] == ["chunks of 4 vs one call", "chunks of 4 vs reference"]
        assert candidate.time_profiles and candidate.time_profiles[0].steps[-1] >= 64
        assert any(c.label == "long" and c.passed for c in candidate.cases)
        # a case that is not whole chunks runs on its first whole chunks (ragged T=7 at chunks of 4: 4 steps)
        assert any(c.label == "ragged T=7" and c.steps == 4 and c.passed for c in candidate.cases)
        assert "ragged T=2: not run, 2 steps are less than one chunk of 4" in candidate.notes


def test_the_runner_never_resizes(exported: LiteRTExportResult) -> None:
    # Resized to batch 2, LiteRT's own interpreter runs this GRU stream and returns a batch-1 output with no error.
    artifact = exported.artifacts[0]
    runner = LiteRTRunner(artifact.path, json_interface(artifact.path))
    feeds = {"x": np.zeros((2, 4, 5), np.float32), **{f"h{k}_in": np.zeros((1, 2, 8), np.float32) for k in (0, 1)}}
    with pytest.raises(InputShapeError, match=r"x is \[2, 4, 5\], but this .tflite runs at \[1, 4, 5\] only"):
        runner.run(["output", "h0_out", "h1_out"], feeds)


def json_interface(path: Path):  # type: ignore[no-untyped-def]
    return open_artifact(path).interface


def test_the_gate_refuses_a_run_at_another_shape(exported: LiteRTExportResult, gru_checkpoint: Path, tmp_path: Path) -> None:
    honest = exported.artifacts[0].path  # batch 1; its sidecar edited to promise batch 2

    def promise_batch_2(data: dict) -> None:
        interface = json.loads(data["metadata_props"]["edgelstm.interface"])
        interface["inputs"][0]["shape"][0] = 2
        data["metadata_props"]["edgelstm.interface"] = json.dumps(interface)

    # the file's embedded interface lies the same way, so the lie gets past open and only the runner's pin stands
    claimed = json.loads(sidecar_path(honest).read_text())
    promise_batch_2(claimed)
    inside = {k: v for k, v in claimed.items() if k not in ("tflite_sha256", "verification")}
    lying = rewrite_beside(honest, tmp_path / "resized.tflite", embed_interface(honest.read_bytes(), inside), promise_batch_2)
    report = _check([lying], gru_checkpoint)
    assert not report.passed
    errors = [c.error for c in report.candidates[0].cases if c.error]
    assert errors and all("runs at [1, 4, 5] only" in e for e in errors)


def test_the_gate_catches_a_state_that_is_not_carried(exported: LiteRTExportResult, gru_checkpoint: Path) -> None:
    stale = state_not_carried(gru_checkpoint, exported.artifacts[0].path)
    report = _check([stale], gru_checkpoint)
    assert not report.passed
    candidate = report.candidates[0]
    assert not next(s for s in candidate.streaming if s.label == "chunks of 4 vs reference").passed
    # within one chunk the outputs are right; the state it hands on is not (ragged T=7: its first chunk of 4)
    one_chunk = [c for c in candidate.cases if c.steps == 4]
    assert one_chunk and all(
        {o.name: o.passed for o in c.outputs} == {"output": True, "h0_out": False, "h1_out": False} for c in one_chunk
    )


def test_cli_export_and_check_on_litert(gru_checkpoint: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli"
    made = runner.invoke(app, ["export", str(gru_checkpoint), "--out", str(out), "--target", "litert", "--form", "streaming"])
    assert made.exit_code == 0, made.output
    assert "wrote" in made.output and "64 chunks of 1, state carried" in made.output
    checked = runner.invoke(
        app, ["check", str(out / "streaming_litert_b1_k1.tflite"), "--reference", str(gru_checkpoint), "--providers", "litert"]
    )
    assert checked.exit_code == 0, checked.output
    assert checked.output.rstrip().splitlines()[-1].startswith("PASS")


def test_a_truncated_tflite_with_a_matching_sidecar_is_one_error_line_in_check_bench_and_bundle(
    exported: LiteRTExportResult, gru_checkpoint: Path, tmp_path: Path
) -> None:
    # the interpreter's ValueError ("not a valid Flatbuffer") is the runner's LoadError, not an internal error
    honest = exported.artifacts[0].path
    half = rewrite_beside(honest, tmp_path / "half.tflite", honest.read_bytes()[: honest.stat().st_size // 2])
    runner = CliRunner()
    for args in (
        ["check", str(half), "--reference", str(gru_checkpoint), "--providers", "litert"],
        ["bench", str(half), "--rounds", "3"],
        ["bundle", str(half), "--target", "android", "--out", str(tmp_path / "b")],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args[0], result.output)
        assert "the LiteRT interpreter cannot load it" in result.output and "internal error" not in result.output, result.output
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("scheme", ["dynamic-int8", "weight-only-int8"])
def test_quantize_litert_writes_a_gated_int8_tflite(
    exported: LiteRTExportResult, gru_checkpoint: Path, tmp_path: Path, scheme: str
) -> None:
    source = exported.artifacts[0].path
    outcome = quantize(
        ModelSource(str(source)), tmp_path, QuantizeOptions(scheme=scheme, target="litert", reference=str(gru_checkpoint))
    )
    result = outcome.litert
    assert outcome.passed and result is not None and result.written and result.parity["verdict"] == "pass"
    info = open_artifact(result.path)  # read back: int8, the fp32 file's interface, its own digest
    assert info.precision == "int8" and info.interface == open_artifact(source).interface
    assert info.sha256 == result.sha256 != exported.artifacts[0].sha256
    embedded = embedded_interface(result.path.read_bytes())  # the file itself says int8 too
    assert embedded is not None and embedded["precision"] == "int8"
    assert embedded["metadata_props"] == json.loads(sidecar_path(result.path).read_text())["metadata_props"]


def test_quantize_litert_is_not_written_when_the_gate_fails(
    exported: LiteRTExportResult, gru_checkpoint: Path, tmp_path: Path
) -> None:
    budget = tmp_path / "budget.toml"
    budget.write_text("[precision.int8]\nmin_snr_db = 200\n")  # unreachable for any int8 file
    options = QuantizeOptions(scheme="dynamic-int8", target="litert", reference=str(gru_checkpoint), budget=budget)
    outcome = quantize(ModelSource(str(exported.artifacts[0].path)), tmp_path / "q", options)
    assert not outcome.passed and outcome.litert is not None and not outcome.litert.written
    assert not (tmp_path / "q").exists() or not any((tmp_path / "q").iterdir())


def test_bench_times_tflite_beside_onnx_at_its_own_shape(
    exported: LiteRTExportResult, gru_checkpoint: Path, tmp_path: Path
) -> None:
    onnx_file = export_model(load_model(str(gru_checkpoint)), tmp_path, ExportConfig(form="streaming")).path
    tflite = [a.path for a in exported.artifacts]
    config = BenchConfig(
        batches=(1,),
        steps=(8,),
        threads=(1, 2),
        rounds=3,
        calls_per_round=2,
        baselines=False,
        cold_start=False,
        roofline=False,
        plain=False,
    )
    report = run_bench([*tflite, onnx_file], None, config)
    litert = sorted((r.name, r.batch, r.steps, r.threads) for r in report.latencies if r.provider == "litert")
    # each file at its own batch and chunk (never the bench's --batches/--steps), at 1 and 2 threads
    assert litert == sorted((p.name, b, 4, t) for p, b in zip(tflite, (1, 2), strict=True) for t in (1, 2))
    assert {r.name for r in report.latencies if r.provider == "cpu"} == {onnx_file.name}
    per_step = [s for s in report.streaming if s.mode == "litert"]
    assert [s.name for s in per_step] == [tflite[0].name]  # batch 1 only, as ONNX's streaming rows
    assert {s.name for s in report.streaming if s.mode == "run"} == {onnx_file.name}


def test_bundle_android_packs_the_tflite_with_kotlin_and_verify_runs_it(
    exported: LiteRTExportResult, gru_checkpoint: Path, tmp_path: Path
) -> None:
    artifact = exported.artifacts[0]
    report = tmp_path / "parity.json"
    report.write_text(json.dumps(to_jsonable(_check([artifact.path], gru_checkpoint))))
    result = bundle(artifact.path, tmp_path / "b", BundleOptions(parity_report=report, make_zip=True, target="android"))
    assert set(result.files) == {"README.md", artifact.path.name}
    assert result.files[artifact.path.name] == artifact.sha256 and result.parity["passed"] is True
    manifest = result.manifest
    assert manifest["static_shape"] == {"batch": 1, "chunk": 4} and [s["input_name"] for s in manifest["state"]] == [
        "h0_in",
        "h1_in",
    ]
    kotlin = (tmp_path / "b" / "README.md").read_text()
    assert (
        'interpreter.runSignature(mapOf("args_0" to x, "args_1" to h0In, "args_2" to h1In), mapOf("output_0" to output, "output_1" to h0Out, "output_2" to h1Out)'
        in kotlin
    )
    assert (
        "h0In = h0Out.also { h0Out = h0In }" in kotlin and "h1In = h1Out.also { h1Out = h1In }" in kotlin
    )  # the state buffers swapped after every call
    for location in (tmp_path / "b", tmp_path / "b.zip"):
        checked = verify(location)
        assert (checked.ran, checked.ran_sha256, checked.parity) == (artifact.path.name, artifact.sha256, "pass")
        assert checked.outputs == ["output", "h0_out", "h1_out"]


def test_bundle_verify_refuses_an_altered_tflite(exported: LiteRTExportResult, tmp_path: Path) -> None:
    bundle(exported.artifacts[0].path, tmp_path / "b", BundleOptions(target="android"))
    model = tmp_path / "b" / exported.artifacts[0].path.name
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="does not match its sha256"):
        verify(tmp_path / "b")


def test_a_tflite_is_bundled_only_for_android(exported: LiteRTExportResult, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pass --target android"):
        bundle(exported.artifacts[0].path, tmp_path / "b")


def test_the_sequence_form_runs_at_its_one_length(gru_checkpoint: Path, tmp_path: Path) -> None:
    config = LiteRTExportConfig(form="sequence", steps=16)
    exported_sequence = export_litert(load_model(str(gru_checkpoint)), tmp_path, config)
    (artifact,) = exported_sequence.artifacts
    assert exported_sequence.passed and artifact.path.name == "sequence_litert_b1_t16.tflite"
    interface = open_artifact(artifact.path).interface
    assert interface.inputs[0].shape == [1, 16, 5] and [o.name for o in interface.outputs] == ["output", "h_out"]
    report = _check([artifact.path], gru_checkpoint)
    assert report.passed
    candidate = report.candidates[0]
    assert candidate.cases and all(c.steps == 16 for c in candidate.cases)
    assert any("the first 16 of" in note for note in candidate.notes)  # the long case, cut to the file's length


@pytest.mark.parametrize(("factory", "states"), [("build_gru", ["h_in"]), ("build_stateful", ["h_in", "c_in"])])
def test_a_user_module_streams_through_litert(in_user_dir, tmp_path: Path, factory: str, states: list[str]) -> None:  # type: ignore[no-untyped-def]
    _, name = in_user_dir
    loaded = load_model(f"{name}:{factory}")
    result = export_litert(loaded, tmp_path, LiteRTExportConfig(form="streaming", chunks=(2,)))
    assert result.passed, [c for a in result.artifacts for c in a.verification.cases]
    path = result.artifacts[0].path
    interface = open_artifact(path).interface
    assert [s.input_name for s in interface.states] == states and interface.chunk == 2
    report = run_check([path], loaded, config=CheckConfig(providers=("litert",)), baseline=False)
    assert report.passed, report.candidates[0].failures()


def test_quantize_litert_auto_writes_the_smallest_recipe_that_passes(
    exported: LiteRTExportResult, gru_checkpoint: Path, tmp_path: Path
) -> None:
    options = QuantizeOptions(scheme="auto", target="litert", reference=str(gru_checkpoint))
    result = quantize(ModelSource(str(exported.artifacts[0].path)), tmp_path, options).litert
    assert result is not None and result.written
    assert {c["scheme"] for c in result.candidates} == {"dynamic-int8", "weight-only-int8"}
    smallest = min((c for c in result.candidates if c["passed"]), key=lambda c: c["size_bytes"])
    assert (result.scheme, result.size_bytes) == (smallest["scheme"], smallest["size_bytes"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [result.path.name, result.path.name + ".json"]  # the winner only


def test_the_sidecar_carries_what_the_onnx_export_carries(
    exported: LiteRTExportResult, gru_checkpoint: Path, tmp_path: Path
) -> None:
    onnx_meta = read_metadata(export_model(load_model(str(gru_checkpoint)), tmp_path, ExportConfig(form="streaming")).path)
    sidecar, _ = read_sidecar(exported.artifacts[1].path)  # batch 2, chunks of 4
    meta = sidecar.metadata
    assert (meta.model_config, meta.preprocessing, meta.source) == (
        onnx_meta.model_config,
        onnx_meta.preprocessing,
        onnx_meta.source,
    )
    assert (
        meta.interface.states == onnx_meta.interface.states and meta.interface.normalization == onnx_meta.interface.normalization
    )
    assert [t.name for t in meta.interface.inputs] == [t.name for t in onnx_meta.interface.inputs]
    assert meta.interface.inputs[0].shape == [2, "chunk", 5] and meta.interface.chunk == 4  # its one batch and chunk
    assert set(meta.to_props()) <= set(onnx_meta.to_props())


def test_export_writes_nothing_when_the_converted_stream_drops_its_state(
    gru_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edgelstm.export.litert as litert_export

    real = litert_export.convert_module
    monkeypatch.setattr(litert_export, "convert_module", lambda module, args: real(StateNotCarried(module), args))
    result = export_litert(load_model(str(gru_checkpoint)), tmp_path / "out", LiteRTExportConfig(chunks=(4,)))
    assert not result.passed and not result.artifacts[0].written and not (tmp_path / "out").exists()
    streamed = result.artifacts[0].verification.cases[1]
    assert streamed.label.startswith("16 chunks of 4") and not streamed.passed


def test_the_typed_api_exports_and_checks_litert(gru_checkpoint: Path, tmp_path: Path) -> None:
    # The same calls the CLI makes: export(target="litert") returns the per-shape result, check(providers=litert)
    # a CheckOutcome whose report ran the file in the LiteRT interpreter.
    source = ModelSource(str(gru_checkpoint))
    result = export(source, tmp_path / "api", ExportOptions(target="litert", form="streaming", chunks=(4,)))
    assert isinstance(result, LiteRTExportResult) and result.passed
    assert [a.path.name for a in result.artifacts] == ["streaming_litert_b1_k4.tflite"]
    outcome = check([result.artifacts[0].path], source, CheckOptions(providers=("litert",), stress=False))
    assert outcome.passed and outcome.report is not None
    assert outcome.report.candidates[0].providers_used[0].startswith("LiteRT interpreter")


LITERT_RECIPE = """
[model]
source = "gru"
[data]
heldout = "held.npz"
[export]
target = "litert"
chunks = [4]
[quantize]
schemes = ["auto"]
[check]
providers = ["litert"]
[bench]
batches = [1]
steps = [8]
[bundle]
zip = false
[output]
dir = "out"
"""


def test_convert_runs_a_litert_recipe_then_resumes(gru_checkpoint: Path, tmp_path: Path) -> None:
    # export -> quantize (auto) -> check on litert -> bench -> bundle android, recorded and resumed as ONNX recipes are.
    shutil.copytree(gru_checkpoint, tmp_path / "gru")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "held.npz", x=rng.standard_normal((64, 16, 5)).astype(np.float32))
    (tmp_path / "recipe.toml").write_text(LITERT_RECIPE)
    first = convert(tmp_path / "recipe.toml")
    steps = {s.name: s for s in first.steps}
    assert first.passed and all(s.status == "done" for s in first.steps)
    assert steps["export"].outputs == [str(tmp_path / "out/export/streaming_litert_b1_k4.tflite")]
    assert "auto picked dynamic-int8" in steps["quantize"].summary and steps["check"].summary.startswith("PASS")
    bundled = next(p for p in (tmp_path / "out/bundle").iterdir() if p.suffix == ".tflite")
    assert bundled.name == Path(steps["quantize"].outputs[0]).name  # the gated int8 file, not the fp32 one
    checked = verify(tmp_path / "out/bundle")  # the parity claim is check.json's verdict on this very file
    assert (checked.ran, checked.ran_sha256, checked.parity) == (bundled.name, file_sha256(bundled), "pass")
    again = convert(tmp_path / "recipe.toml")
    assert all(s.status == "skipped (unchanged)" for s in again.steps)


def test_a_litert_export_prints_none_of_the_converter_import_notices(gru_checkpoint: Path, tmp_path: Path) -> None:
    # A fresh process: the converter's notices are printed once per process, at its import.
    args = ["-m", "edgelstm.cli", "export", str(gru_checkpoint), "--out", str(tmp_path / "t"), "--target", "litert"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        [sys.executable, *args, "--form", "streaming", "--chunks", "4"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "t" / "streaming_litert_b1_k4.tflite").exists()
    for notice in ("absl::InitializeLog", "oneDNN custom operations", "Failed to load", "register_constant"):
        assert notice not in done.stderr, done.stderr


def test_the_tflite_carries_its_interface_as_metadata(exported: LiteRTExportResult) -> None:
    # The sidecar less the file's own sha256 and the verification, inside the verified bytes themselves.
    for artifact in exported.artifacts:
        sidecar = json.loads(sidecar_path(artifact.path).read_text())
        embedded = embedded_interface(artifact.path.read_bytes())
        assert embedded == {k: v for k, v in sidecar.items() if k not in ("tflite_sha256", "verification")}


def test_a_sidecar_that_disagrees_with_the_embedded_interface_is_refused(
    exported: LiteRTExportResult, gru_checkpoint: Path, tmp_path: Path
) -> None:
    # The sidecar's digest is made to match, so only the comparison with the file's own entry can tell.
    honest = exported.artifacts[0].path

    def relabel(data: dict) -> None:
        data["precision"] = "int8"

    edited = rewrite_beside(honest, tmp_path / "relabelled.tflite", honest.read_bytes(), relabel)
    with pytest.raises(
        LoadError, match=r"relabelled\.tflite\.json: disagrees with the edgelstm\.interface entry .*\(on precision\)"
    ):
        open_artifact(edited)
    result = CliRunner().invoke(app, ["check", str(edited), "--reference", str(gru_checkpoint), "--providers", "litert"])
    assert result.exit_code == 2, result.output
    assert result.output.count("error:") == 1 and "disagrees with the edgelstm.interface entry" in result.output


def test_a_tflite_without_its_sidecar_is_read_from_its_embedded_interface(
    exported: LiteRTExportResult, gru_checkpoint: Path, tmp_path: Path
) -> None:
    alone = tmp_path / "alone" / exported.artifacts[1].path.name  # batch 2: the shape must come from the file itself
    alone.parent.mkdir()
    shutil.copyfile(exported.artifacts[1].path, alone)
    info = open_artifact(alone)
    assert info.sha256 == file_sha256(alone) and info.interface == open_artifact(exported.artifacts[1].path).interface
    assert read_sidecar(alone)[0].shape == read_sidecar(exported.artifacts[1].path)[0].shape
    assert _check([alone], gru_checkpoint).passed
    stripped = tmp_path / "stripped.tflite"  # an entry that is not ours: the file says nothing about itself
    stripped.write_bytes(embed_interface(alone.read_bytes(), {"replaced": True}))
    with pytest.raises(LoadError, match="not an edgelstm LiteRT sidecar"):
        open_artifact(stripped)


def test_embedding_the_interface_leaves_the_graph_as_it_was(exported: LiteRTExportResult, tmp_path: Path) -> None:
    from ai_edge_litert import schema_py_generated as schema  # optional: the `litert` extra (with the converter here)

    original = exported.artifacts[0].path.read_bytes()
    again = embed_interface(original, {"replaced": True})  # a second embed replaces the entry, never adds one
    assert embedded_interface(again) == {"replaced": True}
    before, after = (schema.ModelT.InitFromPackedBuf(bytearray(b), 0) for b in (original, again))
    names = [m.name.decode() for m in after.metadata]
    assert names.count(INTERFACE_ENTRY) == 1 and "min_runtime_version" in names and len(after.buffers) == len(before.buffers)
    assert [op.builtinCode for op in after.operatorCodes] == [op.builtinCode for op in before.operatorCodes]
    assert [(o.opcodeIndex, list(o.inputs), list(o.outputs)) for o in after.subgraphs[0].operators] == [
        (o.opcodeIndex, list(o.inputs), list(o.outputs)) for o in before.subgraphs[0].operators
    ]
    path = tmp_path / exported.artifacts[0].path.name
    path.write_bytes(again)
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((1, 4, 5)).astype(np.float32), "h0_in": np.zeros((1, 1, 8), np.float32)}
    feeds["h1_in"] = feeds["h0_in"]
    interface = json_interface(exported.artifacts[0].path)
    outputs = [LiteRTRunner(p, interface).run(["output", "h0_out", "h1_out"], feeds) for p in (exported.artifacts[0].path, path)]
    assert all(np.array_equal(a, b) for a, b in zip(*outputs, strict=True))
