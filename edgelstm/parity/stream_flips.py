"""Decisions flipped at the threshold and the largest |delta p|, judged against the budget per stream and per row."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgelstm.parity.evidence_strength import FAIL, Evidence, judge_rate, wilson_interval
from edgelstm.parity.stream_data import StreamData, chunk_kinds
from edgelstm.parity.stream_verdict import StreamCheckConfig, StreamRowResult


@dataclass(frozen=True)
class RowsOf:
    """The names and per-chunk segment kinds of the data's rows, for the per-row verdicts."""

    names: list[str]
    kinds: list[list[str]]  # per row, per chunk; empty where the row is not described


def rows_of(data: StreamData, chunk: int, chunks: int) -> RowsOf:
    described = len(data.rows) == data.x.shape[0]
    kinds = [chunk_kinds(r, chunk, chunks) for r in data.rows] if described else [[] for _ in range(data.x.shape[0])]
    return RowsOf(data.row_names(), kinds)


def flips_and_delta(p: np.ndarray, p_ref: np.ndarray, threshold: float) -> tuple[int, int, float]:
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


def row_result(
    rows: RowsOf, index: int, p: np.ndarray, p_ref: np.ndarray, output: str, config: StreamCheckConfig
) -> StreamRowResult:
    """One row's decisions ([..., chunks]), with its flips counted per segment kind when the row is described."""
    decisions, flips, max_abs_delta = flips_and_delta(p, p_ref, config.threshold)
    row = StreamRowResult(rows.names[index], decisions, flips, max_abs_delta)
    kinds = rows.kinds[index]
    if kinds:
        flipped = ((p >= config.threshold) != (p_ref >= config.threshold)).reshape(-1, p.shape[-1]).sum(axis=0)
        for kind, count in zip(kinds, flipped.tolist(), strict=True):
            if kind:
                row.flips_by_kind[kind] = row.flips_by_kind.get(kind, 0) + int(count)
    row.flip_evidence = flip_evidence(flips, decisions, config.max_flip_fraction, config.strict_evidence)
    row.failures = budget_failures(flips, decisions, row.flip_evidence, max_abs_delta, output, config)
    return row


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
