"""The task-level rules of the gate (edgelstm/parity/task_checks.py) on hand-made rows with known answers.

The mutation run over the gate (docs/testing/mutation.md) left these lines alive: the check's name and detail, the
interval each check computes at this data size and at others (the data size that would resolve it), the budget one
sample must fit in, the strict-evidence switch, and that the MAE increase is a continuous value judged as "lower is
better". Every expected number here is recomputed from evidence_strength's functions, not read back from the check.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgelstm.parity.evidence_strength import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    bootstrap_interval,
    paired_difference_interval,
    wilson_interval,
)
from edgelstm.parity.task_checks import classification_checks, regression_checks
from edgelstm.parity.tolerances import ToleranceSpec

CLASSES = 4


def _logits(classes: np.ndarray) -> np.ndarray:
    """Rows whose argmax is `classes` (one-hot plus a small ramp, so no row ties)."""
    rows = np.tile(np.linspace(0.0, 0.1, CLASSES, dtype=np.float32), (len(classes), 1))
    rows[np.arange(len(classes)), classes] += 1.0
    return rows


def _agreeing(n: int, disagree: int) -> tuple[np.ndarray, np.ndarray]:
    ref_classes = np.arange(n) % CLASSES
    cand_classes = ref_classes.copy()
    cand_classes[:disagree] = (cand_classes[:disagree] + 1) % CLASSES
    return _logits(cand_classes), _logits(ref_classes)


# ---- top-1 agreement ----


def test_agreement_names_its_case_and_its_wilson_interval_at_this_data_size() -> None:
    cand, ref = _agreeing(60, disagree=3)
    (check,) = classification_checks("real data", cand, ref, None, ToleranceSpec(min_top1_agreement=0.9), "sequence", False)
    assert (check.case, check.metric) == ("real data", "top1_agreement")
    assert check.value == pytest.approx(57 / 60)
    low, high = wilson_interval(57, 60)
    assert (check.evidence.low, check.evidence.high) == (pytest.approx(low), pytest.approx(high))
    assert check.evidence.budget == pytest.approx(0.1)
    assert check.evidence.higher_is_better is True and check.evidence.step == pytest.approx(1 / 60)
    assert check.passed and check.evidence.verdict == PASS


def test_an_unresolved_agreement_pass_is_inconclusive_only_under_strict_evidence() -> None:
    # 50 of 50 agree against a 0.99 floor: within, but one sample (2 %) does not fit the 1 % budget
    cand, ref = _agreeing(50, disagree=0)
    spec = ToleranceSpec(min_top1_agreement=0.99)
    (lenient,) = classification_checks("c", cand, ref, None, spec, "sequence", False)
    (strict,) = classification_checks("c", cand, ref, None, spec, "sequence", True)
    assert lenient.evidence.verdict == PASS and lenient.passed
    assert strict.evidence.verdict == INCONCLUSIVE and not strict.passed
    # at least 100 (one sample is then 1 %) and the Wilson interval of 100 % agreement must clear 0.99
    assert strict.evidence.needed_n == next(m for m in range(100, 10_000) if wilson_interval(m, m)[0] >= 0.99)


def test_a_failing_agreement_names_the_data_size_that_would_resolve_it() -> None:
    # 45 of 50 against 0.95: 90 % observed, the Wilson interval at 50 still reaches above 95 %
    cand, ref = _agreeing(50, disagree=5)
    (check,) = classification_checks("c", cand, ref, None, ToleranceSpec(min_top1_agreement=0.95), "sequence", False)
    assert check.evidence.verdict == INCONCLUSIVE
    # smallest m at which the interval of the same 90 % lies wholly below 0.95
    expected = next(m for m in range(50, 5000) if wilson_interval(0.9 * m, m)[1] < 0.95)
    assert check.evidence.needed_n == expected


# ---- accuracy against labels ----


def test_accuracy_delta_is_paired_on_the_discordant_sequences() -> None:
    y = np.arange(40) % CLASSES
    ref_classes, cand_classes = y.copy(), y.copy()
    ref_classes[:6] = (y[:6] + 1) % CLASSES  # the reference misses 6 ...
    cand_classes[4:10] = (y[4:10] + 2) % CLASSES  # ... the artifact 6: 4 gained (0-3), 4 lost (6-9), 2 both wrong
    spec = ToleranceSpec(min_top1_agreement=0.0, max_accuracy_drop=0.5)
    _, accuracy = classification_checks("acc", _logits(cand_classes), _logits(ref_classes), y, spec, "sequence", False)
    assert (accuracy.case, accuracy.metric) == ("acc", "accuracy_delta")
    assert accuracy.value == pytest.approx(0.0)
    low, high = paired_difference_interval(4, 4, 40)
    assert (accuracy.evidence.low, accuracy.evidence.high) == (pytest.approx(low), pytest.approx(high))
    assert "4 gained, 4 lost of 40" in accuracy.detail


# ---- MAE increase ----


def _regression(n: int, worse: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(n, 3)).astype(np.float32)
    ref = y + rng.normal(scale=0.1, size=y.shape).astype(np.float32)
    factor = worse + rng.normal(scale=0.3, size=(n, 1)).astype(np.float32)  # rows differ: the interval has width
    cand = y + (ref - y) * factor
    return cand, ref, y


def test_mae_increase_is_a_continuous_lower_is_better_value_named_with_both_maes() -> None:
    cand, ref, y = _regression(80, worse=1.5)
    spec = ToleranceSpec(max_mae_increase=0.05)
    (check,) = regression_checks("forecast", cand, ref, y, spec, "sequence", 7, False)
    mae_c, mae_r = float(np.abs(cand - y).mean()), float(np.abs(ref - y).mean())
    assert (check.case, check.metric) == ("forecast", "mae_increase")
    assert check.value == pytest.approx((mae_c - mae_r) / mae_r, rel=1e-5)
    assert check.detail == f"MAE {mae_c:.4g} vs reference {mae_r:.4g}"
    ev = check.evidence
    assert ev.higher_is_better is False and ev.step is None  # continuous: no one-sample step, no budget to fit
    assert ev.verdict == FAIL and not check.passed


def test_an_unresolved_mae_failure_scales_its_bootstrap_interval_to_the_data_size_that_resolves_it() -> None:
    # barely over the limit on few rows: beyond it, but the interval still reaches below it
    cand, ref, y = _regression(12, worse=1.06, seed=3)
    spec = ToleranceSpec(max_mae_increase=0.05)
    (check,) = regression_checks("r", cand, ref, y, spec, "sequence", 0, False)
    err_c = np.abs(cand - y).mean(axis=1)
    err_r = np.abs(ref - y).mean(axis=1)
    increase = (err_c.mean() - err_r.mean()) / err_r.mean()
    low, high = bootstrap_interval(lambda rows: float((err_c[rows].mean() - err_r[rows].mean()) / err_r[rows].mean()), 12, seed=0)
    assert check.evidence.verdict == INCONCLUSIVE, check.evidence
    assert (check.evidence.low, check.evidence.high) == (pytest.approx(low), pytest.approx(high))
    # the low side narrows as sqrt(12 / m): the first m at which it clears the limit
    expected = next(m for m in range(12, 100_000) if increase - (increase - low) * (12 / m) ** 0.5 > 0.05)
    assert check.evidence.needed_n == expected


def test_an_unresolved_mae_pass_is_inconclusive_only_under_strict_evidence() -> None:
    cand, ref, y = _regression(12, worse=0.9, seed=3)
    spec = ToleranceSpec(max_mae_increase=0.05)
    (lenient,) = regression_checks("r", cand, ref, y, spec, "sequence", 0, False)
    (strict,) = regression_checks("r", cand, ref, y, spec, "sequence", 0, True)
    assert lenient.evidence.within and not lenient.evidence.resolved, lenient.evidence
    assert lenient.evidence.verdict == PASS and strict.evidence.verdict == INCONCLUSIVE
