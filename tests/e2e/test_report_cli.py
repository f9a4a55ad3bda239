"""`edgelstm report`: one run directory -> JSON, Markdown and self-contained HTML, re-renderable from the JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgelstm.cli import app
from edgelstm.errors import LoadError
from edgelstm.report import collect_run, html_report, markdown_report
from tests.support import report as shared
from tests.support.report import _copy_run, _selection, _sha

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
run_dir = shared.run_dir


def test_rows_join_parity_latency_size_and_scheme(run_dir: Path) -> None:
    summary = collect_run(run_dir)
    rows = {r.name: r for r in summary.artifacts}
    assert set(rows) == {"sequence_fused.onnx", "sequence_fused.dynamic-int8.onnx"}
    int8 = rows["sequence_fused.dynamic-int8.onnx"]
    assert int8.scheme == "dynamic-int8" and int8.precision == "int8" and int8.verdicts["cpu"] in ("pass", "FAIL")
    assert int8.file_bytes and int8.latency_ms_b1 and int8.accuracy is not None and int8.last_step_error is not None
    assert rows["sequence_fused.onnx"].reference_accuracy == int8.reference_accuracy


def test_cli_writes_three_files_and_re_renders_from_json(run_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["report", str(run_dir), "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    assert {p.name for p in (tmp_path / "a").iterdir()} == {"report.json", "report.md", "report.html"}
    again = runner.invoke(app, ["report", str(tmp_path / "a" / "report.json"), "--out", str(tmp_path / "b")])
    assert again.exit_code == 0
    assert (tmp_path / "a" / "report.md").read_text() == (tmp_path / "b" / "report.md").read_text()
    assert json.loads((tmp_path / "b" / "report.json").read_text())["artifacts"]


def test_empty_or_missing_run_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="nothing to report"):
        collect_run(tmp_path)
    result = CliRunner().invoke(app, ["report", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "no such run directory" in result.output


def test_report_json_names_the_full_sha256_of_every_verdict(run_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "report.json").read_text())["artifacts"]
    assert {r["name"]: r["sha256"] for r in rows} == {
        name: _sha(run_dir / name) for name in ("sequence_fused.onnx", "sequence_fused.dynamic-int8.onnx")
    }
    assert all(r["parity"] in ("pass", "FAIL") for r in rows)


def test_auto_table_from_auto_json_is_in_every_report_form(run_dir: Path, tmp_path: Path) -> None:
    from edgelstm.quantize.selection_table import write_selection

    run = _copy_run(run_dir, tmp_path)
    write_selection(_selection(), run)
    summary = collect_run(run)
    assert summary.selection is not None and [c["scheme"] for c in summary.selection["candidates"]] == [
        "fp32",
        "weight-only-int8",
        "static-int8",
        "fp16",
        "mixed",
    ]
    md = markdown_report(summary)
    assert (
        "## quantize --scheme auto: every candidate (objective size, at most 1.1x the fp32 latency in a plain ORT session)" in md
    )
    assert (
        "| weight-only-int8 | fused | 20,000 | 4.00x | 1.000 | 1.00x | 1.04x | pass: top-1 99.50%, err@1000 0.01 | yes | winner |"
        in md
    )
    assert (
        "| static-int8 | fused | 300,000 | - | not timed | - | - | FAIL | no | failed the gate: large / output: SNR 5 dB |" in md
    )
    assert "| fp16 | - | - | - | not timed | - | - | refused | no | refused: the graph has a Loop |" in md
    # auto declined it (it cannot win): "not gated", never "FAIL"
    assert "| mixed | fused | >= 21,000 | - | not timed | - | - | not gated | no | not gated: cannot win: larger than" in md
    page = html_report(summary)
    assert '<table class="selection">' in page and "<td>failed the gate: large / output: SNR 5 dB</td>" in page
    result = CliRunner().invoke(app, ["report", str(run), "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    again = CliRunner().invoke(app, ["report", str(tmp_path / "a" / "report.json"), "--out", str(tmp_path / "b")])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "b" / "report.md").read_text() == (tmp_path / "a" / "report.md").read_text()


def test_without_matplotlib_the_html_is_written_without_plots_and_one_warning_says_so(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    result = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "report.html").read_text()
    assert "data:image/png" not in page and "no plots: matplotlib is not installed" in page
    assert "<table>" in page  # the rest of the report is all there
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: the HTML report has no plots: matplotlib is not installed (pip install 'edgelstm[plot]')"]
