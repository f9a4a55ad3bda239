"""Helpers and fixtures that both halves of tests/test_check.py need: tests/unit/test_check.py and
tests/e2e/test_check_cli.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.checkpoint import save_checkpoint
from edgelstm.export.api import export_model
from edgelstm.loading import load_model
from tests.conftest import tiny_model


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("check")
    model = tiny_model(cell="lstm", layers=2, head="classify-last")
    save_checkpoint(model, root / "ckpt")
    loaded = load_model(str(root / "ckpt"))
    assert export_model(loaded, root / "onnx", ExportConfig(form="sequence", impl="fused"))
    assert export_model(loaded, root / "onnx", ExportConfig(form="streaming", impl="fused"))
    assert export_model(loaded, root / "onnx", ExportConfig(form="sequence", impl="loop"))
    rng = np.random.default_rng(0)
    lengths = rng.integers(4, 13, size=16)
    lengths[0] = 12
    np.savez(
        root / "data.npz", x=rng.standard_normal((16, 12, 5)).astype(np.float32), lengths=lengths, y=rng.integers(0, 3, size=16)
    )
    return root
