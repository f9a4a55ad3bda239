"""`--scheme auto`'s speed rule, with timings injected: an artifact more than SPEED_LIMIT x slower than the fp32 graph
at batch 1 is never the winner and is not published (objectives size and speed); size-at-any-cost ignores the rule.

The rule lives in four places -- pick_winner (within_speed_rule), finish_selection's unpublishing, CannotWinGate's
early decline and its choice of the bar, premise_holds -- each tested here at its boundary. It is judged on the plain
ORT session ratio (the worse of ORT's default threads and 1 thread) where both rows were timed there, else on
edgelstm's 1-thread session. No timing is measured: latencies are given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgelstm.quantize.cannot_win import CLEARLY_SLOWER, CannotWinGate, premise_holds
from edgelstm.quantize.gate import NOT_GATED
from edgelstm.quantize.pareto import pick_winner, within_speed_rule
from edgelstm.quantize.selection import finish_selection
from edgelstm.quantize.selection_table import SPEED_LIMIT, Candidate
from tests.support.candidates import FP32_MS
from tests.support.candidates import published as _published
from tests.support.candidates import row as _row


def test_the_limit_is_the_documented_one() -> None:
    assert SPEED_LIMIT == 1.1 and CLEARLY_SLOWER == 2.0


@pytest.mark.parametrize(("ratio", "small_wins"), [(1.1, True), (1.1001, False), (3.0, False)])
def test_the_smallest_wins_only_within_the_speed_limit(ratio: float, small_wins: bool) -> None:
    small, larger = _row("int4", 10_000, ratio * FP32_MS), _row("int8", 30_000, 1.0 * FP32_MS)
    winner = pick_winner([small, larger], "size", FP32_MS)
    assert winner is (small if small_wins else larger)


def test_speed_objective_picks_the_fastest_within_the_rule_and_any_cost_ignores_it() -> None:
    slow_small, fast = _row("int4", 10_000, 1.5 * FP32_MS), _row("int8", 30_000, 0.9 * FP32_MS)
    assert pick_winner([slow_small, fast], "speed", FP32_MS) is fast
    assert pick_winner([slow_small], "size", FP32_MS) is None  # nothing within the rule: no winner
    assert pick_winner([slow_small], "speed", FP32_MS) is None
    assert pick_winner([slow_small, fast], "size-at-any-cost", FP32_MS) is slow_small


@pytest.mark.parametrize("objective", ["size", "speed"])
def test_finish_selection_unpublishes_the_slow_smaller_artifact_and_names_the_rule(tmp_path: Path, objective: str) -> None:
    fp32 = _row("fp32", 100_000, FP32_MS, role="reference")
    slow = _published(tmp_path, "int4", 10_000, 1.5 * FP32_MS)
    within = _published(tmp_path, "int8", 30_000, 1.05 * FP32_MS)
    selection = finish_selection(fp32, [slow, within], None, None, objective, timed=True)  # type: ignore[arg-type]
    assert selection.winner is within
    assert slow.speed_ratio == pytest.approx(1.5)
    assert slow.lost.startswith("refused: 1.50x slower than fp32 at batch 1") and "(limit 1.1x" in slow.lost
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int8.onnx", "int8.quant.json"]  # int4's pair removed
    assert slow.result is not None and slow.result.path is None


def test_finish_selection_under_size_at_any_cost_keeps_and_picks_the_slow_artifact(tmp_path: Path) -> None:
    fp32 = _row("fp32", 100_000, FP32_MS, role="reference")
    slow = _published(tmp_path, "int4", 10_000, 1.5 * FP32_MS)
    within = _published(tmp_path, "int8", 30_000, 1.05 * FP32_MS)
    selection = finish_selection(fp32, [slow, within], None, None, "size-at-any-cost", timed=True)
    assert selection.winner is slow and not slow.lost.startswith("refused")
    assert (tmp_path / "int4.onnx").exists()


class _RecordingGate:
    """A gate that passes everything and records what it was asked to run."""

    def __init__(self) -> None:
        self.ran: list[Path] = []

    def run(self, path: Path) -> dict[str, Any]:
        self.ran.append(path)
        return {"passed": True}


@pytest.mark.parametrize(
    ("objective", "ratio", "gated"),
    [
        ("size", 2.2001, False),  # beyond CLEARLY_SLOWER x the limit: declined before the gate runs
        ("size", 2.2, True),  # at it: gated, the final timing decides
        ("speed", 5.0, False),
        ("size-at-any-cost", 5.0, True),  # no speed rule
        ("size", None, True),  # not timed early: gated
    ],
)
def test_an_early_timing_declines_only_what_is_clearly_beyond_the_rule(objective: str, ratio: float | None, gated: bool) -> None:
    gate = _RecordingGate()
    bounded = CannotWinGate(gate, objective, SPEED_LIMIT, lambda path: ratio)  # type: ignore[arg-type]
    summary = bounded.run(Path("candidate.onnx"))
    assert (gate.ran == [Path("candidate.onnx")]) is gated
    if not gated:
        assert summary["passed"] is False and "slower than fp32 at batch 1" in summary[NOT_GATED]


@pytest.mark.parametrize(("ratio", "becomes_bar"), [(1.1, True), (1.1001, False), (None, False)])
def test_only_an_artifact_within_the_rule_becomes_the_bar_others_are_declined_against(
    tmp_path: Path, ratio: float | None, becomes_bar: bool
) -> None:
    bounded = CannotWinGate(_RecordingGate(), "size", SPEED_LIMIT, lambda path: ratio)  # type: ignore[arg-type]
    candidate = _published(tmp_path, "int8", 30_000, 1.0)
    bounded.run(candidate.result.path)  # type: ignore[union-attr,arg-type]
    bounded.consider(candidate)
    assert (bounded.bar is candidate) is becomes_bar
    # A larger artifact is declined unbuilt only when a bar exists, i.e. only behind a row within the rule.
    assert (bounded.decline(40_000) is not None) is becomes_bar


@pytest.mark.parametrize(("bar_ms", "holds"), [(1.1 * FP32_MS, True), (1.1001 * FP32_MS, False)])
def test_the_declined_rows_are_gated_after_all_when_the_bar_breaks_the_rule_in_the_final_timing(
    bar_ms: float, holds: bool
) -> None:
    bar = _row("int8", 30_000, bar_ms)
    assert premise_holds(bar, "size", FP32_MS, SPEED_LIMIT) is holds
    assert premise_holds(bar, "size-at-any-cost", FP32_MS, SPEED_LIMIT)  # no rule to break


def _plain(row: Candidate, default_ms: float, one_thread_ms: float) -> Candidate:
    row.plain_latency_ms, row.plain_1thread_latency_ms = default_ms, one_thread_ms
    return row


@pytest.mark.parametrize(
    ("default_ratio", "one_thread_ratio", "within"),
    [(1.1, 1.0, True), (1.0, 1.1001, False), (1.1001, 0.5, False), (0.5, 0.5, True)],
)
def test_the_plain_session_ratio_decides_where_it_was_timed(
    tmp_path: Path, default_ratio: float, one_thread_ratio: float, within: bool
) -> None:
    """The worse of the two plain ratios is judged, whatever edgelstm's own 1-thread session measured (here: fast)."""
    fp32 = _plain(_row("fp32", 100_000, FP32_MS, role="reference"), 4.0, 8.0)
    row = _plain(_published(tmp_path, "int8", 30_000, 0.5 * FP32_MS), default_ratio * 4.0, one_thread_ratio * 8.0)
    finish_selection(fp32, [row], None, None, "size", timed=True)
    assert row.plain_speed_ratio == pytest.approx(max(default_ratio, one_thread_ratio))
    assert within_speed_rule(row, FP32_MS) is within
    assert (pick_winner([row], "size", FP32_MS) is row) is within
    assert (tmp_path / "int8.onnx").exists() is within  # unpublished when over the rule
    assert premise_holds(row, "size", FP32_MS, SPEED_LIMIT) is within


def test_a_row_slow_in_the_plain_session_is_unpublished_though_fast_in_edgelstms(tmp_path: Path) -> None:
    fp32 = _plain(_row("fp32", 100_000, FP32_MS, role="reference"), 4.0, 8.0)
    slow = _plain(_published(tmp_path, "int4", 10_000, 0.9 * FP32_MS), 4.0, 1.5 * 8.0)
    selection = finish_selection(fp32, [slow], None, None, "size", timed=True)
    assert selection.winner is None
    assert slow.lost.startswith("refused: 1.50x slower than fp32 at batch 1 in a plain ONNX Runtime session")
    assert not (tmp_path / "int4.onnx").exists()
