"""Export's own verification judges at the fp32 tolerance (atol 1e-5, rtol 1e-5), not something looser.

`check`'s side of the tolerance is tested elsewhere; these guard the export side: a graph off by 1e-4 in one output
must not be published by `edgelstm export`, while one off by 2e-6 (fp32 rounding territory) must be.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.comparison import compare_tensors
from edgelstm.export.native import build_native_onnx
from edgelstm.export.verify import VerificationConfig, native_reference, verify_graph
from tests.conftest import tiny_model
from tests.support.export_verification_tolerance import BEYOND, WITHIN, _shift_head_bias


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
