"""Native export of the model family: every cell x direction x depth x head, both forms, both impls."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.export.api import export_model
from tests.conftest import tiny_model
from tests.support.export_native import CELLS, HEADS, _loaded

MATRIX = [
    (cell, bidirectional, layers, head, impl, form)
    for cell, bidirectional, layers, head, impl, form in itertools.product(
        CELLS, [False, True], [1, 2], HEADS, ["fused", "loop"], ["sequence", "streaming"]
    )
    if not (bidirectional and form == "streaming")
]


@pytest.mark.slow
@pytest.mark.parametrize("cell,bidirectional,layers,head,impl,form", MATRIX)
def test_export_matches_torch_on_the_shape_grid(tmp_path: Path, cell, bidirectional, layers, head, impl, form) -> None:
    """B in {1,3,8} x T in {1,7,16,64} (example 16), random lengths and states, plus chunked streaming."""
    model = tiny_model(cell=cell, bidirectional=bidirectional, layers=layers, head=head)
    config = ExportConfig(form=form, impl=impl, with_state_inputs=True)
    result = export_model(_loaded(model), tmp_path, config)
    failures = [(c.label, c.error, [o for o in c.outputs if not o.passed]) for c in result.verification.failures()]
    assert result.passed, failures
    assert len(result.verification.cases) >= 12
    assert result.verification.max_rel_error < 1e-5  # relative to each tensor's range (pool sums reach ~T)
    assert result.path.exists() and result.path.with_suffix(".export.json").exists()
