"""`check --tolerances` at the edges of the file's ranges (docs/testing/mutation.md, "Full run"): an SNR floor that
is not a number is refused in one line (never taken as 1 dB, never a crash), and `max_accuracy_drop = inf` (not
gated) is accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.refusals import assert_refused, run_cli
from tests.support import bad_input_graphs as shared
from tests.support.bad_input_graphs import Graphs, check_with_budget

graphs = shared.graphs


@pytest.mark.parametrize("value", ["true", '"20"'], ids=["bool", "string"])
def test_check_refuses_an_snr_floor_that_is_not_a_number(graphs: Graphs, tmp_path: Path, value: str) -> None:
    budget = tmp_path / "budget.toml"
    budget.write_text(f"[default]\nmin_snr_db = {value}\n")
    assert_refused(check_with_budget(graphs, budget), "min_snr_db must be a number of dB", watch=(tmp_path, graphs.root))


def test_check_accepts_an_infinite_accuracy_drop(graphs: Graphs, tmp_path: Path) -> None:
    budget = tmp_path / "budget.toml"
    budget.write_text("[default]\nmax_accuracy_drop = inf\n")
    result = run_cli(check_with_budget(graphs, budget))
    assert result.exit_code == 0, result.output
