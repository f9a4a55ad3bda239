"""Helpers and fixtures that both halves of tests/test_api.py need: tests/unit/test_api.py and
tests/e2e/test_api_cli.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgelstm.checkpoint import save_checkpoint
from edgelstm.config import HeadConfig, ModelConfig
from edgelstm.datasets import load_watch_windows
from edgelstm.model import SequenceModel


@pytest.fixture(scope="module")
def watch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The bundled smartwatch example: a native checkpoint (6 IMU features, 7 exercises) and a held-out .npz of real
    windows from the test subjects. Weights are seeded, not trained: the API's plumbing is under test, not accuracy."""
    import torch

    root = tmp_path_factory.mktemp("watch")
    data = load_watch_windows(window=30, stride=30)
    held = data.test_x[::8][:48].astype(np.float32)
    np.savez(root / "held.npz", x=held, y=data.test_y[::8][:48])
    torch.manual_seed(0)
    save_checkpoint(
        SequenceModel(ModelConfig(input_size=6, hidden_size=12, head=HeadConfig("classify", 7))).eval(), root / "ckpt"
    )
    return root / "ckpt", root / "held.npz"
