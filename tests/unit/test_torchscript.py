"""TorchScript archives carry code: recognised without loading, refused without the opt-in flag, described with it."""

from __future__ import annotations

from pathlib import Path

import torch

from edgelstm.torchscript import is_torchscript_archive
from tests.support import torchscript as shared

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
scripted = shared.scripted


def test_recognised_from_its_entries(scripted: Path, tmp_path: Path) -> None:
    assert is_torchscript_archive(scripted)
    state = tmp_path / "state.pt"
    torch.save({"w": torch.ones(2)}, state)  # also a zip, but a state dict, not code
    assert not is_torchscript_archive(state)
