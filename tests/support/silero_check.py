"""The `check` command line of a silero-vad graph on a speech stream (16 kHz, chunks of 512 with 64 of context), the
options a test varies appended: shared by the e2e kill tests that judge silero on the CPU."""

from __future__ import annotations

from pathlib import Path


def silero_check_args(graph: Path, reference: Path, audio: Path, *options: str | Path) -> list[str]:
    """`check GRAPH --reference REFERENCE --data AUDIO` at silero's stream settings on the CPU, then `options`."""
    stream = ["--const", "sr=16000", "--chunk", "512", "--context", "64", "--providers", "cpu"]
    return [str(a) for a in ("check", graph, "--reference", reference, "--data", audio, *stream, *options)]
