"""auto's table rows built by hand, for the speed-rule and publish-path tests (tests/unit/test_auto_speed_rule.py,
tests/unit/test_mutation_kills_publish.py)."""

from __future__ import annotations

from pathlib import Path

from edgelstm.quantize.api import QuantizeResult
from edgelstm.quantize.selection_table import Candidate

FP32_MS = 2.0


def row(name: str, size: int, latency: float | None, path: Path | None = None, role: str = "candidate") -> Candidate:
    """A passing row of `size` bytes timed at `latency` ms (None: not timed)."""
    result = QuantizeResult(name, {}, "m.onnx", 100_000, path=path, size_bytes=size)
    return Candidate(name, result, passed=True, latency_ms=latency, role=role)


def published(tmp_path: Path, name: str, size: int, latency: float) -> Candidate:
    """A row whose artifact and sidecar exist on disk, as a passing candidate's do."""
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(b"\0" * size)
    path.with_suffix(".quant.json").write_text("{}")
    return row(name, size, latency, path)
