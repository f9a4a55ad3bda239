"""A `.pt2`'s tensor constants (docs/testing/mutation.md, "Full run"): torch.export stores a non-persistent buffer
or a literal tensor as data/constants/tensor_<n>. `inspect` loads such a program, and refuses one whose constants
config marks a constant as pickled, naming the constant (the inspection, not only the loader's second layer)."""

from __future__ import annotations

from pathlib import Path

from tests.refusals import assert_refused, run_cli
from tests.support.pt2_constants import save_with_constants, with_pickled_constant


def test_inspect_loads_a_pt2_with_tensor_constants(tmp_path: Path) -> None:
    path = save_with_constants(tmp_path / "constants.pt2", dynamic=True)
    result = run_cli(["inspect", str(path), "--input-size", "3"])
    assert result.exit_code == 0, result.output
    assert "refused" not in result.output


def test_inspect_refuses_a_pt2_whose_constant_is_pickled_naming_it(tmp_path: Path) -> None:
    crafted = with_pickled_constant(save_with_constants(tmp_path / "clean.pt2"), tmp_path / "crafted.pt2")
    assert_refused(["inspect", str(crafted), "--input-size", "3"], "'scale' is stored as a pickled object (tensor_1)")
