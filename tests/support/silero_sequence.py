"""Helpers and fixtures that both halves of tests/test_silero_sequence.py need: tests/unit/test_silero_sequence.py and
tests/e2e/test_silero_sequence_cli.py."""

from __future__ import annotations

from pathlib import Path

import pytest

silero_vad = pytest.importorskip("silero_vad", reason="silero-vad is not installed (pip install -e '.[dev]')")

DATA = Path(silero_vad.__file__).parent / "data"
