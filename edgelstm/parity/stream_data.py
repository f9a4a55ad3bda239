"""The input of a streaming check: a signal (audio for a VAD) fed chunk by chunk, from a file or synthesised.

The synthetic signal is speech-like on purpose: a VAD's speech probability is only tested where it moves, so the
stream alternates voiced segments (a fundamental with harmonics under a syllable-rate envelope) with silence, over
background noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgelstm.errors import InputShapeError
from edgelstm.parity.data import _read_npy
from edgelstm.parity.evidence import file_sha256

MAX_SAMPLES = 50_000_000  # per row: about 50 minutes at 16 kHz, far beyond any gate's need


@dataclass(frozen=True)
class StreamData:
    """Signal rows [batch, samples] (float32), where they came from and their sha256 (empty when synthesised)."""

    x: np.ndarray
    source: str
    sha256: str = ""

    @property
    def samples(self) -> int:
        return int(self.x.shape[1])


_VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480))  # formants F1-F3, Hz


def synthetic_speech(seconds: float = 10.0, sample_rate: int = 16_000, seed: int = 0, chunk: int = 1) -> StreamData:
    """Speech-like audio: a gliding pitch's harmonics shaped by vowel formants (one vowel per syllable, 4 syllables
    a second, each under a rise-and-fall envelope), 1.5 s of talking then 1 s of silence, over faint noise.
    Plain harmonics without formants are not speech to a trained VAD (silero-vad scores them 0).
    At least `seconds` long, rounded up to whole chunks: a check streams whole chunks only."""
    rng = np.random.default_rng(seed)
    n = -(-int(np.ceil(seconds * sample_rate)) // chunk) * chunk
    seconds = n / sample_rate
    t = np.arange(n) / sample_rate
    f0 = 130 + 30 * np.sin(2 * np.pi * 0.5 * t) + 15 * np.sin(2 * np.pi * 3.1 * t + rng.uniform(0, np.pi))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    vowel = (t * 4).astype(int) % len(_VOWELS)
    voiced = np.zeros(n)
    for k in range(1, 30):
        gain = np.zeros(n)
        for index, formants in enumerate(_VOWELS):
            rows = vowel == index
            gain[rows] = sum(
                weight * np.exp(-((((k * f0[rows]) - f) / (80 + 0.1 * f)) ** 2))
                for f, weight in zip(formants, (1.0, 0.5, 0.25), strict=True)
            )
        voiced += gain * np.sin(k * phase) / np.sqrt(k)
    envelope = np.sqrt(np.abs(np.sin(np.pi * ((t * 4) % 1))))
    talking = (t % 2.5) < 1.5
    signal = voiced * envelope * talking + 0.01 * rng.standard_normal(n)
    audio = (signal / max(float(np.abs(signal).max()), 1e-9) * 0.5).astype(np.float32)
    return StreamData(audio[None, :], f"synthetic speech-like audio ({seconds:g} s at {sample_rate} Hz, seed {seed})")


def load_stream_data(path: Path) -> StreamData:
    """A .npy of float samples, [samples] or [batch, samples]; anything else is one InputShapeError line."""
    path = Path(path)
    if not path.is_file():
        raise InputShapeError(f"{path}: no such data file")
    if path.suffix.lower() != ".npy":
        raise InputShapeError(f"{path}: a streaming check reads a .npy of samples ([samples] or [batch, samples])")
    x = _read_npy(path)
    if x.dtype.kind != "f":
        raise InputShapeError(f"{path}: samples must be floating point, got {x.dtype}")
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise InputShapeError(f"{path}: expected [samples] or [batch, samples], got shape {list(x.shape)}")
    if x.shape[1] > MAX_SAMPLES:
        raise InputShapeError(f"{path}: {x.shape[1]:,} samples per row; at most {MAX_SAMPLES:,} are checked")
    if not np.isfinite(x).all():
        raise InputShapeError(f"{path}: samples contain NaN or Inf")
    return StreamData(np.ascontiguousarray(x, dtype=np.float32), str(path), file_sha256(path))
