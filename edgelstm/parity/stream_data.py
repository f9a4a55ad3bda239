"""The input of a streaming check: a signal (audio for a VAD) fed chunk by chunk, from the user's file (.npy or
16-bit PCM .wav) or synthesised, with a description of each row when one is known.

The built-in default is the multi-voice corpus of `speech_corpus.builtin_speech`; `synthetic_speech` here is the
older single-voice signal (kept for the tests and scripts that pinned their figures on it). Both are speech-like on
purpose: a VAD's speech probability is only tested where it moves.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgelstm.errors import InputShapeError
from edgelstm.files import file_sha256
from edgelstm.parity.data import _read_npy

MAX_SAMPLES = 50_000_000  # per row: about 50 minutes at 16 kHz, far beyond any gate's need


@dataclass(frozen=True)
class Segment:
    """A span of one row, in samples: `kind` is speech | silence | noise | nonspeech, `params` what made it
    (the background noise and its level, a phrase's pitch contour, the sound in a pause)."""

    kind: str
    start: int
    end: int
    params: dict[str, Any]


@dataclass(frozen=True)
class StreamRow:
    """What one row of a stream is: its name (a voice, a file), the parameters it was made with, its segments."""

    name: str
    params: dict[str, Any]
    segments: tuple[Segment, ...] = ()


@dataclass(frozen=True)
class StreamData:
    """Signal rows [batch, samples] (float32), where they came from and their sha256 (empty when synthesised).
    `rows` describes each row when it is known (the built-in corpus: one voice per row, with its segments)."""

    x: np.ndarray
    source: str
    sha256: str = ""
    rows: tuple[StreamRow, ...] = ()

    @property
    def samples(self) -> int:
        """Samples per row of the stream."""
        return int(self.x.shape[1])

    def row_names(self) -> list[str]:
        """One name per row: the described rows' names, else `row 0`, `row 1`, ..."""
        if len(self.rows) == self.x.shape[0]:
            return [r.name for r in self.rows]
        return [f"row {i}" for i in range(self.x.shape[0])]


def chunk_kinds(row: StreamRow, chunk: int, chunks: int) -> list[str]:
    """The segment kind of each chunk of a row: the kind covering most of its samples ("" where none does)."""
    kinds = []
    for c in range(chunks):
        a, b = c * chunk, (c + 1) * chunk
        cover: dict[str, int] = {}
        for s in row.segments:
            overlap = min(b, s.end) - max(a, s.start)
            if overlap > 0:
                cover[s.kind] = cover.get(s.kind, 0) + overlap
        kinds.append(max(cover, key=lambda k: cover[k]) if cover else "")
    return kinds


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


def load_stream_data(path: Path, sample_rate: int | None = None) -> StreamData:
    """The user's own signal: a .npy of float samples, [samples] or [batch, samples], or a 16-bit PCM .wav (mono,
    or its first channel) recorded at `sample_rate` (the graph's `sr`; not checked when None). Anything else is
    one InputShapeError line."""
    path = Path(path)
    if not path.is_file():
        raise InputShapeError(f"{path}: no such data file")
    suffix = path.suffix.lower()
    if suffix == ".wav":
        x, row = _read_wav(path, sample_rate)
        rows: tuple[StreamRow, ...] = (row,)
        source = f"{path} ({row.params['sample_rate']} Hz 16-bit PCM, {row.params['channels']} channel(s), first used)"
    elif suffix == ".npy":
        x, rows, source = _read_npy(path), (), str(path)
        if x.dtype.kind != "f":
            raise InputShapeError(f"{path}: samples must be floating point, got {x.dtype}")
    else:
        raise InputShapeError(
            f"{path}: a streaming check reads a .npy of samples ([samples] or [batch, samples]) or a 16-bit PCM .wav"
        )
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise InputShapeError(f"{path}: expected [samples] or [batch, samples], got shape {list(x.shape)}")
    if x.shape[1] > MAX_SAMPLES:
        raise InputShapeError(f"{path}: {x.shape[1]:,} samples per row; at most {MAX_SAMPLES:,} are checked")
    if not np.isfinite(x).all():
        raise InputShapeError(f"{path}: samples contain NaN or Inf")
    return StreamData(np.ascontiguousarray(x, dtype=np.float32), source, file_sha256(path), rows)


def _read_wav(path: Path, sample_rate: int | None) -> tuple[np.ndarray, StreamRow]:
    """Samples in [-1, 1) of a 16-bit PCM .wav's first channel (stdlib `wave`: no dependency, no resampling)."""
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate, frames = wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()
            if width != 2:
                raise InputShapeError(f"{path}: {8 * width}-bit samples; a .wav must be 16-bit PCM")
            if sample_rate is not None and rate != sample_rate:
                raise InputShapeError(
                    f"{path}: recorded at {rate} Hz but the graph's sr is {sample_rate}; resample it to {sample_rate} Hz"
                )
            raw = wav.readframes(frames)
    except (wave.Error, EOFError) as exc:
        raise InputShapeError(f"{path}: not a 16-bit PCM .wav ({exc or 'truncated header'})") from exc
    if frames == 0:
        raise InputShapeError(f"{path}: the .wav holds no samples")
    if len(raw) != frames * channels * 2:
        raise InputShapeError(f"{path}: holds {len(raw) // (2 * channels)} of the {frames} frames its header declares")
    x = np.frombuffer(raw, "<i2").reshape(frames, channels)[:, 0].astype(np.float32) / 32768.0
    return x, StreamRow(path.name, {"sample_rate": rate, "channels": channels, "seconds": round(frames / rate, 3)})
