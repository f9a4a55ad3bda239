"""The parity gate catches real faults (exit 1, naming the comparison) and passes clean exports."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from typer.testing import CliRunner

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.runners import convert_to_ort
from edgelstm.checkpoint import save_checkpoint
from edgelstm.cli import app
from edgelstm.export.api import export_model
from edgelstm.loading import load_model
from edgelstm.parity import CheckConfig, run_check
from edgelstm.parity.data import SequenceData, load_sequence_data
from tests.conftest import tiny_model, write_cell_loop_module
from tests.support import check as shared

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
workspace = shared.workspace

runner = CliRunner()


def _check(workspace: Path, *artifacts: str, extra: tuple[str, ...] = ()) -> tuple[int, str]:
    args = ["check", *artifacts, "--reference", str(workspace / "ckpt"), "--data", str(workspace / "data.npz"), *extra]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    return result.exit_code, result.output


@pytest.mark.slow
def test_clean_exports_pass_on_every_provider_here(workspace: Path) -> None:
    code, out = _check(
        workspace,
        str(workspace / "onnx/sequence_fused.onnx"),
        str(workspace / "onnx/streaming_fused.onnx"),
        str(workspace / "onnx/sequence_loop.onnx"),
        extra=("--providers", "cpu,mobile,reference"),
    )
    assert code == 0, out
    assert "PASS" in out and "FAIL" not in out


def test_corrupted_weight_fails_and_names_the_comparison(workspace: Path, tmp_path: Path) -> None:
    graph = onnx.load(str(workspace / "onnx/sequence_fused.onnx"))
    weight = next(i for i in graph.graph.initializer if i.name == "layer1_R")
    array = numpy_helper.to_array(weight).copy()
    array[0, 2, 1] += 0.05
    weight.CopyFrom(numpy_helper.from_array(array, weight.name))
    onnx.save(graph, str(tmp_path / "corrupt.onnx"))
    code, out = _check(workspace, str(tmp_path / "corrupt.onnx"), extra=("--providers", "cpu"))
    assert code == 1, out
    assert "FAIL corrupt.onnx on cpu: data / " in out


def test_streaming_graph_that_drops_state_fails(workspace: Path, tmp_path: Path) -> None:
    graph = onnx.load(str(workspace / "onnx/streaming_fused.onnx"))
    for node in graph.graph.node:
        if node.op_type == "LSTM":
            node.input[5] = ""  # initial_h ignored: every chunk restarts from zero
            node.input[6] = ""
    onnx.save(graph, str(tmp_path / "stateless.onnx"))
    code, out = _check(workspace, str(tmp_path / "stateless.onnx"), extra=("--providers", "cpu"))
    assert code == 1, out
    assert "chunks of 1 vs one call" in out


@pytest.mark.slow
def test_frozen_time_axis_fails(workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Python time loop traced at T=8 by torch.onnx: right only at 8 steps."""
    import torch

    write_cell_loop_module(tmp_path, "frozen_models", features=5)
    monkeypatch.syspath_prepend(str(tmp_path))
    from frozen_models import build  # type: ignore[import-not-found]

    module = build().eval()
    torch.onnx.export(
        module,
        (torch.randn(2, 8, 5),),
        str(tmp_path / "frozen.onnx"),
        dynamo=False,
        input_names=["x"],
        output_names=["output"],
        dynamic_axes={"x": {0: "batch", 1: "time"}},
    )
    result = runner.invoke(
        app,
        [
            "check",
            str(tmp_path / "frozen.onnx"),
            "--reference",
            "frozen_models:build",
            "--input-size",
            "5",
            "--data",
            str(workspace / "data.npz"),
            "--providers",
            "cpu",
            "--task",
            "none",
        ],
        env={"COLUMNS": "200"},
    )
    sys.modules.pop("frozen_models", None)
    assert result.exit_code == 1, result.output
    assert "FAIL frozen.onnx on cpu" in result.output


@pytest.mark.slow
def test_quantized_model_outside_a_tight_tolerance_fails(workspace: Path, tmp_path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = tmp_path / "int8.onnx"
    quantize_dynamic(str(workspace / "onnx/sequence_fused.onnx"), str(quantized), weight_type=QuantType.QInt8)
    tight = tmp_path / "tight.toml"
    tight.write_text("[precision.int8]\nrtol = 1e-5\natol = 1e-5\n")
    code, out = _check(workspace, str(quantized), extra=("--providers", "cpu", "--tolerances", str(tight)))
    assert code == 1, out
    assert "int8" in out  # detected as an int8 artifact


@pytest.mark.slow
def test_missing_cuda_fails_unless_allowed(workspace: Path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDA is present here; this tests the machine without it")
    artifact = str(workspace / "onnx/sequence_fused.onnx")
    code, out = _check(workspace, artifact, extra=("--providers", "cpu,cuda"))
    assert code == 1 and "cuda" in out and "not available" in out
    code, out = _check(workspace, artifact, extra=("--providers", "cpu,cuda", "--allow-missing", "cuda"))
    assert code == 0, out
    assert "skipped" in out and "allowed by --allow-missing" in out


@pytest.mark.cuda
def test_clean_export_passes_on_cuda(workspace: Path) -> None:
    code, out = _check(workspace, str(workspace / "onnx/sequence_fused.onnx"), extra=("--providers", "cuda"))
    assert code == 0, out
    assert "CUDAExecutionProvider" in out


def test_ort_format_artifact_runs_and_reference_is_not_applicable(workspace: Path, tmp_path: Path) -> None:
    ort_file = convert_to_ort(workspace / "onnx/sequence_fused.onnx", tmp_path)
    code, out = _check(workspace, str(ort_file), extra=("--providers", "cpu,mobile,reference"))
    assert code == 0, out
    assert "not applicable: onnx.reference reads ONNX files, not ORT format" in out


@pytest.mark.slow
def test_reports_are_written(workspace: Path, tmp_path: Path) -> None:
    outputs = {
        k: tmp_path / n for k, n in (("--junit", "j.xml"), ("--markdown", "pr.md"), ("--report", "r.json"), ("--plot", "e.png"))
    }
    extra = ["--providers", "cpu"] + [v for k, p in outputs.items() for v in (k, str(p))]
    code, out = _check(workspace, str(workspace / "onnx/sequence_fused.onnx"), extra=tuple(extra))
    assert code == 0, out
    report = json.loads(outputs["--report"].read_text())
    assert report["passed"] is True and report["candidates"][0]["providers_used"] == ["CPUExecutionProvider"]
    assert "<testsuites" in outputs["--junit"].read_text()
    assert "edgelstm parity: PASS" in outputs["--markdown"].read_text()
    assert outputs["--plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_json_output_is_strict_json(workspace: Path) -> None:
    code, out = _check(workspace, str(workspace / "onnx/sequence_fused.onnx"), extra=("--providers", "cpu", "--json"))
    assert code == 0
    json.loads(out, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


@pytest.mark.parametrize(
    "extra,message",
    [
        (("--providers", "tpu"), "unknown provider"),
        (("--tolerances", "/nonexistent.toml"), "no such tolerance file"),
        (("--task", "poetry"), "task="),
    ],
)
def test_usage_errors_exit_2(workspace: Path, extra: tuple[str, ...], message: str) -> None:
    code, out = _check(workspace, str(workspace / "onnx/sequence_fused.onnx"), extra=extra)
    assert code == 2 and message in out and "Traceback" not in out


def test_bad_inputs_exit_2(workspace: Path, tmp_path: Path) -> None:
    code, out = _check(workspace, str(tmp_path / "missing.onnx"))
    assert code == 2 and "no such artifact" in out
    np.savez(tmp_path / "wrong.npz", x=np.zeros((2, 4, 3), np.float32))
    result = runner.invoke(
        app,
        [
            "check",
            str(workspace / "onnx/sequence_fused.onnx"),
            "--reference",
            str(workspace / "ckpt"),
            "--data",
            str(tmp_path / "wrong.npz"),
        ],
    )
    assert result.exit_code == 2 and "features" in result.output
    other = tiny_model(cell="gru")
    save_checkpoint(other, tmp_path / "other")
    result = runner.invoke(app, ["check", str(workspace / "onnx/sequence_fused.onnx"), "--reference", str(tmp_path / "other")])
    assert result.exit_code == 2 and "different architecture" in result.output


@pytest.mark.slow
def test_time_profiles_agree_across_providers_and_paths(workspace: Path) -> None:
    """cpu profiles the sequence graph in one call (prefix lengths); onnx.reference ignores sequence_lens and
    runs each prefix alone. Both must measure the same small error (a cache mix-up once reported 12 here)."""
    loaded = load_model(str(workspace / "ckpt"))
    data = load_sequence_data(workspace / "data.npz", feature_size=5)
    report = run_check([workspace / "onnx/sequence_fused.onnx"], loaded, data, CheckConfig(providers=("cpu", "reference")))
    for candidate in report.candidates:
        assert candidate.time_profiles, candidate.provider
        for profile in candidate.time_profiles:
            assert profile.last_error < 1e-4, (candidate.provider, profile.output, profile.last_error)
            assert profile.steps[-1] == 120


@pytest.mark.slow
def test_a_graph_that_crashes_onnxruntime_fails_the_gate_instead_of_killing_it(workspace: Path, tmp_path: Path) -> None:
    """fp16 conversion of a per-step graph, Transposes included, made ORT 1.32 segfault at session creation."""
    import subprocess

    import onnxruntime as ort
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from edgelstm.artifact.child import crash_reason

    model = tiny_model(cell="lstm", head="per_step")
    save_checkpoint(model, tmp_path / "ckpt")
    loaded = load_model(str(tmp_path / "ckpt"))
    fp32 = export_model(loaded, tmp_path / "onnx", ExportConfig(impl="fused"))
    crashing = tmp_path / "fp16.onnx"
    onnx.save(convert_float_to_float16(onnx.load(str(fp32.path)), keep_io_types=True), str(crashing))
    probe = subprocess.run(
        [sys.executable, "-c", f"import onnxruntime as o; o.InferenceSession({str(crashing)!r})"], capture_output=True
    )
    if probe.returncode >= 0:
        pytest.skip(f"onnxruntime {ort.__version__} loads this graph; the crash this guards against is fixed")
    assert "crashed" in (crash_reason(crashing) or "")
    result = runner.invoke(
        app, ["check", str(crashing), "--reference", str(tmp_path / "ckpt"), "--providers", "cpu"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 1, result.output
    assert "crashed (SIGSEGV)" in result.output


@pytest.mark.slow
def test_fixed_length_graph_is_checked_at_its_length_and_says_what_it_skipped(workspace: Path, tmp_path: Path) -> None:
    loaded = load_model(str(workspace / "ckpt"))
    unrolled = export_model(loaded, tmp_path, ExportConfig(impl="unrolled", fixed_steps=12))
    data = load_sequence_data(workspace / "data.npz", feature_size=5)
    report = run_check([unrolled.path], loaded, data, CheckConfig(providers=("cpu",)))
    (candidate,) = report.candidates
    assert candidate.passed, candidate.failures()
    assert any("long: not run" in note and "T=12" in note for note in candidate.notes)
    assert all(c.steps == 12 for c in candidate.cases)  # shorter inputs padded, with their lengths
    assert candidate.time_profiles and candidate.time_profiles[0].steps[-1] == 12


@pytest.mark.slow
def test_fixed_batch_graph_is_checked_in_slices(workspace: Path, tmp_path: Path) -> None:
    loaded = load_model(str(workspace / "ckpt"))
    config = ExportConfig(impl="unrolled", fixed_steps=12, fixed_batch=3, with_lengths=False, with_state_inputs=True)
    artifact = export_model(loaded, tmp_path, config).path
    loaded_data = load_sequence_data(workspace / "data.npz", feature_size=5)
    full = type(loaded_data)(loaded_data.x, None, loaded_data.y, loaded_data.source)  # every sequence spans 12 steps
    report = run_check([artifact], loaded, full, CheckConfig(providers=("cpu",)))
    (candidate,) = report.candidates
    assert candidate.passed, candidate.failures()
    data_case = next(c for c in candidate.cases if c.label == "data")
    assert data_case.batch == 16 and data_case.outputs[0].shape == [16, 3]  # 16 rows run as 6 padded slices of 3


# -- the default tolerances, end to end ---------------------------------------------------------------------------
# fp32 gates max |error| <= 1e-5 + 1e-4 x range. A graph whose logits are scaled by (1 + r) is off by r x range at
# the largest logit: r = 2.5e-4 is over the limit for every case whose range exceeds 0.07, r = 5e-5 is under it with
# room for fp32 rounding. A looser rule or 100x looser defaults let the first through.


def _scale_output(source: Path, target: Path, factor: float) -> Path:
    graph = onnx.load(str(source))
    for node in graph.graph.node:
        node.output[:] = ["output_raw" if name == "output" else name for name in node.output]
    scale = numpy_helper.from_array(np.array(factor, np.float32), "output_scale")
    graph.graph.initializer.append(scale)
    graph.graph.node.append(onnx.helper.make_node("Mul", ["output_raw", "output_scale"], ["output"]))
    onnx.save(graph, str(target))
    return target


@pytest.mark.slow
@pytest.mark.parametrize(("relative_error", "exit_code"), [(2.5e-4, 1), (5e-5, 0)], ids=["just-above", "just-below"])
def test_default_fp32_tolerance_gates_a_perturbation_end_to_end(
    workspace: Path, tmp_path: Path, relative_error: float, exit_code: int
) -> None:
    artifact = _scale_output(workspace / "onnx/sequence_fused.onnx", tmp_path / "scaled.onnx", 1 + relative_error)
    code, out = _check(workspace, str(artifact), extra=("--providers", "cpu,mobile"))
    assert code == exit_code, out
    if exit_code == 1:
        assert "FAIL scaled.onnx on cpu: data / output: max abs" in out and "rtol 0.0001" in out
        assert "FAIL scaled.onnx on mobile" in out
    else:
        assert "PASS (2 artifact x provider checks)" in out


def test_snr_floor_gates_a_quantized_artifact_end_to_end(workspace: Path, tmp_path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = tmp_path / "int8.onnx"
    quantize_dynamic(str(workspace / "onnx/sequence_fused.onnx"), str(quantized), weight_type=QuantType.QInt8)
    floor = tmp_path / "snr.toml"
    floor.write_text("[precision.int8]\nmin_snr_db = 200\nmin_top1_agreement = 0\n")  # no int8 graph reaches 200 dB
    code, out = _check(workspace, str(quantized), extra=("--providers", "cpu", "--tolerances", str(floor), "--no-stress"))
    assert code == 1, out
    assert "SNR" in out and "< 200 dB" in out


def test_streaming_graph_takes_long_inputs_in_chunks_and_still_matches(workspace: Path) -> None:
    import onnxruntime as ort

    from edgelstm.artifact.chunks import run_in_chunks
    from edgelstm.artifact.feeds import sequence_feeds
    from edgelstm.artifact.file import open_artifact
    from edgelstm.artifact.layout import run_batch_first

    info = open_artifact(workspace / "onnx/streaming_fused.onnx")
    # the slim streaming graph is time-major: batch-first feeds go in through the layout adapter
    session_run = run_batch_first(info.interface, ort.InferenceSession(str(info.path), providers=["CPUExecutionProvider"]).run)
    names = [o.name for o in info.interface.outputs]
    x = np.random.default_rng(3).standard_normal((2, 23, 5)).astype(np.float32)
    feeds = sequence_feeds(info.interface, x, None, "test")
    whole = session_run(names, feeds)
    calls: list[int] = []

    def run(f: dict[str, np.ndarray]) -> list[np.ndarray]:
        calls.append(f["x"].shape[1])
        return session_run(names, f)

    chunked = run_in_chunks(run, info.interface, feeds, 5)
    assert calls == [5, 5, 5, 5, 3]
    for a, b in zip(chunked, whole, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    # and through the gate: every case of the streaming graph, on both sides, in chunks of 7 steps
    loaded = load_model(str(workspace / "ckpt"))
    data = load_sequence_data(workspace / "data.npz", feature_size=5)
    report = run_check([info.path], loaded, data, CheckConfig(providers=("cpu",), chunk_steps=7))
    assert report.passed, [c.failures() for c in report.candidates]


@pytest.mark.slow
def test_progress_is_reported_on_long_work_only(workspace: Path) -> None:
    loaded = load_model(str(workspace / "ckpt"))
    lines: list[str] = []
    long = np.random.default_rng(0).standard_normal((1, 10_000, 5)).astype(np.float32)
    config = CheckConfig(providers=("cpu",), stress=False)
    run_check(
        [workspace / "onnx/sequence_fused.onnx"], loaded, SequenceData(long, None, None, "long"), config, progress=lines.append
    )
    assert lines[0] == "sequence_fused.onnx on cpu" and any("case data: 1 x 10000 steps" in line for line in lines)
    lines.clear()
    short = load_sequence_data(workspace / "data.npz", feature_size=5)
    run_check([workspace / "onnx/sequence_fused.onnx"], loaded, short, config, progress=lines.append)
    assert lines == []
