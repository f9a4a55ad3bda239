"""Export's own verification judges at the fp32 tolerance (atol 1e-5, rtol 1e-5), not something looser.

`check`'s side of the tolerance is tested elsewhere; these guard the export side: a graph off by 1e-4 in one output
must not be published by `edgelstm export`, while one off by 2e-6 (fp32 rounding territory) must be.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.checkpoint import save_checkpoint
from edgelstm.comparison import compare_tensors
from edgelstm.export.native import build_native_onnx
from edgelstm.export.verify import VerificationConfig, native_reference, verify_graph
from tests.conftest import tiny_model
from tests.refusals import run_cli

BEYOND, WITHIN = 1e-4, 2e-6  # added to the head's bias: every logit moves by exactly this much
FAST = ["--batches", "1,3", "--steps", "3,9", "--example-steps", "4"]


def _shift_head_bias(graph: onnx.ModelProto, delta: float) -> onnx.ModelProto:
    bias = next(i for i in graph.graph.initializer if i.name == "head_bias")
    array = numpy_helper.to_array(bias).astype(np.float64) + delta
    bias.CopyFrom(numpy_helper.from_array(array.astype(np.float32), bias.name))
    return graph


@pytest.mark.parametrize(("difference", "passed"), [(2.5e-5, False), (1.5e-5, True)], ids=["over", "under"])
def test_the_default_verification_tolerance_is_the_fp32_rule_at_its_boundary(difference: float, passed: bool) -> None:
    """Range 1: the limit is atol + rtol * 1 = 2e-5 exactly."""
    expected = np.array([[1.0, -0.5, 0.25]])
    actual = expected + np.array([[0.0, difference, 0.0]])
    tolerance = VerificationConfig().tolerance
    comparison = compare_tensors("output", actual, expected, tolerance)
    assert comparison.passed is passed
    assert (comparison.atol, comparison.rtol) == (1e-5, 1e-5)


@pytest.mark.parametrize(("delta", "passed"), [(BEYOND, False), (WITHIN, True)], ids=["beyond", "within"])
def test_verify_graph_judges_a_shifted_output_at_the_fp32_tolerance(delta: float, passed: bool) -> None:
    model = tiny_model()
    graph, interface = build_native_onnx(model, ExportConfig())
    shifted = _shift_head_bias(graph, delta).SerializeToString()
    result = verify_graph(
        shifted, interface, native_reference(model, interface), VerificationConfig(batches=(1, 3), example_steps=4)
    )
    assert result.passed is passed
    worst = max(o.max_abs_error for c in result.cases for o in c.outputs if o.name == "output")
    assert worst == pytest.approx(delta, rel=0.2, abs=5e-7)  # the shift is what was measured, not noise


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
