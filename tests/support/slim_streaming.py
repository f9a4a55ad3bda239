"""Models for tests/unit/test_slim_streaming.py and the slim streaming e2e tests: tiny native models, loaded."""

from __future__ import annotations

import tempfile
from pathlib import Path

from edgelstm.checkpoint import save_checkpoint
from edgelstm.loading import LoadedModel, load_model
from tests.conftest import tiny_model


def loaded_tiny(cell: str, layers: int, head: str = "per_step") -> LoadedModel:
    """A tiny native model (5 features, 8 hidden) as `export` loads it, from a checkpoint saved and read back."""
    with tempfile.TemporaryDirectory(prefix="slim-") as tmp:
        save_checkpoint(tiny_model(cell=cell, layers=layers, head=head), Path(tmp) / "ckpt")
        return load_model(str(Path(tmp) / "ckpt"))


def tiny_checkpoint(root: Path, cell: str, layers: int, head: str = "per_step") -> Path:
    """The same tiny model saved as a checkpoint under `root` (for check's reference)."""
    save_checkpoint(tiny_model(cell=cell, layers=layers, head=head), root / "ckpt")
    return root / "ckpt"
