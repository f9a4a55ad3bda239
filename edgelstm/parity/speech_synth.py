"""One synthetic talker, source-filter style, numpy only: a pulse train at a moving pitch plus noise, shaped frame by
frame (8 ms hops) by the vocal tract's formant envelope, with voiceless fricatives and plosive bursts between vowels.

Why this shape: a trained VAD reads a spectrogram. Plain harmonics, or one fixed vowel, are not speech to it; what
it has learned is formant structure that moves at the syllable rate, voicing that starts and stops, and noise-like
consonants between vowels. Each of those is here, with its parameters per voice (pitch range, vocal tract length,
speaking rate, breathiness), so different voices move the detector differently.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgelstm.jsonio import json_meta

# Adult (tract scale 1.0) formants F1-F4 in Hz, bandwidths B1-B4 follow below.
VOWELS: dict[str, tuple[float, float, float, float]] = {
    "a": (730, 1090, 2440, 3400),
    "i": (270, 2290, 3010, 3700),
    "u": (300, 870, 2240, 3300),
    "e": (530, 1840, 2480, 3500),
    "o": (570, 840, 2410, 3300),
    "ae": (660, 1720, 2410, 3450),
    "er": (490, 1350, 1690, 3300),
    "uh": (520, 1190, 2390, 3400),
}
BANDWIDTHS = (70.0, 100.0, 150.0, 220.0)
NASAL = (260.0, 1100.0, 2300.0, 3300.0)
# Consonant onsets: (kind, place) -> the centre of its noise band in Hz (adult tract); "" is a bare vowel onset.
FRICATIVES = {"s": 5500.0, "sh": 3000.0, "f": 4500.0, "h": 0.0}  # h: aspiration through the next vowel's formants
PLOSIVES = {"p": 1200.0, "t": 4000.0, "k": 2200.0, "b": 1200.0, "d": 4000.0, "g": 2200.0}
ONSETS = ("", "", *FRICATIVES, *PLOSIVES, "m", "n")


def _three_decimals(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


# a voice's parameters are drawn at random: the report describes them rounded (the synthesis uses them whole)
ROUNDED = json_meta(convert=_three_decimals)


@dataclass(frozen=True)
class VoiceSpec:
    """Who talks: the pitch range (Hz), the vocal tract length as a formant scale (1.0 adult male, ~1.17 adult
    female, ~1.35 child), syllables per second, breathiness (aspiration noise / voicing) and level (dBFS RMS)."""

    name: str
    f0_low: float = field(metadata=ROUNDED)
    f0_high: float = field(metadata=ROUNDED)
    tract_scale: float = field(metadata=ROUNDED)
    syllables_per_s: float = field(metadata=ROUNDED)
    breathiness: float = field(metadata=ROUNDED)
    level_db: float = field(metadata=ROUNDED)


@dataclass(frozen=True)
class Phrase:
    """What one utterance holds, for the corpus's description of it."""

    syllables: int
    contour: str  # falling | rising | hat
    f0_start: float
    f0_end: float


class FrameTrack:
    """Per-frame controls of one row: voicing and noise amplitude, formants, fricative band, pitch."""

    def __init__(self, frames: int) -> None:
        self.voiced = np.zeros(frames)
        self.noise = np.zeros(frames)  # frication / burst amplitude
        self.band = np.zeros(frames)  # centre of the frication band, Hz; 0: shaped by the formants (aspiration)
        self.formants = np.tile(np.array(VOWELS["uh"], float), (frames, 1))
        self.nasal = np.zeros(frames, bool)
        self.f0 = np.full(frames, 120.0)


def speak_phrase(track: FrameTrack, start: int, frames: int, voice: VoiceSpec, rng: np.random.Generator, hop_s: float) -> Phrase:
    """Fill `frames` frames from `start` with one utterance: syllables of consonant + vowel under a pitch contour."""
    seconds = frames * hop_s
    syllables = max(1, round(seconds * voice.syllables_per_s * rng.uniform(0.85, 1.15)))
    contour = str(rng.choice(["falling", "falling", "rising", "hat"]))
    span = voice.f0_high - voice.f0_low
    top = voice.f0_low + span * rng.uniform(0.7, 1.0)
    bottom = voice.f0_low + span * rng.uniform(0.0, 0.3)
    u = np.linspace(0.0, 1.0, frames)
    if contour == "falling":  # declination, the usual statement
        f0 = top + (bottom - top) * u
    elif contour == "rising":  # a question's final rise
        f0 = bottom + (top - bottom) * u**2
    else:
        f0 = bottom + (top - bottom) * np.sin(np.pi * u)
    edges = np.sort(rng.uniform(0, 1, syllables - 1)) if syllables > 1 else np.array([])
    # Syllable lengths vary but never collapse: mix the random cuts with an even split.
    cuts = np.round(frames * (0.5 * edges + 0.5 * np.arange(1, syllables) / syllables)).astype(int)
    bounds = [0, *cuts.tolist(), frames]
    vowel_names = list(VOWELS)
    previous = np.array(VOWELS[str(rng.choice(vowel_names))], float)
    for a, b in itertools.pairwise(bounds):
        if b - a < 2:
            continue
        stressed = rng.uniform() < 0.35
        f0[a:b] *= 1.12 if stressed else 1.0  # pitch accent
        vowel = np.array(VOWELS[str(rng.choice(vowel_names))], float)
        onset = str(rng.choice(ONSETS))
        _syllable(track, start + a, b - a, onset, previous, vowel, voice, rng, 1.6 if stressed else 1.0, hop_s)
        previous = vowel
    track.f0[start : start + frames] = f0 * (1 + 0.01 * rng.standard_normal(frames))  # jitter
    return Phrase(syllables, contour, round(float(f0[0]), 1), round(float(f0[-1]), 1))


def _syllable(
    track: FrameTrack,
    start: int,
    frames: int,
    onset: str,
    previous: np.ndarray,
    vowel: np.ndarray,
    voice: VoiceSpec,
    rng: np.random.Generator,
    gain: float,
    hop_s: float,
) -> None:
    """One synthetic syllable: a consonant burst and a voiced vowel with formants."""
    consonant = 0
    if onset:
        consonant = min(frames // 2, max(1, round(rng.uniform(0.05, 0.11) / hop_s)))
    end = start + frames
    c_end = start + consonant
    if onset in FRICATIVES:
        track.noise[start:c_end] = gain * (0.6 if onset in ("s", "sh") else 0.25)
        track.band[start:c_end] = FRICATIVES[onset] * (voice.tract_scale if onset == "sh" else 1.0)
        track.formants[start:c_end] = vowel * voice.tract_scale
    elif onset in PLOSIVES:
        closure = max(1, consonant - 2)  # silence, then a short burst into the vowel
        track.noise[start + closure : c_end] = gain * 1.2
        track.band[start + closure : c_end] = PLOSIVES[onset]
        if onset in "bdg":  # voiced plosives: a voice bar under the closure
            track.voiced[start:c_end] = 0.15 * gain
            track.formants[start:c_end] = np.array(NASAL) * voice.tract_scale
            track.f0[start:c_end] = voice.f0_low
    elif onset:  # nasal: voiced, low, damped
        track.voiced[start:c_end] = 0.35 * gain
        track.formants[start:c_end] = np.array(NASAL) * voice.tract_scale
        track.nasal[start:c_end] = True
    vowel_frames = end - c_end
    u = np.linspace(0.0, 1.0, vowel_frames)[:, None]
    glide = np.clip(u / 0.3, 0.0, 1.0)  # coarticulation: formants move from the last vowel over the first 30 %
    track.formants[c_end:end] = (previous + (vowel - previous) * glide) * voice.tract_scale
    envelope = np.sin(np.pi * np.clip(u[:, 0] * 0.9 + 0.1, 0, 1)) ** 0.6  # rise and fall within the syllable
    track.voiced[c_end:end] = gain * envelope


def envelopes(track: FrameTrack, freqs: np.ndarray, voice: VoiceSpec) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude envelopes [frames, bins] for the voiced source and for the noise source."""
    f = freqs[None, :].astype(np.float32)  # float32: the envelopes are most of the generator's time
    vocal = np.ones((len(track.voiced), len(freqs)), np.float32)
    for i, bandwidth in enumerate(BANDWIDTHS):
        formant = track.formants[:, i : i + 1].astype(np.float32)
        b = (bandwidth * voice.tract_scale * np.where(track.nasal[:, None], 2.0, 1.0)).astype(np.float32)
        vocal *= formant**2 / np.sqrt((formant**2 - f**2) ** 2 + (b * f) ** 2)  # a cascade of resonators
    tilt = 1.0 / np.sqrt(1.0 + (f / (400.0 + 300.0 * voice.breathiness)) ** 2)  # glottal source roll-off
    voiced = vocal * tilt * track.voiced[:, None].astype(np.float32)
    band = track.band[:, None].astype(np.float32)
    frication = np.exp(-(((f - band) / np.maximum(0.35 * band, 1.0)) ** 2)) * (band > 0)
    frication = frication + (band == 0) * vocal * 0.05  # "h": noise through the formants
    aspiration = voice.breathiness * 0.05 * vocal * track.voiced[:, None]
    noise = frication * track.noise[:, None] * 0.05 + aspiration
    return voiced, noise


def render(track: FrameTrack, voice: VoiceSpec, hop: int, samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """The waveform of a track: a pulse train at the frame pitch and white noise, each filtered by its envelope."""
    frames = len(track.voiced)
    f0 = np.interp(np.arange(samples), np.arange(frames) * hop, track.f0)
    phase = np.cumsum(f0 / sample_rate)
    pulses = np.zeros(samples)
    pulses[1:][np.diff(np.floor(phase)) > 0] = 1.0
    pulses *= 1.0 + 0.08 * rng.standard_normal(samples)  # shimmer
    noise = rng.standard_normal(samples)
    nfft = 8 * hop
    freqs = np.fft.rfftfreq(nfft, 1.0 / sample_rate)
    voiced_env, noise_env = envelopes(track, freqs, voice)
    return filter_frames(pulses, voiced_env, hop) * 8.0 + filter_frames(noise, noise_env, hop)


def filter_frames(x: np.ndarray, envelope: np.ndarray, hop: int) -> np.ndarray:
    """Time-varying zero-phase filtering by overlap-add: Hann windows of 2 hops (they sum to one), each
    zero-padded to 8 hops so a resonance's ringing fits, multiplied by its frame's magnitude envelope."""
    frames = envelope.shape[0]
    nfft = 8 * hop
    pad = (nfft - 2 * hop) // 2
    window = np.hanning(2 * hop + 1)[:-1]  # periodic Hann: windows a hop apart sum to one
    padded = np.concatenate([np.zeros(hop + pad), x, np.zeros(nfft + 2 * hop)])
    starts = np.arange(frames) * hop  # frame k's window covers samples (k - 1) * hop .. (k + 1) * hop of x
    pieces = np.zeros((frames, nfft), np.float32)
    index = starts[:, None] + pad + np.arange(2 * hop)[None, :]
    pieces[:, pad : pad + 2 * hop] = padded[index] * window
    filtered = np.fft.irfft(np.fft.rfft(pieces, axis=1) * envelope, n=nfft, axis=1)
    out = np.zeros(len(padded))
    for k in range(frames):
        out[starts[k] : starts[k] + nfft] += filtered[k]
    return out[hop + pad : hop + pad + len(x)]
