"""edgelstm's built-in audio for streaming checks and calibration: one row per synthetic voice, each a recording
scene of utterances and pauses over changing background noise, with non-speech sounds in some pauses.

Why several voices and not one: a quantized VAD can hold its budget on one voice and lose it on another (silero-vad's
weight-only int8 flipped 2 of 313 decisions on the old single-voice signal and 13 of 312 on an independent
speech-like stream). Every row is one voice, so a gate can say the budget holds on each.

Two roles, never the same audio: `builtin_speech("calibration")` is what a quantizer may fit to, and
`builtin_speech("gate")` is what the result is judged on. The role is mixed into the random seed, so the voices'
exact pitches, tract lengths and rates, the words, the noise draws and the scene plan all differ between them, while
both cover every voice kind, noise type and sound.

Everything is generated from the seed with numpy alone (no downloads, no TTS engine): the same call gives the same
samples on every machine with the same numpy, and the returned `StreamData.rows` says what is where.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Literal

import numpy as np

from edgelstm.errors import ConfigError
from edgelstm.jsonio import to_jsonable
from edgelstm.parity.speech_synth import FrameTrack, VoiceSpec, render, speak_phrase
from edgelstm.parity.stream_data import Segment, StreamData, StreamRow

Role = Literal["gate", "calibration"]
ROLES: dict[str, int] = {"gate": 0, "calibration": 1}  # mixed into the seed: the two streams never coincide
CORPUS_VERSION = 1  # bump when the generator changes what a seed produces
DEFAULT_SECONDS = 10.0  # per voice (row)
MAX_SECONDS = 600.0  # per voice: 10 minutes x 5 voices is far beyond what any gate needs


def builtin_seconds(seconds: float | None, data_given: bool) -> float:
    """The built-in stream's length per voice from `--seconds` (None: the default); refused in one line when it is
    not a finite length in (0, MAX_SECONDS] or when the user's --data sets the length instead."""
    import math

    if seconds is None:
        return DEFAULT_SECONDS
    if data_given:
        raise ConfigError("--seconds sets the built-in audio's length; with --data your recording sets it: drop one")
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_SECONDS:
        raise ConfigError(f"--seconds must be a length in (0, {MAX_SECONDS:g}] seconds per voice, got {seconds}")
    return float(seconds)


# The voice kinds every stream has, one row each; a stream's voices are drawn around these (see _draw_voice).
VOICES: tuple[VoiceSpec, ...] = (
    VoiceSpec("low", 80.0, 140.0, 1.0, 4.0, 0.2, -24.0),  # adult, low pitch, long tract
    VoiceSpec("high", 165.0, 270.0, 1.17, 4.5, 0.35, -27.0),  # adult, high pitch, shorter tract
    VoiceSpec("child", 230.0, 360.0, 1.33, 3.4, 0.3, -26.0),  # f0 about 300 Hz: a school-age child
    VoiceSpec("fast", 105.0, 185.0, 1.08, 6.5, 0.15, -22.0),  # a fast, loud talker
    VoiceSpec("breathy", 140.0, 230.0, 1.12, 3.2, 0.9, -34.0),  # quiet, much aspiration noise
)
# Background noise of a scene; "quiet" is a -70 dBFS floor (its pauses are silence).
NOISES = ("white", "pink", "brown", "babble", "hum", "music", "quiet")
SNRS_DB = (20.0, 10.0, 5.0, 0.0)
SOUNDS = ("click", "tone", "transient", "chirp")  # non-speech sounds placed in pauses
QUIET_DBFS = -70.0


@functools.lru_cache(maxsize=4)  # a gate, a calibration and a quantizer's candidates ask for the same stream
def builtin_speech(
    role: Role = "gate",
    seconds: float = DEFAULT_SECONDS,
    sample_rate: int = 16_000,
    chunk: int = 1,
    seed: int = 0,
) -> StreamData:
    """The built-in stream for `role`: [voices, samples] float32, each row at least `seconds` long, rounded up to
    whole chunks. Calibration and gate streams differ for every seed; `seed` varies both. `rows[i]` describes row
    i (voice parameters, segments with their kind, noise, SNR and sounds). Cached, so `x` is read-only: copy it
    to change it."""
    if role not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if not (chunk >= 1 and sample_rate > 0 and seconds > 0):  # also refuses NaN
        raise ConfigError(
            f"built-in speech needs chunk >= 1, sample_rate > 0 and seconds > 0 (got {chunk}, {sample_rate}, {seconds})"
        )
    rng = np.random.default_rng([seed, ROLES[role], CORPUS_VERSION])
    n = -(-int(np.ceil(seconds * sample_rate)) // chunk) * chunk
    plan = _scene_plan(rng, len(VOICES))
    rows: list[StreamRow] = []
    x = np.zeros((len(VOICES), n), np.float32)
    for index, base in enumerate(VOICES):
        voice = _draw_voice(base, rng)
        x[index], segments, gain_db = _scene(voice, n, sample_rate, plan[index], index, rng)
        params = {**to_jsonable(voice), **({"row_gain_db": gain_db} if gain_db else {})}
        rows.append(StreamRow(f"voice {voice.name}", params, tuple(segments)))
    x.flags.writeable = False  # cached: shared by every caller
    return StreamData(x, _describe(role, seed, rows, n / sample_rate, sample_rate), rows=tuple(rows))


def _describe(role: str, seed: int, rows: list[StreamRow], seconds: float, sample_rate: int) -> str:
    """The stream in one line, from what its rows actually hold."""
    segments = [s for r in rows for s in r.segments]
    noises = sorted({str(s.params["noise"]) for s in segments})
    snrs = sorted({float(s.params["snr_db"]) for s in segments if s.params.get("snr_db") is not None}, reverse=True)
    sounds = sorted({str(s.params["sound"]) for s in segments if s.kind == "nonspeech"})
    voices = ", ".join(r.name.removeprefix("voice ") for r in rows)
    return (
        f"built-in speech corpus v{CORPUS_VERSION}, {role} stream, seed {seed}: {len(rows)} voices ({voices}), "
        f"{seconds:g} s each at {sample_rate} Hz; noise {', '.join(noises)} at {'/'.join(f'{v:g}' for v in snrs)} dB SNR; "
        f"sounds {', '.join(sounds) or 'none'}"
    )


def _draw_voice(base: VoiceSpec, rng: np.random.Generator) -> VoiceSpec:
    """A voice varied around `base` (pitch, vocal tract, rate, breathiness, level), so the corpus is not one speaker."""
    pitch = rng.uniform(0.9, 1.1)
    return replace(
        base,
        f0_low=base.f0_low * pitch,
        f0_high=base.f0_high * pitch * rng.uniform(0.95, 1.05),
        tract_scale=base.tract_scale * rng.uniform(0.96, 1.04),
        syllables_per_s=base.syllables_per_s * rng.uniform(0.88, 1.12),
        breathiness=float(np.clip(base.breathiness + rng.uniform(-0.05, 0.05), 0.0, 1.0)),
        level_db=base.level_db + rng.uniform(-2.0, 2.0),
    )


def _scene_plan(rng: np.random.Generator, rows: int) -> list[list[tuple[str, float | None]]]:
    """Two scenes per row, (noise, SNR); every noise type appears, quiet at least twice, SNRs cycle shuffled."""
    kinds = [*NOISES, "quiet", *rng.choice(NOISES[:-1], max(0, 2 * rows - len(NOISES) - 1)).tolist()]
    order = rng.permutation(len(kinds))[: 2 * rows]
    snrs = [SNRS_DB[i % len(SNRS_DB)] for i in rng.permutation(2 * rows)]
    scenes = [(kinds[i], None if kinds[i] == "quiet" else snrs[k]) for k, i in enumerate(order)]
    return [scenes[2 * r : 2 * r + 2] for r in range(rows)]


def _scene(
    voice: VoiceSpec, n: int, sample_rate: int, scenes: list[tuple[str, float | None]], row: int, rng: np.random.Generator
) -> tuple[np.ndarray, list[Segment], float]:
    """One row: utterances and pauses, the speech level set on the utterances, two backgrounds, sounds in pauses.
    Also the gain (dB, 0 or negative) applied to the whole row to keep its peak under full scale."""
    hop = max(1, sample_rate // 125)  # 8 ms frames
    frames = -(-n // hop) + 2
    track = FrameTrack(frames)
    spans: list[tuple[str, int, int, dict[str, object]]] = []  # (kind, first frame, end frame, params)
    t = int(rng.uniform(0.2, 0.5) * sample_rate / hop)
    spans.append(("pause", 0, t, {}))
    sounds = 0
    while t < frames - 2:
        length = min(frames - 2 - t, int(rng.uniform(0.7, 2.2) * sample_rate / hop))
        phrase = speak_phrase(track, t, length, voice, rng, hop / sample_rate)
        spans.append(("speech", t, t + length, {"syllables": phrase.syllables, "contour": phrase.contour,
                                                "f0_start_hz": phrase.f0_start, "f0_end_hz": phrase.f0_end}))  # fmt: skip
        t += length
        with_sound = sounds == 0 or rng.uniform() < 0.35  # each row's first pause holds a sound
        gap = min(frames - t, int((rng.uniform(0.5, 1.0) if with_sound else rng.uniform(0.25, 0.9)) * sample_rate / hop))
        if gap > 0:
            sound = SOUNDS[(row + sounds) % len(SOUNDS)] if with_sound and gap * hop > 0.2 * sample_rate else None
            spans.append(("pause", t, t + gap, {"sound": sound} if sound else {}))
            sounds += sound is not None
        t += gap
    speech = render(track, voice, hop, n, sample_rate, rng)
    talking = np.zeros(n, bool)
    for kind, a, b, _ in spans:
        talking[a * hop : b * hop] |= kind == "speech"
    rms = float(np.sqrt(np.mean(speech[talking] ** 2))) if talking.any() else 1.0
    level = 10 ** (voice.level_db / 20)
    speech *= level / max(rms, 1e-12)
    # The scene changes at the first utterance that starts past 40 % of the row (the middle if none does).
    starts = [a * hop for kind, a, _, _ in spans if kind == "speech" and a * hop >= 0.4 * n]
    boundary = min(starts) if starts else n // 2
    background = np.zeros(n)
    edges = [(0, boundary), (boundary, n)]
    for (noise, snr), (a, b) in zip(scenes, edges, strict=True):
        if b > a:
            scale = 10 ** (QUIET_DBFS / 20) if snr is None else level / 10 ** (snr / 20)
            background[a:b] = _noise(noise, b - a, sample_rate, rng) * scale
    audio = speech + background
    segments: list[Segment] = []
    for kind, a, b, params in spans:
        a, b = min(a * hop, n), min(b * hop, n)
        for (noise, snr), (lo, hi) in zip(scenes, edges, strict=True):
            s, e = max(a, lo), min(b, hi)
            if e <= s:
                continue
            placed = params.get("sound")
            if placed:
                event = _sound(str(placed), e - s, sample_rate, rng) * level * 10 ** (rng.uniform(-3.0, 6.0) / 20)
                audio[s : s + len(event)] += event
            label = "speech" if kind == "speech" else "nonspeech" if placed else "silence" if noise == "quiet" else "noise"
            described = {**params, "noise": noise, "snr_db": snr} if kind == "speech" else {**params, "noise": noise}
            if kind != "speech" and snr is not None:
                described["noise_dbfs"] = round(voice.level_db - snr, 1)
            segments.append(Segment(label, s, e, described))
            params = {k: v for k, v in params.items() if k != "sound"}  # a sound is placed once per pause
    peak = float(np.abs(audio).max())
    gain = min(1.0, 0.99 / peak) if peak > 0 else 1.0  # loud noise scenes: scale the whole row, never clip
    return (audio * gain).astype(np.float32), segments, round(20 * float(np.log10(gain)), 2)


def _noise(kind: str, n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Background of unit RMS."""
    if kind in ("white", "quiet"):
        x = rng.standard_normal(n)
    elif kind in ("pink", "brown"):
        spectrum = np.fft.rfft(rng.standard_normal(n))
        f = np.maximum(np.fft.rfftfreq(n, 1.0 / sample_rate), 20.0)
        x = np.fft.irfft(spectrum / (np.sqrt(f) if kind == "pink" else f), n=n)
    elif kind == "babble":  # four to six voices talking at once, no pauses
        x = np.zeros(n)
        hop = max(1, sample_rate // 125)
        for _ in range(int(rng.integers(4, 7))):
            voice = _draw_voice(VOICES[int(rng.integers(len(VOICES)))], rng)
            track = FrameTrack(-(-n // hop) + 2)
            t = 0
            while t < len(track.voiced) - 2:
                length = min(len(track.voiced) - 2 - t, int(rng.uniform(1.0, 3.0) * sample_rate / hop))
                speak_phrase(track, t, length, voice, rng, hop / sample_rate)
                t += length
            one = render(track, voice, hop, n, sample_rate, rng)
            x += one / max(float(np.sqrt(np.mean(one**2))), 1e-12)
    elif kind == "hum":  # mains hum with its harmonics, odd ones stronger (transformer buzz)
        times = np.arange(n) / sample_rate
        mains = float(rng.choice([50.0, 60.0]))
        x = np.zeros(n)
        for k in range(1, 8):
            x += (1.0 if k % 2 else 0.4) / k * np.sin(2 * np.pi * k * mains * times + rng.uniform(0, 2 * np.pi))
        x = x + 0.02 * rng.standard_normal(n)
    elif kind == "music":
        x = _music(n, sample_rate, rng)
    else:
        raise ValueError(f"unknown noise {kind!r}")
    return np.asarray(x) / max(float(np.sqrt(np.mean(np.asarray(x) ** 2))), 1e-12)


def _music(n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Plucked notes and two-note chords on a pentatonic scale, each with decaying harmonics."""
    x = np.zeros(n)
    t = 0
    while t < n:
        length = int(rng.uniform(0.15, 0.5) * sample_rate)
        u = np.arange(min(length * 3, n - t)) / sample_rate
        for _ in range(int(rng.integers(1, 3))):
            f = 220.0 * 2 ** (float(rng.choice([0, 2, 4, 7, 9, 12, 14, 16])) / 12)
            decay = np.exp(-u / rng.uniform(0.15, 0.6))
            x[t : t + len(u)] += decay * sum(
                np.sin(2 * np.pi * k * f * u) / k**1.5 for k in range(1, 6) if k * f < sample_rate / 2
            )
        t += length
    return x


def _sound(kind: str, room: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A non-speech sound of RMS about one while it sounds, at most `room` samples (starting 50 ms into the pause)."""
    lead = min(room // 4, int(0.05 * sample_rate))
    room -= lead
    if kind == "click":  # a few clicks, like keys or a pen
        out = np.zeros(room)
        t = 0
        for _ in range(int(rng.integers(3, 9))):
            width = int(0.002 * sample_rate) + 1
            if t + width > room:
                break
            out[t : t + width] += 6.0 * rng.standard_normal(width) * np.exp(-np.arange(width) / (width / 4))
            t += int(rng.uniform(0.04, 0.2) * sample_rate)
    elif kind in ("tone", "chirp"):
        length = min(room, int(rng.uniform(0.15, 0.5) * sample_rate))
        u = np.arange(length) / sample_rate
        if kind == "tone":  # a beep
            phase = 2 * np.pi * rng.uniform(400.0, 2500.0) * u
        else:  # a whistle sweeping up or down
            f0, f1 = (300.0, 3000.0) if rng.uniform() < 0.5 else (3000.0, 300.0)
            f1 = min(f1, 0.45 * sample_rate)
            phase = 2 * np.pi * np.cumsum(np.linspace(f0, f1, length)) / sample_rate
        ramp = np.minimum(1.0, np.minimum(np.arange(length), np.arange(length)[::-1]) / (0.005 * sample_rate))
        out = np.sqrt(2) * np.sin(phase) * ramp
    elif kind == "transient":  # a knock or a door: a decaying broadband burst
        length = min(room, int(0.3 * sample_rate))
        out = 4.0 * rng.standard_normal(length) * np.exp(-np.arange(length) / (rng.uniform(0.015, 0.06) * sample_rate))
    else:
        raise ValueError(f"unknown sound {kind!r}")
    return np.concatenate([np.zeros(lead), out])
