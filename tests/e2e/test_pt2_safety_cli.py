"""A crafted `.pt2` must never run code on `inspect`/`export` unless the user opted in with --unsafe-allow-pickle.

Every payload here writes a marker file when unpickled; the tests prove the payload is live (plain
`torch.export.load` or the opt-in flag runs it) and that edgelstm refuses it without running it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgelstm.errors import UnsafePickleError
from edgelstm.pt2_archive import refuse_code_in_pt2
from tests.refusals import assert_refused, run_cli
from tests.support import pt2_safety as shared
from tests.support.pt2_safety import CRAFTED, _pickled_weight

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
clean_pt2 = shared.clean_pt2


@pytest.mark.parametrize("command", ["inspect", "export"])
@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_crafted_pt2_is_refused_without_running(clean_pt2: Path, tmp_path: Path, command: str, kind: str) -> None:
    marker = tmp_path / "ran"
    crafted = CRAFTED[kind](clean_pt2, tmp_path / "evil.pt2", marker)
    out = tmp_path / "out"
    args = [command, crafted, "--input-size", "3"] + (["--out", out] if command == "export" else [])
    assert_refused(args, "evil.pt2", "run code", watch=(tmp_path,), markers=(marker,))
    assert not out.exists()


def test_clean_archive_passes_inspection_and_loads(clean_pt2: Path) -> None:
    refuse_code_in_pt2(clean_pt2)
    result = run_cli(["inspect", clean_pt2, "--input-size", "3"])
    assert result.exit_code == 0, result.output
    # loaded, not merely accepted: inspect describes the archive's own program, a Linear(3, 2) over time
    assert f"{clean_pt2} (torch.export, GraphModule)" in result.stdout
    assert re.search(r"parameters\s+8\s", result.stdout), result.stdout
    assert "features (features 3)" in result.stdout
    assert re.search(r"sequence\s+│\s+torch\.onnx\s+│\s+yes", result.stdout), result.stdout


def test_opt_in_flag_is_what_allows_pickled_entries(clean_pt2: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    crafted = _pickled_weight(clean_pt2, tmp_path / "evil.pt2", marker)
    with pytest.raises(UnsafePickleError, match="pickled"):
        refuse_code_in_pt2(crafted)
    run_cli(["inspect", crafted, "--input-size", "3", "--unsafe-allow-pickle"])
    assert marker.exists()  # the user vouched for the file, so its code ran
