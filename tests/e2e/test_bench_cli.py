"""`edgelstm bench`: every figure comes with its settings; results round-trip; nothing is asserted about speed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgelstm.bench import BenchConfig, run_bench
from edgelstm.cli import app
from edgelstm.jsonio import dumps
from edgelstm.loading import load_model
from tests.support import bench as shared

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
artifacts = shared.artifacts


def test_bench_cli_prints_tables_and_writes_json(artifacts, tmp_path: Path) -> None:
    ckpt, paths = artifacts
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            *map(str, paths),
            "--reference",
            str(ckpt),
            "--batches",
            "1",
            "--steps",
            "8",
            "--rounds",
            "3",
            "--chunks",
            "2",
            "--no-cold-start",
            "--report",
            str(out),
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "vs torch eager" in result.output and "spinning off" in result.output
    data = json.loads(out.read_text())
    assert data["latencies"]
    # the settle pause is part of how the figures were measured: recorded and printed with them
    assert data["settings"]["settle_ms"] == 50.0
    assert "50 ms untimed pause after each workload whose threads keep spinning" in " ".join(result.output.split())
    # the distance to the machine's limit: one roofline row per artifact row, ceilings at the rows' settings
    flat = " ".join(result.output.split())  # rich wraps long titles and headers
    assert "distance to the machine's limit" in flat and "GMAC/s" in flat
    artifact_rows = [r for r in data["latencies"] if r["kind"] == "artifact" and r["mode"] == "run"]
    assert len(data["roofline"]) == len(artifact_rows)  # plain-session rows get no ceiling of their own
    assert "plain ONNX Runtime session" in flat and len(data["plain_session"]) == len(paths)  # issue 19, both outputs
    for row in data["roofline"]:
        assert row["macs_per_step"] > 0 and row["weight_bytes"] > 0 and row["achieved_gmacs"] > 0
        assert row["weight_gb_per_s"] > 0 and row["ceiling_fp32_gmacs"] > 0 and row["ceiling_int8_gmacs"] > 0
    assert {(c["kind"], c["threads"], c["allow_spinning"]) for c in data["ceilings"]} == {("fp32", 1, False), ("int8", 1, False)}


def test_cold_start_passes_inputs_through_a_file(artifacts, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from edgelstm.artifact import child
    from edgelstm.artifact.file import open_artifact
    from edgelstm.bench import runner

    seen: list[list[str]] = []
    real_run = subprocess.run

    def spy(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        seen.append(list(args))
        return real_run(args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(child.subprocess, "run", spy)  # the cold start's child process is started by the core
    result = runner._cold_start(open_artifact(artifacts[1][0]))
    assert math.isfinite(result.session_ms) and math.isfinite(result.first_run_ms) and result.peak_rss_mb > 0
    (args,) = seen
    assert args[-1].endswith(".npz") and max(len(a) for a in args) < 4096  # never the data itself
    assert not Path(args[-1]).exists()  # the temporary inputs are removed


@pytest.mark.slow
def test_bench_sweeps_threads_and_spinning_and_reports_the_policy(artifacts) -> None:
    ckpt, paths = artifacts
    config = BenchConfig(
        batches=(1, 3), steps=(6,), threads=(1, 2), spinning=(False, True), rounds=3, calls_per_round=1, cold_start=False
    )
    report = run_bench(paths[:1], load_model(str(ckpt)), config)
    ours = {(r.batch, r.threads, r.allow_spinning) for r in report.latencies if r.kind == "artifact" and r.mode == "run"}
    # one thread has no pool to spin: measured once
    assert ours == {(b, t, s) for b in (1, 3) for t, s in ((1, False), (2, False), (2, True))}
    defaults = [r for r in report.latencies if r.name.startswith("default path")]
    assert sorted(r.batch for r in defaults) == [1, 3]  # once per shape, not once per --threads value
    eager = {(r.batch, r.threads) for r in report.latencies if r.name == "torch eager fp32"}
    assert eager == {(b, t) for b in (1, 3) for t in (1, 2)}
    data = json.loads(dumps(report))
    assert set(data["policy"]) == {"1", "3"}
    for batch, entry in data["policy"].items():
        # the policy is chosen among edgelstm's settings; a plain-session row (issue 19) is never a policy
        rows = [r for r in report.latencies if r.kind == "artifact" and r.mode == "run" and r.batch == int(batch)]
        fastest = min(rows, key=lambda r: r.p50_ms)
        assert (entry["intra_op_threads"], entry["allow_spinning"]) == (fastest.threads, fastest.allow_spinning)


def test_bench_cli_spinning_option(artifacts, tmp_path: Path) -> None:
    _, paths = artifacts
    out = tmp_path / "bench.json"
    args = ["bench", str(paths[0]), "--batches", "1", "--steps", "4", "--threads", "2", "--rounds", "3", "--no-cold-start"]
    result = CliRunner().invoke(app, [*args, "--spinning", "both", "--report", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert {r["allow_spinning"] for r in data["latencies"]} == {False, True}
    assert set(data["policy"]["1"]) >= {"intra_op_threads", "allow_spinning"}
    bad = CliRunner().invoke(app, [*args, "--spinning", "sometimes"])
    assert bad.exit_code == 2 and "choose off, on or both" in bad.output


def test_bench_sweeps_the_execution_mode_and_runs_parallel_rows_on_inter_op_threads(
    artifacts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgelstm.bench import runner

    opened: list[tuple[int, int, str]] = []
    real = runner.session_from_onnx

    def spy(path, settings):  # the sessions bench opens, with the settings it gave them
        opened.append((settings.intra_op_threads, settings.inter_op_threads, settings.execution_mode))
        session = real(path, settings)
        mode = session.get_session_options().execution_mode
        assert mode.name == ("ORT_PARALLEL" if settings.execution_mode == "parallel" else "ORT_SEQUENTIAL")
        return session

    monkeypatch.setattr(runner, "session_from_onnx", spy)
    _, paths = artifacts
    out = tmp_path / "bench.json"
    args = ["bench", str(paths[0]), "--batches", "1", "--steps", "4", "--threads", "1,2", "--rounds", "3"]
    result = CliRunner().invoke(
        app,
        [*args, "--no-cold-start", "--no-baselines", "--execution-mode", "both", "--report", str(out)],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    rows = {(r["threads"], r["execution_mode"]) for r in json.loads(out.read_text())["latencies"] if r["mode"] == "run"}
    assert rows == {(1, "sequential"), (2, "sequential"), (2, "parallel")}  # one thread has nothing to run beside
    assert (1, 2, "parallel") in opened and (2, 1, "sequential") in opened
    assert "2 parallel" in result.output
    bad = CliRunner().invoke(app, [*args, "--execution-mode", "async"])
    assert bad.exit_code == 2 and "choose sequential, parallel or both" in bad.output
    one = ["bench", str(paths[0]), "--threads", "1", "--execution-mode", "parallel", "--no-cold-start"]
    refused = CliRunner().invoke(app, one)
    assert refused.exit_code == 2 and "parallel needs --threads above 1" in refused.output
