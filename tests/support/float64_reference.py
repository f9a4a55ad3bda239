"""Helpers and fixtures that both halves of tests/test_float64_reference.py need: tests/unit/test_float64_reference.py
and tests/e2e/test_float64_reference_cli.py."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edgelstm.export.api import export_model
from edgelstm.export.verify import VerificationConfig
from edgelstm.loading import load_model

MODULE = """
import torch
class Cancelling(torch.nn.Module):
    def __init__(self, offset):
        super().__init__()
        self.offset = offset
        self.rnn = torch.nn.GRU(5, 8, batch_first=True)
        self.fc = torch.nn.Linear(8, 3)
    def forward(self, x):
        y, _ = self.rnn(x)
        return (self.fc(y[:, -1]) + self.offset) - self.offset
def build():
    torch.manual_seed(0)
    return Cancelling(1e4)
def build_plain():
    torch.manual_seed(0)
    return Cancelling(0.0)
"""
NAME = "f64_cancelling_models"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The module on sys.path, each factory's verified export, and 16 sequences of data."""
    root = tmp_path_factory.mktemp("float64")
    (root / f"{NAME}.py").write_text(MODULE)
    sys.path.insert(0, str(root))
    try:
        for factory in ("build", "build_plain"):
            loaded = load_model(f"{NAME}:{factory}", input_size=5)
            result = export_model(loaded, root / factory, verification=VerificationConfig(batches=(1, 3), example_steps=6))
            assert result.written and result.verification.max_abs_error < 1e-6  # fp32 graph == fp32 torch
        x = np.random.default_rng(0).standard_normal((16, 12, 5)).astype(np.float32)
        np.savez(root / "data.npz", x=x)
        yield root
    finally:
        sys.path.remove(str(root))
        sys.modules.pop(NAME, None)


def _artifact(workspace: Path, factory: str = "build") -> Path:
    (path,) = (workspace / factory).glob("*.onnx")
    return path
