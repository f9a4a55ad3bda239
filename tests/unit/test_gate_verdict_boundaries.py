"""The parity gate's task-level verdicts at their boundaries, on artifacts whose answers are known by construction.

Numeric tolerances are infinite here, so only the task check can fail an artifact:
- top-1 agreement: logits with two columns swapped agree with the reference exactly where its argmax is the third,
  so the agreement is k/n with k known; a limit of k/n passes, (k+1)/n does not. Rotated columns agree nowhere: FAIL.
- MAE increase: the output scaled by s against all-zero targets has an MAE exactly s times the reference's, on every
  row, so the increase is s - 1 with a zero-width interval; a limit above passes, below fails.
- ragged per-step labels: a per-step head is scored on the valid steps only, sum(lengths) predictions, not B x T.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgelstm.loading import load_model
from edgelstm.parity import CheckConfig, TolerancePolicy, run_check
from edgelstm.parity.data import load_sequence_data
from edgelstm.parity.report import CandidateResult, TaskCheck
from tests.support import gate_verdict_boundaries as shared
from tests.support.gate_verdict_boundaries import NUMBERS_OFF, N, T, _kept_class, _reference_argmax

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
classify = shared.classify
per_step = shared.per_step
regress = shared.regress


def _check(root: Path, artifact: Path, **limits: float) -> CandidateResult:
    loaded = load_model(str(root / "ckpt"))
    data = load_sequence_data(root / "data.npz", feature_size=5)
    policy = TolerancePolicy({"default": {**NUMBERS_OFF, **limits}})
    report = run_check([artifact], loaded, data, CheckConfig(providers=("cpu",), stress=False), policy, baseline=False)
    (candidate,) = report.candidates
    return candidate


def _task(candidate: CandidateResult, metric: str) -> TaskCheck:
    return next(t for t in candidate.tasks if t.metric == metric)


def test_top1_agreement_passes_at_its_limit_and_not_one_sequence_above(classify: Path) -> None:
    agree = int((_reference_argmax(classify) == _kept_class(classify)).sum())  # where the swap changes nothing
    assert 0 < agree < N - 1, "the data must give the swap some agreements and some disagreements"
    at_limit = _check(classify, classify / "swapped.onnx", min_top1_agreement=agree / N)
    top1 = _task(at_limit, "top1_agreement")
    assert top1.value == agree / N and top1.evidence is not None and top1.evidence.n == N
    assert top1.passed and at_limit.passed
    above = _check(classify, classify / "swapped.onnx", min_top1_agreement=(agree + 1) / N)
    assert not _task(above, "top1_agreement").passed and not above.passed


@pytest.mark.parametrize(("limit", "passed"), [(0.0501, True), (0.0499, False)], ids=["above", "below"])
def test_mae_increase_is_judged_at_its_limit(regress: Path, limit: float, passed: bool) -> None:
    candidate = _check(regress, regress / "scaled_1.05.onnx", max_mae_increase=limit)
    mae = _task(candidate, "mae_increase")
    assert mae.value == pytest.approx(0.05, abs=1e-5)
    assert mae.evidence is not None and mae.evidence.high - mae.evidence.low < 1e-5  # the same on every row
    assert mae.passed is passed and candidate.passed is passed


def test_ragged_per_step_rows_count_only_the_valid_steps(per_step: Path) -> None:
    lengths = np.load(per_step / "data.npz")["lengths"]
    argmax = _reference_argmax(per_step, lengths)
    valid = np.arange(T)[None, :] < lengths[:, None]
    masked, unmasked = float((argmax[valid] == 2).mean()), float((argmax == 2).mean())
    assert abs(masked - unmasked) > 1 / lengths.sum(), "padding must change the share, or this test proves nothing"
    top1 = _task(_check(per_step, per_step / "swapped.onnx", min_top1_agreement=0.0), "top1_agreement")
    assert top1.evidence is not None and top1.evidence.n == int(lengths.sum()) < N * T
    assert top1.value == pytest.approx(masked, abs=1e-12)
    assert top1.detail == f"over {int(lengths.sum())} predictions"
