"""Helpers and fixtures that both halves of tests/test_static_int8_floor.py need: tests/unit/test_static_int8_floor.py
and tests/e2e/test_static_int8_floor_e2e.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgelstm.parity.data import SequenceData


class _FloorSpy:
    """A declining gate that never declines: it records the floors it is shown and passes every artifact."""

    def __init__(self) -> None:
        self.floors: list[int] = []

    def decline(self, size_bytes: int, at_least: bool = False) -> dict[str, Any] | None:
        if at_least:
            self.floors.append(size_bytes)
        return None

    def run(self, path: Path) -> dict[str, Any]:
        return {"passed": True, "failures": []}


def _data(features: int, steps: int = 12, count: int = 16) -> SequenceData:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((count, steps, features)).astype(np.float32)
    return SequenceData(x, None, rng.integers(0, 3, size=count), "floor data")
