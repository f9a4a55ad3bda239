"""Output that says what happened (issue 19 item 8): auto names the file it published and what the others are; a
scheme whose graph form can be slower than float says so; distill's report never marks "met" an artifact quantize's
gate rejects or one slower than the teacher's ONNX graph."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgelstm.distill.metrics import TaskMetric
from edgelstm.distill.report import ArtifactScore, DistillReport
from edgelstm.jsonio import to_jsonable
from edgelstm.quantize.api import QuantizeResult
from edgelstm.quantize.render import published_lines
from edgelstm.quantize.selection_table import Candidate, SelectionResult


def _candidate(scheme: str, path: Path | None, speed: float, lost: str = "") -> Candidate:
    result = QuantizeResult(scheme, {}, "src", 1000, path=path, size_bytes=400)
    return Candidate(scheme, result, passed=True, latency_ms=speed, speed_ratio=speed, lost=lost)


def test_published_lines_name_the_winner_and_each_kept_file(tmp_path: Path) -> None:
    fp32 = Candidate("fp32", QuantizeResult("fp32", {}, "src", 1000, size_bytes=1000), role="reference", latency_ms=1.0)
    winner = _candidate("weight-only-int4", tmp_path / "a.weight-only-int4.onnx", 1.0)
    kept = _candidate("weight-only-int8", tmp_path / "a.weight-only-int8.onnx", 1.0, lost="larger than weight-only-int4")
    unpublished = _candidate("fp16", None, 1.3, lost="refused: 1.30x slower than fp32")
    selection = SelectionResult([fp32, winner, kept, unpublished], winner, "size")
    lines = published_lines(selection)
    assert lines[0] == f"published: {winner.result.path} (weight-only-int4)"  # type: ignore[union-attr]
    assert lines[1:] == [
        f"not published (kept for comparison, weight-only-int8: larger than weight-only-int4): {kept.result.path}"
    ]  # type: ignore[union-attr]
    doc = to_jsonable(selection)
    assert doc["published"] == str(winner.result.path) and doc["not_published"] == [str(kept.result.path)]  # type: ignore[union-attr]
    assert published_lines(SelectionResult([fp32, unpublished], None, "size"))[0].startswith("published: nothing")


def test_an_auto_row_slower_than_float_says_so(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from edgelstm.quantize.render import print_selection

    fp32 = Candidate("fp32", QuantizeResult("fp32", {}, "src", 1000, size_bytes=1000), role="reference", latency_ms=1.0)
    slower = _candidate("weight-only-int8", tmp_path / "w8.onnx", 1.07)
    faster = _candidate("weight-only-int4", tmp_path / "w4.onnx", 0.95, lost="not picked")
    print_selection(SelectionResult([fp32, slower, faster], slower, "size"))
    flat = "".join(capsys.readouterr().out.replace("│", "").split())  # rich wraps cells over several lines
    assert "winner;slowerthanfp32(1.07xitslatency)" in flat
    assert flat.count("slowerthanfp32") == 1  # the faster row says nothing of the kind


# -- distill's report: quantize's gate and its own stated target ------------------------------------------------


def _row(role: str, scheme: str, compression: float, latency: float, gate: bool | None, drop: float = 0.0) -> ArtifactScore:
    metric = TaskMetric("accuracy", 0.9, True)
    return ArtifactScore(role, 100, 1000, compression, metric, drop, latency, latency, scheme, gate)


def _report(*rows: ArtifactScore) -> DistillReport:
    settings = {"intra_op_threads": 1, "allow_spinning": False}
    return DistillReport("accuracy", "test.npz", 8, 6, settings, 3, [_row("teacher", "fp32", 1.0, 1.0, None), *rows])


def test_distill_report_never_marks_met_what_the_gate_rejects_or_what_is_slower() -> None:
    report = _report(
        _row("student", "weight-only-int4", 20.0, 0.5, False),  # small, accurate, fast: but the gate rejects it
        _row("student", "dynamic-int8", 20.0, 3.0, True),  # passes the gate, 3x slower than the teacher's ONNX
        _row("student", "weight-only-int8", 20.0, 0.5, True),  # everything holds
    )
    by_scheme = {row["scheme"]: row for row in to_jsonable(report)["rows"]}
    assert by_scheme["weight-only-int4"]["target_met"] is False
    assert by_scheme["dynamic-int8"]["target_met"] is False and by_scheme["dynamic-int8"]["speed_target_met"] is False
    assert by_scheme["weight-only-int8"]["target_met"] is True
    markdown = report.to_markdown()
    lines = {line.split("|")[1].strip(): line for line in markdown.splitlines() if line.startswith("| student")}
    assert (
        "FAIL" in lines["student (weight-only-int4)"] and "missed: quantize's parity gate" in lines["student (weight-only-int4)"]
    )
    assert "missed: speed (3.00x the teacher's ONNX latency)" in lines["student (dynamic-int8)"]
    assert lines["student (weight-only-int8)"].rstrip().endswith("| pass | met |")
    assert "no slower than the teacher's ONNX graph" in markdown  # the target is stated with the table
    undecided = _row("student", "weight-only-int4", 20.0, 0.5, False)
    undecided.gate_verdict = "inconclusive"  # the data cannot resolve the budget: not met, and not called a FAIL
    line = next(ln for ln in _report(undecided).to_markdown().splitlines() if ln.startswith("| student"))
    assert "| INCONCLUSIVE | missed: quantize's parity gate (INCONCLUSIVE) |" in line
