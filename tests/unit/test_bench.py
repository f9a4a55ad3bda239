"""`edgelstm bench`: every figure comes with its settings; results round-trip; nothing is asserted about speed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.bench import BenchConfig, BenchReport, LatencyResult, run_bench
from edgelstm.bench.best import best_settings, best_vs_best, policy, policy_by_artifact, same_setting_ratio
from edgelstm.errors import ConfigError
from edgelstm.export.api import export_model
from edgelstm.jsonio import dumps, to_jsonable
from edgelstm.loading import load_model
from tests.support import bench as shared

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
artifacts = shared.artifacts


def test_bench_measures_every_variant_with_baselines(artifacts) -> None:
    ckpt, paths = artifacts
    config = BenchConfig(batches=(1, 4), steps=(12,), rounds=3, calls_per_round=2, streaming_chunks=(1, 4), settle_ms=0.0)
    report = run_bench(paths, load_model(str(ckpt)), config)
    names = {r.name for r in report.latencies}
    assert names >= {"sequence_fused.onnx", "streaming_fused.onnx", "torch eager fp32", "torch dynamic int8"}
    assert any(n.startswith("default path") for n in names)
    assert len(report.latencies) == 2 * 2 + 3 * 2 + 2 * 2 * 2  # artifacts x batches + 3 baselines x batches + plain
    plain = [r for r in report.latencies if r.mode == "plain"]
    # issue 19: each artifact also in a plain ORT session (ORT's defaults: threads 0 = its pool) and at 1 thread
    assert {(r.name, r.batch, r.threads) for r in plain} == {
        (name, batch, threads)
        for name in ("sequence_fused.onnx", "streaming_fused.onnx")
        for batch in (1, 4)
        for threads in (0, 1)
    }
    summary = {(r["name"], r["batch"]): r for r in to_jsonable(report)["plain_session"]}
    assert len(summary) == 4 and all(
        r["plain_default_p50_ms"] > 0
        and r["plain_1thread_p50_ms"] > 0
        and r["policy_setting"] == {"threads": 1, "allow_spinning": False}
        for r in summary.values()
    )
    row = summary[("sequence_fused.onnx", 1)]
    assert math.isclose(row["plain_default_vs_policy"], row["plain_default_p50_ms"] / row["policy_p50_ms"])
    for r in report.latencies:
        assert r.samples == 6 and 0 < r.p50_ms <= r.p90_ms <= r.p99_ms
        assert math.isclose(r.sequences_per_s, r.batch / (r.p50_ms / 1e3))
    assert {(s.chunk, s.mode) for s in report.streaming} == {(1, "run"), (1, "helper"), (4, "run"), (4, "helper")}
    assert all(c.session_ms > 0 and c.peak_rss_mb > 10 for c in report.cold_starts)
    sizes = {s.name: s for s in report.sizes}
    assert sizes["sequence_fused.onnx"].gzip_bytes < sizes["sequence_fused.onnx"].file_bytes
    assert 0.9 < sizes["sequence_fused.onnx"].vs_fp32 <= 1.01  # the fp32 export is the teacher's size
    assert report.settings["spinning"] == (False,) and report.versions["onnxruntime"]
    assert {r.allow_spinning for r in report.latencies if r.kind == "artifact" and r.mode == "run"} == {False}
    assert {(b["name"], b["intra_op_threads"]) for b in to_jsonable(report)["best"] if b["kind"] == "artifact"} == {
        (n, 1) for n in ("sequence_fused.onnx", "streaming_fused.onnx")
    }  # the policy comes from edgelstm's own settings, never from a plain row
    assert to_jsonable(BenchReport.from_dict(json.loads(dumps(report)))) == json.loads(dumps(report))


def test_streaming_table_times_plain_runs_and_the_helper_at_chunks_1_4_16(artifacts) -> None:
    _, paths = artifacts
    config = BenchConfig(batches=(1,), steps=(16,), rounds=3, calls_per_round=1, baselines=False, cold_start=False, settle_ms=0)
    assert config.streaming_chunks == (1, 4, 16)
    report = run_bench(paths, None, config)
    rows = {(s.chunk, s.mode): s for s in report.streaming}
    assert set(rows) == {(c, m) for c in (1, 4, 16) for m in ("run", "helper")}
    assert {s.name for s in report.streaming} == {"streaming_fused.onnx"}  # the sequence graph cannot stream
    # One whole-sequence baseline, interleaved with every chunked variant, is the denominator of every row.
    assert len({s.whole_sequence_per_step_us for s in report.streaming}) == 1
    assert all(s.steps == 16 and s.per_step_us > 0 for s in report.streaming)


def test_bench_rejects_meaningless_settings() -> None:
    with pytest.raises(ConfigError, match="rounds"):
        BenchConfig(rounds=1)
    with pytest.raises(ConfigError, match="batches"):
        BenchConfig(batches=(0,))


def test_memory_estimate_refuses_with_the_numbers(artifacts) -> None:
    from edgelstm.artifact.file import open_artifact
    from edgelstm.bench.memory import MemoryEstimate, bytes_per_step, ensure_fits, estimate
    from edgelstm.errors import ResourceLimitError

    info = open_artifact(artifacts[1][0])
    per_step = bytes_per_step(info)
    assert per_step == 4 * (5 + 3 + 6 * 8 * 2)  # features + classes + 6 x hidden x layers, float32
    assert estimate([info], (1, 32), (100,), copies=4).needed_bytes == 4 * 33 * 100 * per_step
    ensure_fits(MemoryEstimate(10 * 2**30, 64 * 2**30), (1,), (100,))  # 10 GiB of 64 GiB available: fine
    with pytest.raises(ResourceLimitError, match=r"about 40\.0 GiB.*32\.0 GiB limit.*64\.0 GiB available"):
        ensure_fits(MemoryEstimate(40 * 2**30, 64 * 2**30), (1,), (100,))
    ensure_fits(MemoryEstimate(10**15, None), (1,), (100,))  # the OS does not say: nothing to compare with


def _row(name: str, batch: int, threads: int, p50: float, spinning: bool | None = False, steps: int = 100) -> LatencyResult:
    kind = "baseline" if name.startswith(("torch", "default")) else "artifact"
    mode = "torch" if name.startswith("torch") else "run"
    spin = None if mode == "torch" else spinning
    return LatencyResult(name, kind, "cpu", batch, steps, threads, mode, p50, p50, p50, p50, 5, spin)


# Stubbed timings: torch is faster on 2 threads, the artifact on 1 at batch 1 and on 2 with spinning at batch 32.
STUB = [
    _row("torch eager fp32", 1, 1, 3.0),
    _row("torch eager fp32", 1, 2, 2.0),
    _row("torch eager fp32", 32, 1, 30.0),
    _row("torch eager fp32", 32, 2, 20.0),
    _row("default path: torch.onnx + quantize_dynamic, ORT defaults", 1, 0, 1.2, True),
    _row("default path: torch.onnx + quantize_dynamic, ORT defaults", 32, 0, 12.0, True),
    _row("a.onnx", 1, 1, 0.6),
    _row("a.onnx", 1, 2, 0.9),
    _row("a.onnx", 1, 2, 1.5, True),
    _row("a.onnx", 32, 1, 18.0),
    _row("a.onnx", 32, 2, 16.0),
    _row("a.onnx", 32, 2, 8.0, True),
    _row("b.onnx", 1, 1, 0.5),  # faster than a.onnx at batch 1, slower at batch 32
    _row("b.onnx", 32, 1, 40.0),
]


def test_ratios_compare_each_row_with_its_own_thread_count() -> None:
    """The old lookup keyed torch eager by (batch, steps): the 2-thread row won and a 1-thread torch row read
    2.0/3.0 against itself."""
    eager = [r for r in STUB if r.name == "torch eager fp32"]
    for r in eager:
        assert same_setting_ratio(r, eager) == 1.0
    by_threads = {(r.batch, r.threads, r.allow_spinning): r for r in STUB if r.name == "a.onnx"}
    assert same_setting_ratio(by_threads[(1, 1, False)], eager) == pytest.approx(3.0 / 0.6)
    assert same_setting_ratio(by_threads[(1, 2, False)], eager) == pytest.approx(2.0 / 0.9)
    assert same_setting_ratio(by_threads[(32, 2, True)], eager) == pytest.approx(20.0 / 8.0)
    default = STUB[4]
    assert same_setting_ratio(default, eager) is None  # ORT's default pool has no torch twin


def test_best_setting_per_contender_and_best_vs_best_ratio() -> None:
    best = {(b.name, b.batch): b for b in best_settings(STUB)}
    assert (best[("torch eager fp32", 1)].intra_op_threads, best[("torch eager fp32", 32)].intra_op_threads) == (2, 2)
    assert best[("torch eager fp32", 1)].allow_spinning is None
    a1, a32 = best[("a.onnx", 1)], best[("a.onnx", 32)]
    assert (a1.intra_op_threads, a1.allow_spinning, a1.p50_ms) == (1, False, {100: 0.6})
    assert (a32.intra_op_threads, a32.allow_spinning, a32.p50_ms) == (2, True, {100: 8.0})
    all_best = list(best.values())
    assert best_vs_best(all_best, a1, "torch eager fp32") == {100: pytest.approx(2.0 / 0.6)}  # torch at ITS best
    assert best_vs_best(all_best, a32, "default path") == {100: pytest.approx(12.0 / 8.0)}


def test_best_setting_sums_over_lengths_and_skips_incomplete_settings() -> None:
    rows = [
        _row("a.onnx", 1, 1, 1.0, steps=10),
        _row("a.onnx", 1, 1, 5.0, steps=100),
        _row("a.onnx", 1, 2, 0.5, steps=10),
        _row("a.onnx", 1, 2, 6.0, steps=100),  # faster at T=10, slower in total
        _row("a.onnx", 1, 4, 0.1, steps=10),  # never measured at T=100: not comparable
    ]
    (best,) = best_settings(rows)
    assert best.intra_op_threads == 1 and best.p50_ms == {10: 1.0, 100: 5.0}


def test_policy_records_the_measured_best_setting_per_batch() -> None:
    best = best_settings(STUB)
    chosen = policy(best)
    assert set(chosen) == {"1", "32"}
    common = {"inter_op_threads": 1, "execution_mode": "sequential"}
    assert chosen["1"] == {"intra_op_threads": 1, "allow_spinning": False, "artifact": "b.onnx", "p50_ms": {"100": 0.5}} | common
    assert chosen["32"] == {"intra_op_threads": 2, "allow_spinning": True, "artifact": "a.onnx", "p50_ms": {"100": 8.0}} | common
    per_artifact = policy_by_artifact(best)
    assert per_artifact["a.onnx"]["1"]["intra_op_threads"] == 1 and per_artifact["b.onnx"]["32"]["intra_op_threads"] == 1
    report = BenchReport(settings={}, versions={}, latencies=STUB)
    data = json.loads(dumps(report))
    assert data["policy"] == json.loads(dumps(chosen))
    assert to_jsonable(BenchReport.from_dict(data)) == to_jsonable(report)


def test_bench_table_prints_like_with_like_ratios_and_each_best(capsys: pytest.CaptureFixture[str]) -> None:
    from edgelstm.bench.render import print_bench

    report = BenchReport(
        settings={"rounds": 3, "calls_per_round": 5, "spinning": [False, True]},
        versions={"torch": "t", "onnxruntime": "o", "cpu_count": "2"},
        latencies=STUB,
    )
    print_bench(report)
    out = capsys.readouterr().out
    eager_rows = [line for line in out.splitlines() if "torch eager fp32" in line and "T=" not in line]
    assert len(eager_rows) == 4 and all("1.00x" in line for line in eager_rows)
    assert "each contender at its best measured setting" in out and "T=100: 0.600" in out
    flat = " ".join(out.split())  # rich wraps long lines
    assert "batch 1: 1 thread, no spinning; batch 32: 2 threads, spinning" in flat  # as the bundle words it
    assert "spinning swept off/on" in flat


def test_workloads_that_leave_threads_spinning_are_followed_by_a_pause(artifacts, monkeypatch: pytest.MonkeyPatch) -> None:
    # Spinning ORT sessions (ours at 2 threads, ORT's default session) and torch's OpenMP pool above one thread keep
    # spinning after a call; the timer must pause after exactly those, or the next contender is billed for them.
    from edgelstm.bench import runner

    seen: list[list[bool]] = []
    real = runner.time_interleaved
    monkeypatch.setattr(runner, "time_interleaved", lambda c, t, busy=None: seen.append(list(busy or [])) or real(c, t, busy))
    ckpt, paths = artifacts
    config = BenchConfig(
        # which workloads are flagged is the point here; the pause itself is tests/unit/test_timing.py's (no sleep)
        batches=(1,),
        steps=(6,),
        threads=(1, 2),
        spinning=(False, True),
        rounds=3,
        calls_per_round=1,
        cold_start=False,
        settle_ms=0,
    )
    report = run_bench(paths[:1], load_model(str(ckpt)), config)
    flags = seen[0]
    assert len(flags) == len(report.latencies)
    busy = {(r.name, r.threads, r.allow_spinning) for r, flag in zip(report.latencies, flags, strict=True) if flag}
    assert busy == {
        ("sequence_fused.onnx", 2, True),
        ("torch eager fp32", 2, None),
        ("torch dynamic int8", 2, None),
        ("default path: torch.onnx + quantize_dynamic, ORT defaults", 0, True),
        ("sequence_fused.onnx", 0, True),  # the plain session: ORT's default pool spins
    }


def test_fixed_batch_graph_is_timed_at_its_own_batch_only(artifacts, tmp_path: Path) -> None:
    """A graph exported with a fixed batch of 1 ran at batch 1 under a 'batch 4' label (4x the throughput)."""
    ckpt, _ = artifacts
    path = export_model(load_model(str(ckpt)), tmp_path, ExportConfig(impl="unrolled", fixed_batch=1, fixed_steps=6)).path
    config = BenchConfig(batches=(1, 4), steps=(6,), rounds=3, calls_per_round=1, baselines=False, cold_start=False, settle_ms=0)
    report = run_bench([path], None, config)
    assert [(r.batch, r.steps) for r in report.latencies if r.mode == "run"] == [(1, 6)]
    assert {(r.batch, r.steps) for r in report.latencies if r.mode == "plain"} == {(1, 6)}


def test_quantize_candidate_that_was_never_written_is_not_shown_as_timed(capsys: pytest.CaptureFixture[str]) -> None:
    """static-int8 failing the gate is not written, so it is never timed: it printed as 0.000 ms."""
    from edgelstm.quantize.api import QuantizeResult
    from edgelstm.quantize.render import print_selection
    from edgelstm.quantize.selection_table import Candidate, SelectionResult

    result = QuantizeResult("static-int8", {}, "m.onnx", 1000, path=None, size_bytes=300, impl="unrolled")
    failed = Candidate("static-int8", result=result, passed=False, summary={"failures": ["large: clipped"]})
    print_selection(SelectionResult([failed], None))
    out = capsys.readouterr().out
    assert "0.000" not in out and "not timed" in out
    assert to_jsonable(failed)["latency_ms_batch1"] is None


def test_default_path_graph_is_keyed_by_weights_not_object_identity() -> None:
    # id() of a freed model is reused by the next one: the second model was once timed on the first one's graph.
    import torch

    from edgelstm.bench.runner import _model_key

    first, second = torch.nn.LSTM(3, 4, batch_first=True), torch.nn.LSTM(3, 4, batch_first=True)
    assert _model_key(first, 3) != _model_key(second, 3)
    assert _model_key(first, 3) == _model_key(first, 3)
    second.load_state_dict(first.state_dict())
    assert _model_key(first, 3) == _model_key(second, 3)
    assert _model_key(first, 3) != _model_key(first, 5)


def test_plain_session_rows_are_summarised_beside_the_policy_and_printed(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 19: each artifact's plain-session p50s (ORT's defaults; 1 thread) beside its best edgelstm setting."""
    from edgelstm.bench.best import plain_session
    from edgelstm.bench.render import print_bench

    plain = [
        LatencyResult("a.onnx", "artifact", "cpu", 1, 100, 0, "plain", 0.9, 0.9, 0.9, 0.9, 5, True),
        LatencyResult("a.onnx", "artifact", "cpu", 1, 100, 1, "plain", 0.66, 0.66, 0.66, 0.66, 5, True),
    ]
    (row,) = plain_session([*STUB, *plain])
    assert (row["name"], row["batch"], row["policy_p50_ms"], row["policy_setting"]) == (
        "a.onnx",
        1,
        0.6,
        {"threads": 1, "allow_spinning": False},
    )
    assert row["plain_default_vs_policy"] == pytest.approx(1.5) and row["plain_1thread_vs_policy"] == pytest.approx(1.1)
    assert best_settings([*STUB, *plain]) == best_settings(STUB)  # a plain row never becomes a policy
    report = BenchReport(
        settings={"rounds": 3, "calls_per_round": 5}, versions={"torch": "t", "onnxruntime": "o", "cpu_count": "2"}
    )
    report.latencies = [*STUB, *plain]
    print_bench(report)
    flat = " ".join(capsys.readouterr().out.split())
    assert "plain ONNX Runtime session" in flat and "1.50x / 1.10x" in flat
