"""auto's one Pareto table: every row (fp32, each scheme, ORT's default beside) with the reason each loser lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgelstm.jsonio import to_jsonable
from edgelstm.quantize.api import QuantizeResult
from edgelstm.quantize.pareto import loss_reason, mark_front, pick_winner
from edgelstm.quantize.selection_table import Candidate, SelectionResult


def _row(name: str, size: int, latency: float | None, passed: bool = True, role: str = "candidate", **kw) -> Candidate:
    result = QuantizeResult(name, {}, "m", 100_000, size_bytes=size)
    return Candidate(name, result, passed=passed, latency_ms=latency, role=role, **kw)


def test_front_holds_the_rows_no_other_passing_row_beats_on_bytes_and_latency() -> None:
    fp32 = _row("fp32", 100_000, 0.95, role="reference")  # the fastest: on the front however big
    wo8 = _row("weight-only-int8", 27_000, 1.0)
    wo4 = _row("weight-only-int4", 15_000, 1.05)
    dyn = _row("dynamic-int8", 28_000, 1.2)  # bigger and slower than weight-only-int8: dominated
    failed = _row("x", 1_000, None, passed=False)
    mark_front([fp32, wo8, wo4, dyn, failed])
    assert [r.on_front for r in (fp32, wo8, wo4, dyn, failed)] == [True, True, True, False, False]


def test_each_loser_gets_a_reason_in_words() -> None:
    winner = _row("weight-only-int8", 27_000, 1.0)
    assert "larger than weight-only-int8" in loss_reason(_row("dynamic-int8", 28_000, 1.02), winner, "size")
    assert "at equal speed" in loss_reason(_row("dynamic-int8", 28_000, 1.02), winner, "size")
    assert "2.00x slower" in loss_reason(_row("loop", 30_000, 2.0), winner, "size")
    fp32 = _row("fp32", 100_000, 1.0, role="reference")
    assert loss_reason(fp32, winner, "size").startswith("the float graph: weight-only-int8 is 3.70x smaller")
    gate_failure = _row("int4", 10_000, None, passed=False, summary={"failures": ["12 of 313 decisions flipped > 3"]})
    assert loss_reason(gate_failure, winner, "size") == "failed the gate: 12 of 313 decisions flipped > 3"
    refused = Candidate("fp16", refused="fp16 refused: no float16 LSTM kernel on this provider")
    assert loss_reason(refused, winner, "size") == "refused: no float16 LSTM kernel on this provider"
    ort = _row("ort-quantize-dynamic", 40_000, 1.3, role="contender")
    assert loss_reason(ort, winner, "size").startswith("ORT's default quantize_dynamic, shown for comparison")
    assert "latency of weight-only-int8" in loss_reason(_row("slow", 10_000, 1.5), winner, "speed")


def test_the_reference_and_contenders_never_win() -> None:
    rows = [_row("fp32", 100, 0.5, role="reference"), _row("ort", 10, 0.5, role="contender"), _row("wo8", 30, 0.5)]
    assert pick_winner(rows, "size", 0.5) is rows[2]
    assert pick_winner(rows[:2], "size-at-any-cost", 0.5) is None


def test_table_and_json_carry_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    from edgelstm.quantize.render import print_selection

    fp32 = _row("fp32", 100_000, 1.0, role="reference", size_ratio=1.0, speed_ratio=1.0)
    wo8 = _row("weight-only-int8", 27_000, 1.0, size_ratio=3.7, speed_ratio=1.0, on_front=True)
    slow = _row("dynamic-int8", 25_000, 2.0, size_ratio=4.0, speed_ratio=2.0, lost="refused: 2.00x slower than fp32")
    fp32.lost = loss_reason(fp32, wo8, "size")
    selection = SelectionResult([fp32, wo8, slow], wo8)
    data = to_jsonable(selection)
    assert data["winner"] == "weight-only-int8" and data["speed_limit_vs_fp32"] == 1.1
    assert [c["scheme"] for c in data["candidates"]] == ["fp32", "weight-only-int8", "dynamic-int8"]
    assert data["candidates"][2]["lost"].startswith("refused: 2.00x slower")
    print_selection(selection)
    out = capsys.readouterr().out
    assert "winner" in out and "2.00x slower" in out and "3.70x" in out


def _timed(name: str, size: int, ms: float, plain: float, plain_1t: float, role: str = "candidate", path: Path | None = None):
    row = _row(name, size, ms, role=role)
    row.plain_latency_ms, row.plain_1thread_latency_ms = plain, plain_1t
    assert row.result is not None
    row.result.path = path
    return row


def test_the_speed_rule_is_judged_in_the_plain_session(tmp_path: Path) -> None:
    """Issue 19: fast in edgelstm's session but slow in a plain InferenceSession(path) is refused (and unpublished);
    slow at edgelstm's 1-thread setting but within the rule in the plain session can win. No clock involved."""
    from edgelstm.quantize.selection import finish_selection

    def written(name: str) -> Path:
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(b"x")
        return path

    fp32 = _timed("fp32", 100_000, 1.0, 1.0, 1.0, role="reference")
    # DequantizeLinear-style: as fast as float with edgelstm's session entry, 1.6x slower without it
    qdq = _timed("weight-only-int4", 15_000, 1.0, 1.6, 1.5, path=written("qdq"))
    # the worse plain setting counts: fine at ORT's default threads, 1.3x at 1 thread
    one_thread = _timed("weight-only-int2", 10_000, 1.0, 1.0, 1.3, path=written("one"))
    folded = _timed("weight-only-int8", 27_000, 1.3, 1.05, 1.02, path=written("folded"))
    selection = finish_selection(fp32, [qdq, one_thread, folded], None, None, "size", timed=True)
    assert selection.winner is folded
    assert qdq.plain_speed_ratio == pytest.approx(1.6) and one_thread.plain_speed_ratio == pytest.approx(1.3)
    for refused in (qdq, one_thread):
        assert refused.lost.startswith("refused:") and "in a plain ONNX Runtime session" in refused.lost
        assert refused.result is not None and refused.result.path is None  # unpublished
    assert not (tmp_path / "qdq.onnx").exists() and (tmp_path / "folded.onnx").exists()
    data = to_jsonable(folded)
    assert data["plain_session"] == {"latency_ms_batch1": 1.05, "latency_ms_batch1_1thread": 1.02, "latency_vs_fp32": 1.05}
    assert data["speed_rule_judged_on"] == "plain session" and data["latency_vs_fp32"] == pytest.approx(1.3)
    assert "in a plain ONNX Runtime session" in selection.why


def test_without_plain_timings_the_rule_falls_back_to_edgelstm_session() -> None:
    """Rows timed before issue 19 (no plain figures) are judged as before: latency_ms against the fp32 graph's."""
    fast, slow = _row("a", 10_000, 1.05, speed_ratio=1.05), _row("b", 5_000, 1.2)
    assert pick_winner([fast, slow], "size", 1.0) is fast
    assert to_jsonable(fast)["speed_rule_judged_on"] == "edgelstm session"
    assert to_jsonable(_row("untimed", 1, None))["speed_rule_judged_on"] is None


def test_auto_times_each_artifact_in_edgelstm_and_two_plain_sessions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """measure_latencies opens three sessions per artifact through session_from_onnx (edgelstm's 1-thread one, a
    plain one with ORT's defaults, a plain one at 1 thread), times them in ONE interleaved run, pauses after ORT's
    spinning default pool, and puts each median in its field."""
    from edgelstm.quantize import latency as latency_module
    from edgelstm.timing import Timing

    opened = []

    class FakeSession:
        def get_inputs(self) -> list:
            return []

        def run(self, *args) -> None:
            return None

    def fake_session(path, settings):
        opened.append((path.name, settings))
        return FakeSession()

    runs = []

    def fake_timer(calls, settings, busy):
        runs.append(list(busy))
        return [Timing.from_samples([float(i + 1)]) for i in range(len(calls))]

    monkeypatch.setattr(latency_module, "session_from_onnx", fake_session)
    monkeypatch.setattr(latency_module, "_batch1_feeds", lambda path, data, hints=None: {})
    monkeypatch.setattr(latency_module, "time_interleaved", fake_timer)
    rows = [_timed(n, 1, 0.0, 0.0, 0.0, path=tmp_path / f"{n}.onnx") for n in ("fp32", "int8")]
    latency_module.measure_latencies(rows, None)
    assert len(runs) == 1 and runs[0] == [False, True, False] * 2
    assert [(name, s.plain, s.intra_op_threads) for name, s in opened] == [
        (f"{n}.onnx", plain, threads) for n in ("fp32", "int8") for plain, threads in ((False, 1), (True, 0), (True, 1))
    ]
    assert [(r.latency_ms, r.plain_latency_ms, r.plain_1thread_latency_ms) for r in rows] == [(1.0, 2.0, 3.0), (4.0, 5.0, 6.0)]
