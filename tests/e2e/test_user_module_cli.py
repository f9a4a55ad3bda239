"""A user's own nn.Module, given as `package.module:factory --weights state.safetensors`, through every command.

The module is the one issue 10 tried: Conv1d front end (12 channels, kernel 3) -> 2-layer bidirectional GRU
(hidden 24) -> attention pooling over time -> Linear. Its GRU is registered *before* its Conv1d, so only the
forward order tells the input size (12, not the GRU's 24).
"""

from __future__ import annotations

import hashlib
import json
import textwrap
import uuid
from pathlib import Path

import pytest

from edgelstm.errors import UserCodeError
from edgelstm.loading import load_model
from tests.refusals import assert_refused, run_cli
from tests.support import user_module as shared

# Fixtures shared with the other half of this file: pytest finds them by name in this module (conftest's in_user_dir
# asks for `user`).
user = shared.user


def _ok(args: list[str]):
    result = run_cli(args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result


def test_a_failing_forward_is_one_line_naming_the_probe_input(in_user_dir):
    _, name = in_user_dir
    with pytest.raises(UserCodeError, match=rf"running {name}:build_broken on x\[2, 16, 12\] failed: RuntimeError"):
        load_model(f"{name}:build_broken")
    assert_refused(["inspect", f"{name}:build_broken"], f"running {name}:build_broken on x[2, 16, 12] failed")


def test_a_factory_without_weights_is_said_out_loud_and_recorded(in_user_dir):
    _, name = in_user_dir
    result = _ok(["inspect", f"{name}:build", "--json"])
    assert result.stderr.strip() == f"warning: random weights: no --weights given for {name}:build"
    assert json.loads(result.stdout)["weights"] == "none (random init)"
    quiet = _ok(["inspect", f"{name}:build", "--weights", "weights.safetensors", "--json"])
    assert "warning" not in quiet.stderr
    assert json.loads(quiet.stdout)["input_size"] == 12


# -- every command, with no model option beyond --weights ------------------------------------------------------


@pytest.fixture(scope="module")
def exported(user):
    root, name = user
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.syspath_prepend(str(root))
        _ok(["export", f"{name}:build", "--weights", "weights.safetensors", "--out", "onnx", "--batches", "1,3"])
        _ok(
            [
                "quantize",
                "onnx/sequence_torch_onnx.onnx",
                "--reference",
                f"{name}:build",
                "--weights",
                "weights.safetensors",
                "--scheme",
                "weight-only-int8",
                "--out",
                "int8",
            ]
        )
    return root / "onnx" / "sequence_torch_onnx.onnx", next((root / "int8").glob("*.onnx"))


def test_export_and_quantize_publish(exported):
    fp32, int8 = exported
    assert fp32.is_file() and int8.is_file()
    assert int8.stat().st_size < fp32.stat().st_size


def test_check_gates_both_artifacts_against_the_weighted_reference(in_user_dir, exported):
    _, name = in_user_dir
    fp32, int8 = exported
    result = _ok(
        [
            "check",
            fp32,
            int8,
            "--reference",
            f"{name}:build",
            "--weights",
            "weights.safetensors",
            "--data",
            "heldout.npz",
            "--providers",
            "cpu",
            "--report",
            "check.json",
        ]
    )
    assert "PASS" in result.stdout
    report = json.loads(Path("check.json").read_text())
    assert any(k.endswith("weights.safetensors") for k in report["reference_files"])


def test_check_without_weights_fails_and_says_why(in_user_dir, exported):
    _, name = in_user_dir
    fp32, _ = exported
    result = run_cli(["check", fp32, "--reference", f"{name}:build", "--providers", "cpu", "--no-stress"])
    assert result.exit_code == 1, result.output
    assert "warning: random weights" in result.stderr
    assert "weights none (random init)" in result.stdout


def test_bench_and_bundle(in_user_dir, exported):
    _, name = in_user_dir
    _, int8 = exported
    benched = _ok(
        [
            "bench",
            int8,
            "--reference",
            f"{name}:build",
            "--weights",
            "weights.safetensors",
            "--batches",
            "1",
            "--steps",
            "20",
            "--rounds",
            "3",
            "--chunks",
            "1",
            "--no-cold-start",
            "--no-baselines",
            "--report",
            "bench.json",
        ]
    )
    # bench timed the quantized user module at the asked shape, feeding its 12 features (the GRU's 24 is not the input)
    report = json.loads(Path("bench.json").read_text())
    assert {(r["name"], r["batch"], r["steps"]) for r in report["latencies"]} == {(int8.name, 1, 20)}
    assert [(i["name"], i["data_shape"]) for i in report["interfaces"]] == [(int8.name, ["batch", "time", 12])]
    assert int8.name in benched.output
    _ok(["bundle", int8, "--out", "bundle", "--overwrite"])
    # the bundle ships this artifact byte for byte beside its .ort, and verify ran that .ort
    assert hashlib.sha256((Path("bundle") / int8.name).read_bytes()).digest() == hashlib.sha256(int8.read_bytes()).digest()
    ort = Path("bundle") / int8.with_suffix(".ort").name
    assert ort.is_file()
    verified = _ok(["bundle", "verify", "bundle"])
    assert verified.output.startswith("OK bundle:"), verified.output
    assert f"ran     {ort.name}  sha256 {hashlib.sha256(ort.read_bytes()).hexdigest()}" in verified.output


def test_distill_takes_the_user_module_as_teacher_and_check_compares_the_student(in_user_dir):
    root, name = in_user_dir
    result = _ok(
        [
            "distill",
            f"{name}:build",
            "--weights",
            "weights.safetensors",
            "--data",
            "heldout.npz",
            "--validation",
            "heldout.npz",
            "--out",
            "student",
            "--epochs",
            "1",
            "--hidden",
            "8",
            "--no-report",
        ]
    )
    assert "student head read from its output: classify, 4 output(s)" in result.stdout
    _ok(["export", "student/best", "--out", "student_onnx", "--batches", "1,3", "--steps", "1,5"])
    artifact = next((root / "student_onnx").glob("*.onnx"))
    # A student is not its teacher: the gate may fail, but as a verdict (exit 1), never a crash.
    checked = run_cli(
        ["check", artifact, "--reference", f"{name}:build", "--weights", "weights.safetensors", "--providers", "cpu"]
    )
    assert checked.exit_code in (0, 1), checked.output
    assert "Traceback" not in checked.output and "internal error" not in checked.output


# -- the streaming form of a user's recurrent layers -------------------------------------------------------------

CONV_GRU = textwrap.dedent(
    """
    import torch
    from torch import nn


    class ConvGru(nn.Module):  # unidirectional, but its Conv1d looks one step ahead: not causal
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(5, 8, kernel_size=3, padding=1)
            self.gru = nn.GRU(8, 16, batch_first=True)
            self.head = nn.Linear(16, 3)

        def forward(self, x):
            z = self.conv(x.transpose(1, 2)).transpose(1, 2)
            return self.head(self.gru(z)[0])


    def build():
        torch.manual_seed(0)
        return ConvGru()
    """
)

STREAM_GRID = ["--batches", "1,3", "--steps", "1,5,24", "--example-steps", "8"]


@pytest.mark.parametrize(("factory", "states"), [("build_gru", ["h_in"]), ("build_stateful", ["h_in", "c_in"])])
def test_a_unidirectional_user_rnn_exports_a_streaming_graph_that_passes_streaming_parity(in_user_dir, factory, states):
    root, name = in_user_dir
    out = root / f"stream_{factory}"
    result = _ok(["export", f"{name}:{factory}", "--out", out, "--form", "streaming", "--overwrite", "--json", *STREAM_GRID])
    report = json.loads(result.stdout)
    assert [t["name"] for t in report["interface"]["inputs"]] == ["x", *states]
    # batch_first=True traced a Transpose on each side of the recurrent node: dropped, the data is time-major
    assert report["interface"]["layout"] == "time_major" and report["interface"]["inputs"][0]["shape"][:2] == ["chunk", "batch"]
    assert (
        "layout:  time-major"
        in _ok(["export", f"{name}:{factory}", "--out", out, "--form", "streaming", "--overwrite", *STREAM_GRID]).stdout
    )
    chunked = [c for c in report["verification"]["cases"] if c["label"].startswith("chunks of")]
    assert chunked and all(not c["error"] for c in chunked)
    # and the parity gate streams it against the user module, state carried
    checked = _ok(["check", out / "streaming_torch_onnx.onnx", "--reference", f"{name}:{factory}", "--providers", "cpu"])
    assert "PASS" in checked.stdout


def test_a_non_causal_front_end_fails_streaming_parity_and_nothing_is_written(in_user_dir):
    root, _ = in_user_dir
    name = f"conv_gru_{uuid.uuid4().hex[:8]}"
    (root / f"{name}.py").write_text(CONV_GRU)
    result = run_cli(["export", f"{name}:build", "--out", root / "conv_gru", "--form", "streaming", *STREAM_GRID])
    assert result.exit_code == 1, result.output
    assert "chunks of" in result.stdout and "nothing written" in result.stdout
    assert not (root / "conv_gru").exists() or not any((root / "conv_gru").iterdir())


def test_a_bidirectional_user_rnn_is_refused_for_streaming_with_the_reason(in_user_dir):
    root, name = in_user_dir
    assert_refused(
        ["export", f"{name}:build", "--weights", "weights.safetensors", "--out", root / "bi", "--form", "streaming"],
        "cannot stream: its GRU is bidirectional",
    )


def test_constants_and_weights_are_recorded_in_the_artifact(in_user_dir):
    import onnx

    root, name = in_user_dir
    out = root / "with_const"
    _ok(["export", f"{name}:build_stateful", "--const", "sr=8000", "--out", out, "--overwrite", *STREAM_GRID])
    record = json.loads(onnx.load(str(out / "sequence_torch_onnx.onnx")).graph.doc_string)
    assert record["forward"]["constants"] == {"sr": 8000}
    assert record["forward"]["states"] == [{"name": "state", "shape": [2, 1, "batch", 8], "batch_axis": 2}]
    assert record["weights"] == "none (random init)"
    shown = _ok(["inspect", f"{name}:build_stateful", "--const", "sr=8000"]).stdout
    assert "forward(x[B, T, C], state[2, 1, B, 8], sr=8000) -> output, state" in shown
    # the artifact's own edgelstm metadata carries the record, and inspect of the artifact shows it
    from edgelstm.artifact.metadata import read_metadata

    artifact = out / "sequence_torch_onnx.onnx"
    assert read_metadata(artifact).user_module == record
    described = json.loads(_ok(["inspect", artifact, "--json"]).stdout)
    assert described["user_module"]["forward"]["constants"] == {"sr": 8000}
    assert "sr=8000" in _ok(["inspect", artifact]).stdout
    # an artifact quantized from it keeps the record (its metadata is carried over)
    int8 = root / "with_const_int8"
    reference = ["--reference", f"{name}:build_stateful", "--const", "sr=8000"]
    _ok(["quantize", artifact, *reference, "--scheme", "dynamic-int8", "--out", int8, "--overwrite"])
    (quantized,) = int8.glob("*.onnx")
    assert read_metadata(quantized).user_module == record
