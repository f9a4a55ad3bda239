"""`edgelstm report`: one run directory -> JSON, Markdown and self-contained HTML, re-renderable from the JSON."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.bench import BenchConfig, run_bench
from edgelstm.checkpoint import save_checkpoint
from edgelstm.cli import app
from edgelstm.errors import LoadError
from edgelstm.export.api import export_model
from edgelstm.jsonio import dumps
from edgelstm.loading import load_model
from edgelstm.parity import CheckConfig, run_check
from edgelstm.parity.data import SequenceData
from edgelstm.quantize import DynamicInt8Config, quantize
from edgelstm.report import collect_run, html_report, markdown_report
from tests.conftest import tiny_model


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("run")
    save_checkpoint(tiny_model(cell="lstm"), root / "ckpt")
    loaded = load_model(str(root / "ckpt"))
    fp32 = export_model(loaded, root / "run", ExportConfig(impl="fused")).path
    int8 = quantize(loaded, DynamicInt8Config(), root / "run").path
    rng = np.random.default_rng(0)
    data = SequenceData(rng.standard_normal((24, 10, 5)).astype(np.float32), None, rng.integers(0, 3, 24), "noise")
    check = run_check([fp32, int8], loaded, data, CheckConfig(providers=("cpu",)))
    (root / "run" / "check.json").write_text(dumps(check.to_dict()))
    bench = run_bench([fp32, int8], loaded, BenchConfig(batches=(1,), steps=(10,), rounds=3, calls_per_round=2, cold_start=False))
    (root / "run" / "bench.json").write_text(dumps(bench.to_dict()))
    return root / "run"


def test_rows_join_parity_latency_size_and_scheme(run_dir: Path) -> None:
    summary = collect_run(run_dir)
    rows = {r.name: r for r in summary.artifacts}
    assert set(rows) == {"sequence_fused.onnx", "sequence_fused.dynamic-int8.onnx"}
    int8 = rows["sequence_fused.dynamic-int8.onnx"]
    assert int8.scheme == "dynamic-int8" and int8.precision == "int8" and int8.verdicts["cpu"] in ("pass", "FAIL")
    assert int8.file_bytes and int8.latency_ms_b1 and int8.accuracy is not None and int8.last_step_error is not None
    assert rows["sequence_fused.onnx"].reference_accuracy == int8.reference_accuracy


def test_markdown_and_html_render_and_the_html_is_self_contained(run_dir: Path) -> None:
    summary = collect_run(run_dir)
    md = markdown_report(summary)
    int8_sha = hashlib.sha256((run_dir / "sequence_fused.dynamic-int8.onnx").read_bytes()).hexdigest()
    assert f"| sequence_fused.dynamic-int8.onnx | {int8_sha[:12]} | dynamic-int8 | int8 |" in md
    # what the latency column was measured at, and the bench's best measured setting per batch
    assert "Latency (ms b=1): ORT CPU EP, 1 intra-op thread, no spinning, 3 interleaved rounds x 2 calls, p50; onnxruntime " in md
    assert f"{os.cpu_count()} CPUs (" in md
    assert "best measured setting per batch (threads [1] swept): batch 1: 1 thread, no spinning (" in md
    page = html_report(summary)
    assert page.count("data:image/png;base64,") == 3  # Pareto, latency, error vs time
    assert "http" not in page.replace("http-equiv", "")  # no external resources


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


def _copy_run(run_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    return copy


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _keep_candidates(run: Path, keep: str) -> None:
    check = json.loads((run / "check.json").read_text())
    check["candidates"] = [c for c in check["candidates"] if Path(c["artifact"]).name == keep]
    (run / "check.json").write_text(json.dumps(check))


def test_an_unchecked_int8_artifact_is_labelled_from_its_metadata_and_not_checked(run_dir: Path, tmp_path: Path) -> None:
    run = _copy_run(run_dir, tmp_path)
    _keep_candidates(run, "sequence_fused.onnx")  # the check covered only the fp32 graph
    for sidecar in run.glob("*.quant.json"):
        sidecar.unlink()  # the label must come from the artifact itself
    summary = collect_run(run)
    rows = {r.name: r for r in summary.artifacts}
    int8 = rows["sequence_fused.dynamic-int8.onnx"]
    assert (int8.scheme, int8.precision, int8.parity, int8.verdicts) == ("dynamic-int8", "int8", "not checked", {})
    assert int8.sha256 == _sha(run / "sequence_fused.dynamic-int8.onnx")
    assert rows["sequence_fused.onnx"].parity == "pass" and rows["sequence_fused.onnx"].scheme == "none"
    md = markdown_report(summary)
    assert f"- sequence_fused.dynamic-int8.onnx, sha256 {int8.sha256[:12]}: not checked" in md
    assert f"- sequence_fused.onnx, sha256 {_sha(run / 'sequence_fused.onnx')[:12]}: PASS" in md
    assert "Parity: PASS" not in md and "| fp32 |" not in md.split("sequence_fused.dynamic-int8.onnx", 1)[1].split("\n")[0]


def test_a_verdict_does_not_follow_a_file_replaced_after_the_check(run_dir: Path, tmp_path: Path) -> None:
    import onnx

    run = _copy_run(run_dir, tmp_path)
    check = json.loads((run / "check.json").read_text())
    for c in check["candidates"]:  # as `check` records them: the path it read and the sha256 of what it read
        c["artifact"] = str(run / Path(c["artifact"]).name)
        c["artifact_sha256"] = _sha(Path(c["artifact"]))
    (run / "check.json").write_text(json.dumps(check))
    model = onnx.load(str(run / "sequence_fused.onnx"))
    model.doc_string = "re-exported after the check"
    onnx.save(model, str(run / "sequence_fused.onnx"))
    row = {r.name: r for r in collect_run(run).artifacts}["sequence_fused.onnx"]
    assert row.parity == "not checked" and row.verdicts == {} and "not this file" in row.parity_note
    assert row.sha256 == _sha(run / "sequence_fused.onnx")


def test_a_recorded_sha256_names_the_artifact_even_when_the_file_is_gone(run_dir: Path, tmp_path: Path) -> None:
    run = _copy_run(run_dir, tmp_path)
    digest = _sha(run / "sequence_fused.onnx")
    check = json.loads((run / "check.json").read_text())
    for c in check["candidates"]:
        c["artifact"] = "elsewhere/" + Path(c["artifact"]).name
        c["artifact_sha256"] = _sha(run / Path(c["artifact"]).name)
    (run / "check.json").write_text(json.dumps(check))
    (run / "sequence_fused.onnx").unlink()
    row = {r.name: r for r in collect_run(run).artifacts}["sequence_fused.onnx"]
    assert row.sha256 == digest and row.parity == "pass" and row.verdicts == {"cpu": "pass"}


def test_report_json_names_the_full_sha256_of_every_verdict(run_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "report.json").read_text())["artifacts"]
    assert {r["name"]: r["sha256"] for r in rows} == {
        name: _sha(run_dir / name) for name in ("sequence_fused.onnx", "sequence_fused.dynamic-int8.onnx")
    }
    assert all(r["parity"] in ("pass", "FAIL") for r in rows)


def _selection():
    from edgelstm.quantize.api import QuantizeResult
    from edgelstm.quantize.selection_table import Candidate, SelectionResult

    def row(name: str, size: int, latency: float | None, **kw) -> Candidate:
        return Candidate(name, QuantizeResult(name, {}, "m", 80_000, size_bytes=size, impl="fused"), latency_ms=latency, **kw)

    fp32 = row("fp32", 80_000, 1.0, passed=True, role="reference", size_ratio=1.0, speed_ratio=1.0, lost="the float graph")
    wo8 = row(
        "weight-only-int8", 20_000, 1.0, passed=True, size_ratio=4.0, speed_ratio=1.0, on_front=True, plain_speed_ratio=1.04
    )
    wo8.summary = {"passed": True, "top1_agreement": 0.995, "last_step_error": 0.01, "last_step": 1000}
    failed = row("static-int8", 300_000, None, summary={"passed": False}, lost="failed the gate: large / output: SNR 5 dB")
    refused = Candidate("fp16", refused="fp16 refused: the graph has a Loop", lost="refused: the graph has a Loop")
    why = "cannot win: larger than weight-only-int8 (21,000 > 20,000 bytes), which passed the gate"
    declined = row("mixed", 21_000, None, summary={"passed": False, "not_gated": why}, lost=f"not gated: {why}")
    declined.result.size_is_floor = True  # declined before it was built: its size is a lower bound
    return SelectionResult([fp32, wo8, failed, refused, declined], wo8)


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


def test_auto_json_alone_is_a_report_and_a_malformed_one_is_refused(tmp_path: Path) -> None:
    from edgelstm.quantize.selection_table import write_selection

    write_selection(_selection(), tmp_path / "only")
    assert "| fp32 | fused | 80,000 | 1.00x |" in markdown_report(collect_run(tmp_path / "only"))
    write_selection(_selection(), tmp_path / "convert" / "quantize")  # where `convert` puts it
    assert collect_run(tmp_path / "convert").selection is not None
    write_selection(_selection(), tmp_path / "convert" / "again")
    with pytest.raises(LoadError, match="2 auto.json files"):
        collect_run(tmp_path / "convert")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "auto.json").write_text('{"candidates": [{"size_bytes": 3}]}')
    with pytest.raises(LoadError, match="not a `quantize --scheme auto` table"):
        collect_run(tmp_path / "bad")


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
