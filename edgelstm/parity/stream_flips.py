"""Decisions flipped at the threshold and the largest |delta p|, judged against the budget per stream and per row."""

from __future__ import annotations

import numpy as np

from edgelstm.parity.evidence_strength import FAIL, Evidence, judge_rate, wilson_interval
from edgelstm.parity.stream_verdict import StreamCheckConfig


def flips_and_delta(p: np.ndarray, p_ref: np.ndarray, threshold: float) -> tuple[int, int, float]:
    """(decisions, flips at `threshold`, largest |p - p_ref|); a non-finite delta counts as infinite, never as small."""
    delta = np.abs(p - p_ref)
    flips = int(np.count_nonzero((p >= threshold) != (p_ref >= threshold)))
    return int(p.size), flips, float(delta.max()) if np.isfinite(delta).all() else float("inf")


def budget_failures(
    flips: int, decisions: int, judged: Evidence, max_abs_delta: float, output: str, config: StreamCheckConfig
) -> list[str]:
    """The budget's failures; flips only when the data resolve them (an unresolved count is inconclusive, not FAIL)."""
    failures = []
    budget = int(np.floor(config.max_flip_fraction * decisions))
    if judged.verdict == FAIL:
        failures.append(
            f"{flips} of {decisions} decisions flipped at {config.threshold:g} (budget {config.max_flip_fraction:.2%} = {budget})"
        )
    if not max_abs_delta <= config.max_abs_delta:
        failures.append(f"max |delta {output}| {max_abs_delta:.4g} > {config.max_abs_delta:g}")
    return failures


def flip_evidence(flips: int, decisions: int, max_fraction: float, strict: bool = False) -> Evidence:
    """The flip rate against its budget, with a Wilson interval. Consecutive chunks of one stream are not
    independent (a flip tends to last a few chunks), so the true interval is wider than this one."""
    return judge_rate(
        flips / max(decisions, 1),
        max_fraction,
        decisions,
        "decision",
        lambda m: wilson_interval(flips * m / max(decisions, 1), m),
        "Wilson score (chunks taken as independent)",
        higher_is_better=False,
        budget=max_fraction,
        strict=strict,
    )
