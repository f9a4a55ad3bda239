"""The user's own recordings as streaming data: 16-bit PCM .wav (mono, or the first channel) at the graph's rate;
anything else is one `error:` line."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

from edgelstm.errors import InputShapeError
from edgelstm.parity.stream_data import load_stream_data
from tests.refusals import assert_refused, run_cli


def write_wav(path: Path, samples: np.ndarray, rate: int = 16_000, width: int = 2) -> Path:
    """samples [frames] or [frames, channels] of int values for the given sample width."""
    frames = samples if samples.ndim == 2 else samples[:, None]
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(frames.shape[1])
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(frames.astype("<i2" if width == 2 else np.uint8).tobytes())
    return path


def test_a_mono_wav_is_read_as_one_row_of_floats_with_its_sha256(tmp_path: Path) -> None:
    pcm = np.array([0, 16384, -32768, 32767, -1], np.int16)
    data = load_stream_data(write_wav(tmp_path / "me.wav", pcm), 16_000)
    np.testing.assert_array_equal(data.x, (pcm / 32768.0).astype(np.float32)[None, :])
    assert data.x.dtype == np.float32 and len(data.sha256) == 64 and "16000 Hz 16-bit PCM" in data.source
    assert data.row_names() == ["me.wav"] and data.rows[0].params == {"sample_rate": 16_000, "channels": 1, "seconds": 0.0}


def test_a_stereo_wav_gives_its_first_channel(tmp_path: Path) -> None:
    pcm = np.array([[100, -7], [200, -7], [300, -7]], np.int16)
    data = load_stream_data(write_wav(tmp_path / "stereo.wav", pcm), None)  # no sr to check against
    np.testing.assert_array_equal(data.x[0] * 32768.0, [100, 200, 300])
    assert "2 channel(s), first used" in data.source


def test_bad_wavs_are_named_errors(tmp_path: Path) -> None:
    ok = np.zeros(64, np.int16)
    cases = {
        "at 8000 Hz but the graph's sr is 16000": write_wav(tmp_path / "rate.wav", ok, rate=8_000),
        "8-bit samples; a .wav must be 16-bit PCM": write_wav(tmp_path / "byte.wav", np.full(64, 128), width=1),
        "not a 16-bit PCM .wav": tmp_path / "noise.wav",
        "holds 10 of the 64 frames": tmp_path / "cut.wav",
        "holds no samples": write_wav(tmp_path / "empty.wav", np.zeros(0, np.int16)),
    }
    (tmp_path / "noise.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    (tmp_path / "cut.wav").write_bytes(write_wav(tmp_path / "full.wav", ok).read_bytes()[: 44 + 20])
    for message, path in cases.items():
        with pytest.raises(InputShapeError, match=message.replace("(", r"\(").replace(".", r"\.")):
            load_stream_data(path, 16_000)
    with pytest.raises(InputShapeError, match=r"\.npy of samples .* or a 16-bit PCM \.wav"):
        load_stream_data(write_wav(tmp_path / "x.flac", ok), 16_000)


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
