"""`--scheme auto`'s publish path (quantize/selection.py finish_selection): what the mutation run
(docs/testing/mutation.md) found unguarded, with timings injected as in test_auto_speed_rule.py.

- every row's size ratio is fp32 bytes over its bytes; a row without an artifact gets none;
- a refused row's reason says which session the rule was judged in, and how to publish it anyway.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgelstm.artifact.hints import InterfaceHints
from edgelstm.errors import ConfigError
from edgelstm.quantize import selection
from edgelstm.quantize.latency import plain_ratio
from edgelstm.quantize.pareto import pick_winner, within_speed_rule
from edgelstm.quantize.selection import finish_selection
from edgelstm.quantize.selection_table import Candidate
from tests.support.candidates import FP32_MS
from tests.support.candidates import published as _published
from tests.support.candidates import row as _row


def test_each_row_gets_fp32_bytes_over_its_bytes_and_a_row_without_an_artifact_none(tmp_path: Path) -> None:
    fp32 = _row("fp32", 100_000, FP32_MS, role="reference")
    int8 = _published(tmp_path, "int8", 25_000, FP32_MS)
    refused = Candidate("int4", None, refused="not applicable")
    finish_selection(fp32, [int8, refused], None, None, "size", timed=True)
    assert int8.size_ratio == 4.0 and fp32.size_ratio == 1.0
    assert refused.size_ratio is None


@pytest.mark.parametrize(("plain", "where"), [(None, "at 1 thread"), (1.5, "in a plain ONNX Runtime session")])
def test_a_refused_row_says_where_it_was_slow_and_how_to_publish_it(tmp_path: Path, plain: float | None, where: str) -> None:
    fp32 = _row("fp32", 100_000, FP32_MS, role="reference")
    slow = _published(tmp_path, "int4", 10_000, 1.5 * FP32_MS)
    if plain is not None:  # timed in the plain session too: the rule is judged there
        slow.plain_latency_ms, slow.plain_1thread_latency_ms = plain * FP32_MS, plain * FP32_MS
        fp32.plain_latency_ms, fp32.plain_1thread_latency_ms = FP32_MS, FP32_MS
    finish_selection(fp32, [slow], None, None, "size", timed=True)
    assert slow.lost == (
        f"refused: 1.50x slower than fp32 at batch 1 {where} (limit 1.1x; --objective size-at-any-cost publishes it)"
    )


def test_the_speed_objective_picks_the_faster_of_two_within_the_rule(tmp_path: Path) -> None:
    fp32 = _row("fp32", 100_000, FP32_MS, role="reference")
    small = _published(tmp_path, "int4", 10_000, 1.05 * FP32_MS)
    fast = _published(tmp_path, "int8", 30_000, 0.8 * FP32_MS)
    selection = finish_selection(fp32, [small, fast], None, None, "speed", timed=True)
    assert selection.winner is fast and selection.objective == "speed"
    assert finish_selection(fp32, [small, fast], None, None, "size", timed=True).winner is small


def test_only_the_published_candidates_keep_their_paths(tmp_path: Path) -> None:
    """The fp32 export and ORT's contender lived in a temporary directory: their rows forget the path."""
    fp32 = _row("fp32", 100_000, FP32_MS, tmp_path / "fp32.onnx", role="reference")
    contender = _row("ort-default", 40_000, FP32_MS, tmp_path / "ort.onnx", role="contender")
    int8 = _published(tmp_path, "int8", 25_000, FP32_MS)
    finish_selection(fp32, [int8, contender], None, None, "size", timed=True)
    assert fp32.result is not None and fp32.result.path is None
    assert contender.result is not None and contender.result.path is None
    assert int8.result is not None and int8.result.path == tmp_path / "int8.onnx"


def test_the_losers_reason_is_written_for_the_objective_asked(tmp_path: Path) -> None:
    # Under --objective speed the smaller but slower row lost on latency, and its reason must say so (not size's words).
    fp32 = _row("fp32", 100_000, FP32_MS, role="reference")
    small = _published(tmp_path, "int4", 10_000, 1.05 * FP32_MS)
    fast = _published(tmp_path, "int8", 30_000, 0.8 * FP32_MS)
    finish_selection(fp32, [small, fast], None, None, "speed", timed=True)
    assert small.lost == "1.31x the latency of int8"
    assert fp32.lost == "the float graph: int8 is 3.33x smaller within 1.1x of its speed"


def test_the_winner_is_a_passing_candidate_never_a_failed_or_a_contender_row(tmp_path: Path) -> None:
    fp32 = _row("fp32", 100_000, FP32_MS, role="reference")
    good = _published(tmp_path, "int8", 30_000, FP32_MS)
    failed = _published(tmp_path, "int4", 10_000, FP32_MS)
    failed.passed = False  # smaller and timed, but it failed the gate
    contender = _row("ort-default", 5_000, FP32_MS, role="contender")
    assert pick_winner([failed, contender, good], "size", FP32_MS) is good
    assert pick_winner([failed, contender, good]) is good  # the default objective is size
    assert finish_selection(fp32, [failed, contender, good], None, None, "size", timed=True).winner is good


def test_rows_not_timed_by_the_caller_are_timed_here_with_the_hints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[list[str], object]] = []

    def measure(rows: list[Candidate], data: object, hints: object = None) -> None:
        calls.append(([r.scheme for r in rows], hints))

    monkeypatch.setattr(selection, "measure_latencies", measure)
    fp32 = _row("fp32", 100_000, FP32_MS, tmp_path / "fp32.onnx", role="reference")
    int8 = _published(tmp_path, "int8", 25_000, FP32_MS)
    hints = InterfaceHints()
    finish_selection(fp32, [int8, Candidate("int4", None, refused="not applicable")], None, hints, "size")
    assert calls == [(["fp32", "int8"], hints)]  # every row with an artifact on disk, the caller's hints
    finish_selection(fp32, [int8], None, hints, "size", timed=True)
    assert len(calls) == 1  # the caller timed them: not again


# Survivors of the full run of publish (docs/testing/mutation.md, "Full run: comparison and publish").


def test_an_unknown_objective_is_refused_naming_the_choices() -> None:
    fp32 = _row("fp32", 100_000, FP32_MS, role="reference")
    with pytest.raises(ConfigError) as refused:
        finish_selection(fp32, [], None, None, "fastest", timed=True)  # type: ignore[arg-type]
    assert str(refused.value) == "objective 'fastest': choose size, speed, size-at-any-cost"


def test_rows_not_timed_by_the_caller_are_timed_on_the_callers_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    monkeypatch.setattr(selection, "measure_latencies", lambda rows, data, hints=None: seen.append(data))
    data = object()  # the sequences the rows are timed on: the user's data, never none
    fp32 = _row("fp32", 100_000, FP32_MS, tmp_path / "fp32.onnx", role="reference")
    finish_selection(fp32, [_published(tmp_path, "int8", 25_000, FP32_MS)], data, None, "size")  # type: ignore[arg-type]
    assert seen == [data]


def test_a_row_without_a_plain_session_timing_has_no_plain_ratio(tmp_path: Path) -> None:
    fp32 = _row("fp32", 100_000, FP32_MS, role="reference")
    fp32.plain_latency_ms, fp32.plain_1thread_latency_ms = FP32_MS, FP32_MS
    untimed = _row("int8", 25_000, FP32_MS)
    assert plain_ratio(untimed, fp32) is None and plain_ratio(fp32, untimed) is None
    # a refused row was never timed: the selection goes on and gives it no ratio
    refused = Candidate("int4", None, refused="not applicable")
    finish_selection(fp32, [refused], None, None, "size", timed=True)
    assert refused.plain_speed_ratio is None


def test_a_row_with_an_empty_result_gets_no_size_ratio(tmp_path: Path) -> None:
    fp32 = _row("fp32", 100_000, FP32_MS, role="reference")
    empty = _row("int4", 0, None)  # a result of 0 bytes (nothing written): no ratio, not a division by zero
    finish_selection(fp32, [empty], None, None, "size", timed=True)
    assert empty.size_ratio is None


def test_rows_of_equal_size_go_to_the_faster() -> None:
    slower, faster = _row("int8", 25_000, 1.5), _row("int8-per-channel", 25_000, 1.2)
    assert pick_winner([slower, faster], "size", FP32_MS) is faster
    assert pick_winner([faster, slower], "size", FP32_MS) is faster


def test_an_untimed_row_or_an_untimed_fp32_graph_is_never_within_the_speed_rule() -> None:
    assert within_speed_rule(_row("int8", 25_000, None), FP32_MS) is False
    assert within_speed_rule(_row("int8", 25_000, FP32_MS), None) is False
    assert within_speed_rule(_row("int8", 25_000, FP32_MS), FP32_MS) is True


def test_a_slow_row_whose_sidecar_is_already_gone_is_still_unpublished(tmp_path: Path) -> None:
    fp32 = _row("fp32", 100_000, FP32_MS, role="reference")
    slow = _published(tmp_path, "int4", 10_000, 1.5 * FP32_MS)
    (tmp_path / "int4.quant.json").unlink()
    finish_selection(fp32, [slow], None, None, "size", timed=True)
    assert not (tmp_path / "int4.onnx").exists() and slow.result is not None and slow.result.path is None
