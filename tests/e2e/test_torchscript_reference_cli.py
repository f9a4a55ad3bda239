"""silero_vad.jit as a reference, behind --unsafe-allow-torchscript: `check` and `quantize` stream against it chunk by
chunk with the state carried, and the verdict names the archive's sha256."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from edgelstm.parity.stream_data import synthetic_speech
from tests.refusals import assert_refused, run_cli
from tests.support.torchscript_reference import JIT, ONNX

CALL = ["--const", "sr=16000", "--chunk", "512", "--context", "64"]
FLAG = "--unsafe-allow-torchscript"


def test_check_against_the_jit_passes_and_names_its_sha256(tmp_path: Path) -> None:
    report = tmp_path / "check.json"
    result = run_cli(["check", ONNX, "--reference", JIT, FLAG, *CALL, "--providers", "cpu", "--report", report])
    assert result.exit_code == 0, result.output
    verdict = json.loads(report.read_text())
    assert verdict["passed"] and verdict["chunks"] >= 312  # >= 10 s of 512-sample chunks
    # Without --data: the built-in gate stream, one row per voice, each judged and named.
    assert verdict["data_source"].startswith("built-in speech corpus") and "gate stream" in verdict["data_source"]
    assert [r["name"] for r in verdict["data_rows"]] == ["voice low", "voice high", "voice child", "voice fast", "voice breathy"]
    assert verdict["reference_sha256"] == hashlib.sha256(JIT.read_bytes()).hexdigest()
    assert verdict["reference_runtime"].startswith("TorchScript")
    assert verdict["states"] == ["state -> stateN"] and verdict["context"] == 64
    (candidate,) = verdict["candidates"]
    assert candidate["flips"] == 0 and candidate["max_abs_delta"] < 1e-3
    assert [(r["decisions"], r["passed"]) for r in candidate["rows"]] == [(verdict["chunks"], True)] * 5


def test_the_jit_is_refused_without_the_flag(tmp_path: Path) -> None:
    assert_refused(["check", ONNX, "--reference", JIT, *CALL, "--providers", "cpu"], FLAG, "TorchScript", watch=(tmp_path,))
    assert_refused(
        ["quantize", ONNX, "--reference", JIT, *CALL, "--scheme", "weight-only-int8", "--out", tmp_path / "out"],
        FLAG,
        watch=(tmp_path,),
    )


def test_quantize_gates_against_the_jit(tmp_path: Path) -> None:
    from edgelstm.quantize.config import SCHEMES

    scheme = "weight-only-int8"
    if scheme not in SCHEMES:
        pytest.skip(f"{scheme} is not registered in this tree")
    out = tmp_path / "out"
    # On the old single-voice signal, where weight-only int8 holds the budget (on the built-in corpus it does not:
    # one voice flips tens of decisions), so that this test is about gating against the .jit.
    audio = tmp_path / "speech.npy"
    np.save(audio, synthetic_speech(10.0, 16_000, chunk=512).x[0])
    args = ["quantize", ONNX, "--reference", JIT, FLAG, *CALL, "--scheme", scheme, "--data", audio, "--out", out, "--json"]
    result = run_cli(args)
    assert result.exit_code == 0, result.output
    published = json.loads(result.stdout)
    assert published["parity_passed"] is True
    assert published["parity"]["reference_sha256"] == hashlib.sha256(JIT.read_bytes()).hexdigest()
    assert (out / f"silero_vad.{scheme}.onnx").is_file()
