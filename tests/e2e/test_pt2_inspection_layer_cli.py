"""The first layer of the `.pt2` defence on its own: the entry allow-list refuses before torch ever opens the file.

test_pt2_safety.py proves crafted archives are refused; a second layer (weights_only loading inside
torch.export.load) would refuse most of them too, with other words. These tests pin the refusal to the first
layer: `refuse_code_in_pt2` itself raises, and in the CLI `torch.export.load` is never called for a crafted file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from edgelstm.pt2_archive import refuse_code_in_pt2
from tests.refusals import assert_refused, run_cli
from tests.support import pt2_inspection_layer as shared
from tests.support.pt2_safety import CRAFTED

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
clean_pt2 = shared.clean_pt2


@pytest.fixture
def torch_export_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path torch.export.load is asked to open (the call still happens, so a clean archive loads)."""
    calls: list[str] = []
    real = torch.export.load

    def spy(path: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(torch.export, "load", spy)
    return calls


def test_the_inspection_passes_the_clean_archive_that_torch_then_loads(clean_pt2: Path, torch_export_loads: list[str]) -> None:
    refuse_code_in_pt2(clean_pt2)  # no refusal of plain data
    result = run_cli(["inspect", clean_pt2, "--input-size", "3"])
    assert result.exit_code == 0, result.output
    assert torch_export_loads == [str(clean_pt2)]  # the spy sees loads: an empty list below means something


@pytest.mark.parametrize("command", ["inspect", "export"])
@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_a_crafted_archive_is_refused_before_torch_opens_it(
    clean_pt2: Path, tmp_path: Path, torch_export_loads: list[str], command: str, kind: str
) -> None:
    marker = tmp_path / "ran"
    crafted = CRAFTED[kind](clean_pt2, tmp_path / "evil.pt2", marker)
    args = [command, crafted, "--input-size", "3"] + (["--out", tmp_path / "out"] if command == "export" else [])
    assert_refused(args, "evil.pt2", "run code", "--unsafe-allow-pickle", watch=(tmp_path,), markers=(marker,))
    assert torch_export_loads == [], "torch.export.load saw a file the inspection should have refused"
