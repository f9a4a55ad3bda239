"""`edgelstm check` says how strong its evidence is (issue 19, item 4): an artifact that differs from the reference on
exactly one of 54 sequences, against a 1-point accuracy budget, is INCONCLUSIVE (not FAIL, never PASS), in the
terminal, the JSON, the JUnit XML and the Markdown, naming the data size that would resolve it; the same one
sequence among 600 is an ordinary PASS."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgelstm.loading import load_model
from tests.support import check_evidence as shared
from tests.support.check_evidence import one_flip

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
model = shared.model


def test_quantize_gate_does_not_publish_an_inconclusive_artifact_and_says_why(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """quantize's gate reads the same verdict: `passed` False (so the artifact is not written), `verdict`
    inconclusive with the evidence, and the result line says the data, not the artifact, fell short."""
    from edgelstm.parity import TolerancePolicy
    from edgelstm.parity.data import load_sequence_data
    from edgelstm.quantize.api import QuantizeResult
    from edgelstm.quantize.gate import ParityGate
    from edgelstm.quantize.pareto import loss_reason
    from edgelstm.quantize.render import _cost_text, print_quantize
    from edgelstm.quantize.selection_table import Candidate
    from edgelstm.report.render import selection_rows

    artifact, data = one_flip(model, 54, "gate")
    gate = ParityGate(
        load_model(str(model / "ckpt")),
        load_sequence_data(data, feature_size=5),
        TolerancePolicy.from_toml(model / "parity.toml"),
    )
    summary = gate.run(artifact)
    assert summary["passed"] is False and summary["verdict"] == "inconclusive"
    assert summary["evidence"]["accuracy_delta"]["needed_n"] == 525
    assert any(line.startswith("inconclusive: ") and "1.85 points" in line for line in summary["failures"])
    print_quantize(QuantizeResult("dynamic-int8", {}, "m", 1000, size_bytes=500, parity=summary, parity_passed=False))
    out = " ".join(capsys.readouterr().out.split())
    assert "parity INCONCLUSIVE" in out and "cannot resolve its budget" in out and "FAIL" not in out
    assert _cost_text(summary).startswith("INCONCLUSIVE")  # mixed's per-layer table reads the same verdict
    row = Candidate("dynamic-int8", QuantizeResult("dynamic-int8", {}, "m", 1000, size_bytes=500), passed=False, summary=summary)
    assert loss_reason(row, None, "size").startswith("gate inconclusive: data / accuracy_delta")
    row = selection_rows({"candidates": [{"scheme": "dynamic-int8", "passed": False, "summary": summary, "result": {}}]})[0]
    assert any(cell.startswith("INCONCLUSIVE") for cell in row)
