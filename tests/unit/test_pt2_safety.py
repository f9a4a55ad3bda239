"""A crafted `.pt2` must never run code on `inspect`/`export` unless the user opted in with --unsafe-allow-pickle.

Every payload here writes a marker file when unpickled; the tests prove the payload is live (plain
`torch.export.load` or the opt-in flag runs it) and that edgelstm refuses it without running it.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from edgelstm.pt2_archive import weights_only_loading
from tests.support import pt2_safety as shared
from tests.support.pt2_safety import _pickled_weight

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
clean_pt2 = shared.clean_pt2


def test_the_payload_is_live(clean_pt2: Path, tmp_path: Path) -> None:
    """Without edgelstm's guard, torch.export.load runs the pickled weight: the tests below test something real."""
    marker = tmp_path / "ran"
    crafted = _pickled_weight(clean_pt2, tmp_path / "evil.pt2", marker)
    with pytest.raises(Exception):  # noqa: B017  # torch rejects the non-Parameter afterwards; the code already ran
        torch.export.load(str(crafted))
    assert marker.exists()


def test_guard_blocks_even_when_inspection_is_skipped(clean_pt2: Path, tmp_path: Path) -> None:
    """Second layer: torch.load forced to weights_only inside torch.export.load."""
    marker = tmp_path / "ran"
    crafted = _pickled_weight(clean_pt2, tmp_path / "evil.pt2", marker)
    with pytest.raises(pickle.UnpicklingError), weights_only_loading():
        torch.export.load(str(crafted))
    assert not marker.exists()
    assert torch.load.__name__ == "load"  # restored afterwards
