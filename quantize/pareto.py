"""auto's winner among gated rows: the speed rule, the size/latency Pareto front, and why each row lost."""

from __future__ import annotations

from edgelstm.quantize.cannot_win import was_gated
from edgelstm.quantize.gate import NOT_GATED
from edgelstm.quantize.selection_table import SPEED_LIMIT, Candidate, Objective

# Latencies within this factor of each other count as the same speed when a row's loss is put in words.
EQUAL_SPEED = 1.1


def pick_winner(candidates: list[Candidate], objective: Objective = "size", fp32_ms: float | None = None) -> Candidate | None:
    """The smallest (objective size) or fastest (speed) published passing artifact at most SPEED_LIMIT x slower
    than the fp32 graph; size-at-any-cost: the smallest passing one, whatever its speed. Ties go to the faster
    (size) or the smaller (speed)."""
    passing = [c for c in candidates if c.role == "candidate" and c.passed and c.result is not None and c.latency_ms is not None]
    if objective != "size-at-any-cost" and fp32_ms:
        passing = [c for c in passing if within_speed_rule(c, fp32_ms)]
    if not passing:
        return None
    if objective == "speed":
        return min(passing, key=lambda c: (c.latency_ms or 0.0, c.size_bytes))
    return min(passing, key=lambda c: (c.size_bytes, c.latency_ms or 0.0))


def within_speed_rule(row: Candidate, fp32_ms: float | None) -> bool:
    """At most SPEED_LIMIT x the fp32 graph: in a plain ORT session where both were timed there (issue 19: what a
    user's app gets), else in edgelstm's 1-thread session."""
    if row.plain_speed_ratio is not None:
        return row.plain_speed_ratio <= SPEED_LIMIT
    if row.latency_ms is None or not fp32_ms:
        return False
    return row.latency_ms <= SPEED_LIMIT * fp32_ms


def mark_front(rows: list[Candidate]) -> None:
    """On the front: a passing, timed row no other passing row beats on both bytes and latency."""
    timed = [r for r in rows if r.passed and r.result is not None and r.latency_ms is not None]
    for row in timed:
        row.on_front = not any(_dominates(other, row) for other in timed if other is not row)


def _dominates(a: Candidate, b: Candidate) -> bool:
    """Whether `a` is no worse than `b` in bytes and latency and better in one of them."""
    assert a.latency_ms is not None and b.latency_ms is not None
    no_worse = a.size_bytes <= b.size_bytes and a.latency_ms <= b.latency_ms
    return no_worse and (a.size_bytes < b.size_bytes or a.latency_ms < b.latency_ms)


def loss_reason(row: Candidate, winner: Candidate | None, objective: Objective) -> str:
    """Why `row` is not the winner, in words a user can act on."""
    if row.refused:
        return "refused: " + row.refused.split(" refused: ", 1)[-1]
    if not was_gated(row.summary):
        return f"not gated: {row.summary[NOT_GATED]}"
    if not row.passed:
        failures = row.summary.get("failures") or []
        # the data could not resolve a budget: not the artifact's failure, and not a pass either
        first = failures[0] if failures else "see its parity summary"
        if row.summary.get("verdict") == "inconclusive":
            return "gate inconclusive: " + first.removeprefix("inconclusive: ")
        return "failed the gate: " + first
    prefix = "ORT's default quantize_dynamic, shown for comparison; " if row.role == "contender" else ""
    if winner is None:
        return prefix + (
            "the float graph: no quantized artifact met the budget and the speed rule"
            if row.role == "reference"
            else "not picked"
        )
    if winner.result is None or row.latency_ms is None or winner.latency_ms is None:
        return prefix + f"not picked ({winner.scheme} won)"
    times = row.size_bytes / winner.size_bytes if winner.size_bytes else 0.0
    speed = row.latency_ms / winner.latency_ms if winner.latency_ms else 0.0
    if row.role == "reference":
        return f"the float graph: {winner.scheme} is {times:.2f}x smaller" + (
            "" if objective == "size-at-any-cost" else f" within {SPEED_LIMIT:g}x of its speed"
        )
    if objective == "speed":
        if speed > 1.0:
            return prefix + f"{speed:.2f}x the latency of {winner.scheme}"
        return prefix + f"as fast as {winner.scheme} but {times:.2f}x its bytes"
    if times > 1.0:
        if speed > EQUAL_SPEED:
            return prefix + f"larger ({times:.2f}x the bytes) and {speed:.2f}x slower than {winner.scheme}"
        if speed >= 1 / EQUAL_SPEED:
            return prefix + f"larger than {winner.scheme} ({times:.2f}x the bytes) at equal speed"
        return (
            prefix
            + f"larger than {winner.scheme} ({times:.2f}x the bytes); faster ({speed:.2f}x its latency), but the objective is size"
        )
    return prefix + f"as small as {winner.scheme} but {speed:.2f}x its latency"
