"""Issue 21: the floor `bench` prints beside every streaming artifact, the session settings measured for one-chunk
calls (StreamingSession opens with them; the policy and the bundle carry them), and the batch timer behind both."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgelstm.artifact.file import open_artifact
from edgelstm.artifact.hints import InterfaceHints
from edgelstm.artifact.session import STREAMING_SESSION, SessionSettings, session_from_onnx
from edgelstm.artifact.streaming import StreamingSession
from edgelstm.bench import BenchConfig, BenchReport, run_bench
from edgelstm.bench.floor import passthrough_graph
from edgelstm.bench.render import print_bench
from edgelstm.bundle.build import build_bundle
from edgelstm.bundle.usage import streaming_notes, streaming_usage
from edgelstm.errors import ConfigError, SessionPolicyError
from edgelstm.jsonio import dumps, to_jsonable
from edgelstm.session_policy import SessionPolicy, StreamingPolicy
from edgelstm.timing import time_batches
from tests.support import bench as shared

artifacts = shared.artifacts


def _streaming(paths: list[Path]) -> Path:
    return next(p for p in paths if p.name.startswith("streaming"))


def test_bench_shows_the_floor_beside_every_streaming_row(artifacts, capsys: pytest.CaptureFixture[str]) -> None:
    _, paths = artifacts
    config = BenchConfig(batches=(1,), steps=(16,), rounds=3, calls_per_round=1, baselines=False, cold_start=False, settle_ms=0)
    report = run_bench(paths, None, config)
    assert {(s.chunk, s.mode) for s in report.streaming} == {(c, m) for c in (1, 4, 16) for m in ("run", "helper")}
    for row in report.streaming:
        assert row.floor_us > 0 and row.whole_sequence_per_step_us > 0
        assert row.floor_plus_compute_us == pytest.approx(row.floor_us / row.chunk + row.whole_sequence_per_step_us)
        data = to_jsonable(row)
        assert data["floor_us"] == row.floor_us and data["floor_plus_compute_us"] == row.floor_plus_compute_us
    # the floor is measured per chunk and mode (its own workload), not one figure copied into every row
    assert len({(r.chunk, r.mode, r.floor_us) for r in report.streaming}) == len(report.streaming)
    again = BenchReport.from_dict(json.loads(dumps(report)))
    assert [r.floor_us for r in again.streaming] == [r.floor_us for r in report.streaming]
    print_bench(report)
    out = capsys.readouterr().out
    assert "floor, us per call" in out and "floor/chunk + one call" in out


def test_a_report_written_before_the_floor_reads_as_not_measured() -> None:
    old = {"name": "s.onnx", "chunk": 1, "steps": 16, "mode": "helper", "per_step_us": 30.0, "whole_sequence_per_step_us": 8.0}
    report = BenchReport.from_dict(
        {"settings": {}, "versions": {}, "latencies": [], "cold_starts": [], "streaming": [old], "sizes": []}
    )
    assert report.streaming[0].floor_us == 0.0


def test_the_passthrough_graph_has_the_artifacts_inputs_and_outputs(artifacts) -> None:
    _, paths = artifacts
    interface = open_artifact(_streaming(paths)).interface
    graph = passthrough_graph(interface)
    assert [i.name for i in graph.graph.input] == [t.name for t in interface.inputs]
    assert [o.name for o in graph.graph.output] == [t.name for t in interface.outputs]
    assert {n.op_type for n in graph.graph.node} == {"Identity"}
    stream = StreamingSession(session_from_onnx(graph.SerializeToString()), interface, batch=2)
    chunk = np.ones((2, 1, 5), np.float32)
    stream.step(chunk)
    assert all(np.array_equal(v, np.zeros_like(v)) for v in stream.state.values())  # states pass through unchanged


def test_streaming_session_opens_with_the_measured_streaming_settings(artifacts) -> None:
    _, paths = artifacts
    options = StreamingSession.open(_streaming(paths))._session.get_session_options()
    assert (options.enable_mem_pattern, options.enable_cpu_mem_arena) == (True, False)
    assert options.intra_op_num_threads == STREAMING_SESSION.intra_op_threads == 1
    default = session_from_onnx(_streaming(paths), SessionSettings()).get_session_options()
    assert (default.enable_mem_pattern, default.enable_cpu_mem_arena) == (True, True)  # other sessions keep ORT's


def test_the_policy_carries_the_streaming_settings_and_refuses_malformed_ones(artifacts) -> None:
    policy = SessionPolicy.not_measured("no bench")
    data = json.loads(json.dumps(to_jsonable(policy)))
    assert data["streaming"]["memory_pattern"] is True and data["streaming"]["cpu_arena"] is False
    assert SessionPolicy.from_dict(data).streaming == StreamingPolicy()
    assert StreamingPolicy().settings() == STREAMING_SESSION
    changed = {**data, "streaming": {**data["streaming"], "cpu_arena": True, "memory_pattern": False}}
    assert SessionPolicy.from_dict(changed).streaming.settings().cpu_arena is True
    code = streaming_notes(open_artifact(_streaming(artifacts[1])).interface, "m.ort", SessionPolicy.from_dict(changed).streaming)
    assert code is not None and "DisableMemPattern" in code and "DisableCpuMemArena" not in code
    del data["streaming"]  # a policy written before issue 21
    assert SessionPolicy.from_dict(data).streaming == StreamingPolicy()
    with pytest.raises(SessionPolicyError, match="streaming.cpu_arena"):
        SessionPolicy.from_dict({**changed, "streaming": {**changed["streaming"], "cpu_arena": "no"}})


def test_the_bundle_carries_the_streaming_settings_into_manifest_and_app_code(artifacts, tmp_path: Path) -> None:
    _, paths = artifacts
    build_bundle(_streaming(paths), tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    carried = manifest["session_settings"]["streaming"]
    assert (carried["memory_pattern"], carried["cpu_arena"], carried["intra_op_threads"]) == (True, False, 1)
    assert manifest["session_policy"]["streaming"]["summary"] == StreamingPolicy().describe()
    readme = (tmp_path / "b" / "README.md").read_text()
    assert "options.DisableCpuMemArena();" in readme and "options.setCPUArenaAllocator(false);" in readme
    assert "DisableMemPattern" not in readme  # measured no faster: ORT's default stays
    assert "h0_in" in readme and "h1_out" in readme  # the per-layer states of the slim layout


def test_time_batches_times_every_workload_in_batches() -> None:
    counts = [0, 0]

    def first() -> None:
        counts[0] += 1

    def second() -> None:
        counts[1] += 1

    timings = time_batches([first, second], rounds=3, calls_per_round=[4, 2], warmup_calls=1)
    assert counts == [1 + 3 * 4, 1 + 3 * 2]
    assert [t.calls_per_round for t in timings] == [4, 2] and all(t.wall_us >= 0 and t.cpu_us >= 0 for t in timings)
    with pytest.raises(ConfigError):
        time_batches([first], rounds=0)
    with pytest.raises(ConfigError):
        time_batches([first, second], calls_per_round=[3])


def test_the_bundles_usage_line_names_the_per_layer_pairs(artifacts) -> None:
    usage = streaming_usage(open_artifact(_streaming(artifacts[1])).interface)
    assert usage is not None and "one state pair per layer" in usage
    assert "h0_out -> h0_in, c0_out -> c0_in, h1_out -> h1_in, c1_out -> c1_in" in usage


def test_a_graph_confirmed_at_one_chunk_length_gets_its_floor_at_that_length() -> None:
    """silero-vad's shipped graph (512 new samples + 64 of context per call): rows at its own chunk only, the floor
    measured, no one-call baseline (it takes no longer input), so no floor + compute either."""
    silero = pytest.importorskip("silero_vad", reason="silero-vad is not installed (pip install -e '.[examples]')")
    path = Path(silero.__file__).parent / "data" / "silero_vad.onnx"
    config = BenchConfig(batches=(1,), steps=(16,), rounds=3, calls_per_round=1, baselines=False, cold_start=False, settle_ms=0)
    report = run_bench([path], None, config, InterfaceHints({"sr": 16_000}, (), 512, 64))
    assert {(r.chunk, r.mode) for r in report.streaming} == {(512, "run"), (512, "helper")}
    for row in report.streaming:
        assert row.floor_us > 0 and row.whole_sequence_per_step_us == 0.0 and row.floor_plus_compute_us == 0.0
