"""Helpers and fixtures that both halves of tests/test_convert.py need: tests/unit/test_convert.py and
tests/e2e/test_convert_cli.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgelstm.checkpoint import save_checkpoint
from tests.conftest import tiny_model

RECIPE = """
[model]
source = "ckpt"
[data]
heldout = "held.npz"
[export]
forms = ["sequence", "streaming"]
[quantize]
schemes = ["dynamic-int8"]
[check]
providers = ["cpu"]
[bench]
batches = [1]
steps = [8]
[bundle]
zip = false
[output]
dir = "out"
"""


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    save_checkpoint(tiny_model(cell="lstm"), tmp_path / "ckpt")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "held.npz", x=rng.standard_normal((12, 8, 5)).astype(np.float32), y=rng.integers(0, 3, 12))
    (tmp_path / "recipe.toml").write_text(RECIPE)
    return tmp_path
