"""The parity gate's task-level verdicts at their boundaries, on artifacts whose answers are known by construction.

Numeric tolerances are infinite here, so only the task check can fail an artifact:
- top-1 agreement: logits with two columns swapped agree with the reference exactly where its argmax is the third,
  so the agreement is k/n with k known; a limit of k/n passes, (k+1)/n does not. Rotated columns agree nowhere: FAIL.
- MAE increase: the output scaled by s against all-zero targets has an MAE exactly s times the reference's, on every
  row, so the increase is s - 1 with a zero-width interval; a limit above passes, below fails.
- ragged per-step labels: a per-step head is scored on the valid steps only, sum(lengths) predictions, not B x T.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.refusals import run_cli
from tests.support import gate_verdict_boundaries as shared

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
classify = shared.classify
per_step = shared.per_step
regress = shared.regress


def _cli(root: Path, artifact: Path, toml: str, *extra: str) -> tuple[int, dict]:
    (root / "limits.toml").write_text(toml)
    report = root / "report.json"
    args = ["check", artifact, "--reference", root / "ckpt", "--data", root / "data.npz", "--providers", "cpu"]
    result = run_cli([*args, "--no-stress", "--tolerances", root / "limits.toml", "--report", report, *extra])
    return result.exit_code, json.loads(report.read_text())


def _cli_task(report: dict, metric: str) -> dict:
    return next(t for t in report["candidates"][0]["tasks"] if t["metric"] == metric)


def test_rotated_logit_columns_fail_top1_end_to_end(classify: Path) -> None:
    """Every argmax moves; the numbers are not gated, so only top-1 can catch it."""
    code, report = _cli(classify, classify / "rotated.onnx", "[default]\natol = inf\nrtol = inf\n")
    assert code == 1
    top1 = _cli_task(report, "top1_agreement")
    assert (top1["value"], top1["verdict"]) == (0.0, "FAIL")
    assert report["candidates"][0]["verdict"] == "FAIL"
    clean, _ = _cli(classify, classify / "onnx" / "sequence_fused.onnx", "[default]\natol = inf\nrtol = inf\n")
    assert clean == 0  # the same check passes the undamaged graph


def test_an_output_scaled_by_one_and_a_half_fails_on_mae_end_to_end(regress: Path) -> None:
    code, report = _cli(regress, regress / "scaled_1.5.onnx", "[default]\natol = inf\nrtol = inf\n")
    assert code == 1
    mae = _cli_task(report, "mae_increase")
    assert mae["value"] == pytest.approx(0.5, abs=1e-5) and mae["verdict"] == "FAIL"
    clean, _ = _cli(regress, regress / "onnx" / "sequence_fused.onnx", "[default]\natol = inf\nrtol = inf\n")
    assert clean == 0


def test_ragged_per_step_rows_end_to_end(per_step: Path) -> None:
    lengths = np.load(per_step / "data.npz")["lengths"]
    code, report = _cli(per_step, per_step / "onnx" / "sequence_fused.onnx", "[default]\nmin_top1_agreement = 0.99\n")
    assert code == 0
    top1 = _cli_task(report, "top1_agreement")
    assert top1["evidence"]["n"] == int(lengths.sum()) and top1["evidence"]["unit"] == "prediction"
    assert top1["value"] == 1.0
