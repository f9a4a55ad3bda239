"""The parity gate's reference really computes in float64, and that decides verdicts a float32 reference would not.

The model: a GRU classifier whose logits pass through (z + 1e4) - 1e4. In float32 that keeps z only to the spacing
of float32 numbers near 1e4 (2**-10, about 1e-3), so float32 runs -- torch's and ONNX Runtime's alike -- round the
logits by up to ~5e-4; in float64 the round trip is exact to ~1e-12. Its float32 ONNX export therefore matches a
float32 torch run bit for bit (export's own verification passes it) and fails a float64 reference at the default
fp32 tolerance (atol 1e-5 + rtol 1e-4 x range). With offset 0 the same model passes: the cancellation is the cause.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.refusals import run_cli
from tests.support import float64_reference as shared
from tests.support.float64_reference import NAME, _artifact

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
workspace = shared.workspace
pytestmark = pytest.mark.filterwarnings("ignore:random weights")  # the factories' weights are their seed's


def test_check_command_fails_it_end_to_end_and_names_the_float64_reference(workspace: Path, tmp_path: Path) -> None:
    for factory, exit_code in (("build", 1), ("build_plain", 0)):
        report = tmp_path / f"{factory}.json"
        args = [
            "check", _artifact(workspace, factory), "--reference", f"{NAME}:{factory}", "--input-size", "5",
            "--data", workspace / "data.npz", "--task", "none", "--no-stress", "--providers", "cpu", "--report", report,
        ]  # fmt: skip
        result = run_cli(args)
        assert result.exit_code == exit_code, result.output
        assert json.loads(report.read_text())["reference_dtype"] == "float64"
