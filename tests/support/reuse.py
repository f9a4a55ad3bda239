"""Helpers and fixtures that both halves of tests/test_reuse.py need: tests/unit/test_reuse.py and
tests/e2e/test_reuse_cli.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgelstm.checkpoint import save_checkpoint
from edgelstm.loading import LoadedModel, load_model
from edgelstm.parity.data import SequenceData
from edgelstm.quantize import DynamicInt8Config, Fp16Config, quantize
from tests.conftest import tiny_model

BATCH, STEPS = 16, 12  # the real-data case's shape: no stress case has it


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[LoadedModel, SequenceData, list[Path]]:
    """A tiny LSTM, real-looking ragged data, and two quantized candidates of it (written without a gate)."""
    root = tmp_path_factory.mktemp("reuse")
    save_checkpoint(tiny_model(cell="lstm", head="classify-last"), root / "ckpt")
    loaded = load_model(str(root / "ckpt"))
    rng = np.random.default_rng(0)
    lengths = rng.integers(4, STEPS + 1, size=BATCH)
    lengths[0] = STEPS
    data = SequenceData(
        rng.standard_normal((BATCH, STEPS, 5)).astype(np.float32), lengths, rng.integers(0, 3, size=BATCH), "reuse data"
    )
    artifacts = []
    for config in (DynamicInt8Config(), Fp16Config()):
        result = quantize(loaded, config, root / "q", calibration=data)
        assert result.path is not None
        artifacts.append(result.path)
    return loaded, data, artifacts
