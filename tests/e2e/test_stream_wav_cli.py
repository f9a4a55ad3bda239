"""The user's own recordings as streaming data: 16-bit PCM .wav (mono, or the first channel) at the graph's rate;
anything else is one `error:` line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.refusals import assert_refused, run_cli
from tests.support.stream_wav import write_wav


def test_check_refuses_a_bad_wav_in_one_line(tmp_path: Path) -> None:
    silero_vad = pytest.importorskip("silero_vad", reason="silero-vad is not installed (pip install -e '.[examples]')")
    data = Path(silero_vad.__file__).parent / "data"
    base = ["check", data / "silero_vad_16k_op15.onnx", "--reference", data / "silero_vad.onnx", "--providers", "cpu"]
    call = ["--const", "sr=16000", "--chunk", "512", "--context", "64"]
    wrong_rate = write_wav(tmp_path / "phone.wav", np.zeros(4096, np.int16), rate=8_000)
    assert_refused([*base, *call, "--data", wrong_rate], "phone.wav", "8000 Hz", "sr is 16000", watch=(tmp_path,))
    eight_bit = write_wav(tmp_path / "old.wav", np.full(4096, 128), width=1)
    assert_refused([*base, *call, "--data", eight_bit], "old.wav", "8-bit", watch=(tmp_path,))
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"\x00" * 100)
    assert_refused([*base, *call, "--data", corrupt], "corrupt.wav", "not a 16-bit PCM .wav", watch=(tmp_path,))


def test_check_streams_a_wav_recording(tmp_path: Path) -> None:
    """A recording the user made (here: one voice of the built-in corpus written as 16-bit PCM) goes through the check,
    and the report names the file, its rate and sha256."""
    silero_vad = pytest.importorskip("silero_vad", reason="silero-vad is not installed (pip install -e '.[examples]')")
    from edgelstm.parity.speech_corpus import builtin_speech

    data = Path(silero_vad.__file__).parent / "data"
    voice = builtin_speech("gate", chunk=512).x[0, : 512 * 40]
    recording = write_wav(tmp_path / "voice.wav", np.round(voice * 32767).astype(np.int16))
    args = ["check", data / "silero_vad_16k_op15.onnx", "--reference", data / "silero_vad.onnx", "--providers", "cpu"]
    result = run_cli([*args, "--const", "sr=16000", "--chunk", "512", "--context", "64", "--data", recording])
    assert result.exit_code == 0, result.output
    assert "voice.wav (16000 Hz 16-bit PCM, 1 channel(s), first used)" in result.output
    assert "40 chunks of 512" in result.output and "x 1 row(s)" in result.output


def test_seconds_sets_the_built_in_streams_length_and_nonsense_is_refused(tmp_path: Path) -> None:
    """`--seconds` is how a user gets the decisions an INCONCLUSIVE verdict asks for on the built-in audio."""
    silero_vad = pytest.importorskip("silero_vad", reason="silero-vad is not installed (pip install -e '.[examples]')")
    data = Path(silero_vad.__file__).parent / "data"
    graph = data / "silero_vad_16k_op15.onnx"
    call = ["--const", "sr=16000", "--chunk", "512", "--context", "64"]
    base = ["check", graph, "--reference", graph, "--providers", "cpu", *call]
    report = tmp_path / "check.json"
    result = run_cli([*base, "--seconds", "1.5", "--report", report])
    assert result.exit_code == 0, result.output
    written = json.loads(report.read_text())
    assert written["chunks"] == 47 and len(written["data_rows"]) == 5  # ceil(1.5 s x 16000 / 512) per voice, 5 voices
    assert all(row["decisions"] == 47 for row in written["candidates"][0]["rows"])
    for bad in ("0", "-1", "nan", "inf", "601"):
        assert_refused([*base, "--seconds", bad], "--seconds", watch=(tmp_path,))
    recording = tmp_path / "rec.npy"
    np.save(recording, np.zeros(16_000, np.float32))
    assert_refused([*base, "--seconds", "5", "--data", recording], "--seconds", "--data", watch=(tmp_path,))
    quantize = ["quantize", graph, "--scheme", "weight-only-int8", "--out", tmp_path / "q", *call]
    assert_refused([*quantize, "--seconds", "nan"], "--seconds", watch=(tmp_path,))
