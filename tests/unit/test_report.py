"""`edgelstm report`: one run directory -> JSON, Markdown and self-contained HTML, re-renderable from the JSON."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from edgelstm.errors import LoadError
from edgelstm.report import collect_run, html_report, markdown_report
from tests.support import report as shared
from tests.support.report import _copy_run, _selection, _sha

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
run_dir = shared.run_dir


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
