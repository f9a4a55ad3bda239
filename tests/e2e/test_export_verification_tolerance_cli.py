"""Export's own verification judges at the fp32 tolerance (atol 1e-5, rtol 1e-5), not something looser.

`check`'s side of the tolerance is tested elsewhere; these guard the export side: a graph off by 1e-4 in one output
must not be published by `edgelstm export`, while one off by 2e-6 (fp32 rounding territory) must be.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgelstm.checkpoint import save_checkpoint
from tests.conftest import tiny_model
from tests.refusals import run_cli
from tests.support.export_verification_tolerance import BEYOND, WITHIN, _shift_head_bias

FAST = ["--batches", "1,3", "--steps", "3,9", "--example-steps", "4"]


@pytest.mark.parametrize(("delta", "exit_code"), [(BEYOND, 1), (WITHIN, 0)], ids=["beyond", "within"])
def test_edgelstm_export_publishes_only_a_graph_within_the_fp32_tolerance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, delta: float, exit_code: int
) -> None:
    """End to end: the graph export builds is shifted before verification; beyond tolerance nothing is written."""
    import edgelstm.export.api as api

    ckpt = save_checkpoint(tiny_model(), tmp_path / "ckpt")
    real_build = api.build_onnx

    def build_shifted(*args, **kwargs):  # type: ignore[no-untyped-def]
        graph, interface = real_build(*args, **kwargs)
        return _shift_head_bias(graph, delta), interface

    monkeypatch.setattr(api, "build_onnx", build_shifted)
    out = tmp_path / "out"
    result = run_cli(["export", str(ckpt), "--out", str(out), *FAST])
    assert result.exit_code == exit_code, result.output
    written = sorted(p.name for p in out.iterdir()) if out.exists() else []
    if exit_code == 0:
        assert written == ["sequence_fused.export.json", "sequence_fused.onnx"]
    else:
        assert written == [], "a graph that failed verification was published"
