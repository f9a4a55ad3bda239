"""Task-level checks of one candidate: top-1 agreement and accuracy (classifiers), MAE increase (regressors), each with
the interval that says whether the data resolve it against its budget."""

from __future__ import annotations

import numpy as np

from edgelstm.parity.evidence_strength import (
    BOOTSTRAP_RESAMPLES,
    PASS,
    bootstrap_interval,
    judge_rate,
    paired_difference_interval,
    wilson_interval,
)
from edgelstm.parity.report import TaskCheck
from edgelstm.parity.tolerances import ToleranceSpec


def classification_checks(
    name: str, cand: np.ndarray, ref: np.ndarray, y: np.ndarray | None, spec: ToleranceSpec, unit: str, strict: bool
) -> list[TaskCheck]:
    """Top-1 agreement with the reference (Wilson interval) and, with labels, the accuracy change (paired interval)."""
    checks: list[TaskCheck] = []
    same = cand.argmax(-1) == ref.argmax(-1)
    n, agree_count = len(same), int(same.sum())
    agree = agree_count / n
    evidence = judge_rate(
        agree,
        spec.min_top1_agreement,
        n,
        unit,
        lambda m: wilson_interval(agree_count * m / n, m),
        "Wilson score",
        higher_is_better=True,
        budget=1.0 - spec.min_top1_agreement,
        strict=strict,
    )
    checks.append(
        TaskCheck(
            name,
            "top1_agreement",
            agree,
            spec.min_top1_agreement,
            evidence.verdict == PASS,
            f"over {n} predictions",
            evidence=evidence,
        )
    )
    if y is not None and y.shape[0] == cand.shape[0] and y.ndim == 1:
        right_c = cand.argmax(-1) == y
        right_r = ref.argmax(-1) == y
        acc_c, acc_r = float(np.mean(right_c)), float(np.mean(right_r))
        delta = acc_c - acc_r
        # Paired: both models judged on the same sequences; only the discordant ones carry information.
        gained, lost, m0 = int(np.sum(right_c & ~right_r)), int(np.sum(~right_c & right_r)), len(y)
        evidence = judge_rate(
            delta,
            -spec.max_accuracy_drop,
            m0,
            unit,
            lambda m: paired_difference_interval(gained * m / m0, lost * m / m0, m),
            "Tango score, paired",
            higher_is_better=True,
            budget=spec.max_accuracy_drop,
            strict=strict,
        )
        checks.append(
            TaskCheck(
                name,
                "accuracy_delta",
                delta,
                -spec.max_accuracy_drop,
                evidence.verdict == PASS,
                f"accuracy {acc_c:.2%} vs reference {acc_r:.2%}; {gained} gained, {lost} lost of {m0}",
                candidate_value=acc_c,
                reference_value=acc_r,
                evidence=evidence,
            )
        )
    return checks


def regression_checks(
    name: str, cand: np.ndarray, ref: np.ndarray, y: np.ndarray, spec: ToleranceSpec, unit: str, seed: int, strict: bool
) -> list[TaskCheck]:
    """The relative MAE increase over the reference against the labels, with a paired bootstrap interval."""
    checks: list[TaskCheck] = []
    err_c = np.abs(cand.reshape(y.shape) - y).reshape(len(y), -1).mean(axis=1)
    err_r = np.abs(ref.reshape(y.shape) - y).reshape(len(y), -1).mean(axis=1)
    mae_c, mae_r = float(np.mean(err_c)), float(np.mean(err_r))
    increase = (mae_c - mae_r) / max(mae_r, 1e-12)

    def relative(rows: np.ndarray) -> float:
        return float((err_c[rows].mean() - err_r[rows].mean()) / max(err_r[rows].mean(), 1e-12))

    n = len(err_c)
    low, high = bootstrap_interval(relative, n, seed=seed)

    def scaled(m: float) -> tuple[float, float]:
        # the bootstrap's spread shrinks as 1/sqrt(n): what the same rows would give over m
        shrink = (n / m) ** 0.5
        return increase - (increase - low) * shrink, increase + (high - increase) * shrink

    evidence = judge_rate(
        increase,
        spec.max_mae_increase,
        n,
        unit,
        scaled,
        f"paired bootstrap, {BOOTSTRAP_RESAMPLES} resamples of rows, seed " + str(seed),
        higher_is_better=False,
        budget=spec.max_mae_increase,
        discrete=False,
        strict=strict,
    )
    checks.append(
        TaskCheck(
            name,
            "mae_increase",
            increase,
            spec.max_mae_increase,
            evidence.verdict == PASS,
            f"MAE {mae_c:.4g} vs reference {mae_r:.4g}",
            candidate_value=mae_c,
            reference_value=mae_r,
            evidence=evidence,
        )
    )
    return checks
