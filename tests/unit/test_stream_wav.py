"""The user's own recordings as streaming data: 16-bit PCM .wav (mono, or the first channel) at the graph's rate;
anything else is one `error:` line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgelstm.errors import InputShapeError
from edgelstm.parity.stream_data import load_stream_data
from tests.support.stream_wav import write_wav


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
