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

silero_vad = pytest.importorskip("silero_vad", reason="silero-vad is not installed (pip install -e '.[examples]')")

DATA = Path(silero_vad.__file__).parent / "data"
ONNX, JIT = DATA / "silero_vad.onnx", DATA / "silero_vad.jit"
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


def test_reference_matches_the_jit_called_as_an_app_calls_it() -> None:
    """The reference sets the state and context the module keeps and reads the state back; the app just calls
    forward(chunk, sr) on a fresh module. Both must give the same probabilities, chunk for chunk."""
    import torch

    from edgelstm.artifact.feeds import sequence_feeds
    from edgelstm.artifact.foreign import source_metadata
    from edgelstm.artifact.hints import InterfaceHints
    from edgelstm.parity.reference import open_file_reference

    interface = source_metadata(ONNX, InterfaceHints({"sr": 16000}, (), 512, 64)).interface
    reference = open_file_reference(JIT, allow_torchscript=True)
    audio = synthetic_speech(2.0, 16_000, seed=3, chunk=512).x[:, : 512 * 60]
    probabilities = reference.run(interface, sequence_feeds(interface, audio, None, "test"))[0]
    app = torch.jit.load(str(JIT)).eval()
    with torch.no_grad():
        expected = [app(torch.from_numpy(audio[:, k : k + 512]), 16000).numpy() for k in range(0, audio.shape[1], 512)]
    expected_p = np.concatenate(expected, axis=1)
    assert probabilities.shape == expected_p.shape == (1, 60)
    np.testing.assert_allclose(probabilities, expected_p, atol=1e-5)
    assert np.ptp(expected_p) > 0.1  # the audio moves the detector: a frozen state would show


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
