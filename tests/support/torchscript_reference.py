"""Helpers and fixtures that both halves of tests/test_torchscript_reference.py need:
tests/unit/test_torchscript_reference.py and tests/e2e/test_torchscript_reference_cli.py."""

from __future__ import annotations

from pathlib import Path

import pytest

silero_vad = pytest.importorskip("silero_vad", reason="silero-vad is not installed (pip install -e '.[examples]')")

DATA = Path(silero_vad.__file__).parent / "data"
ONNX, JIT = DATA / "silero_vad.onnx", DATA / "silero_vad.jit"
