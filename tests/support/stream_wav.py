"""Helpers and fixtures that both halves of tests/test_stream_wav.py need: tests/unit/test_stream_wav.py and
tests/e2e/test_stream_wav_cli.py."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def write_wav(path: Path, samples: np.ndarray, rate: int = 16_000, width: int = 2) -> Path:
    """samples [frames] or [frames, channels] of int values for the given sample width."""
    frames = samples if samples.ndim == 2 else samples[:, None]
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(frames.shape[1])
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(frames.astype("<i2" if width == 2 else np.uint8).tobytes())
    return path
