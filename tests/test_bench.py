"""`edgelstm bench`: every figure comes with its settings; results round-trip; nothing is asserted about speed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgelstm.bench import BenchConfig, BenchReport, run_bench
from edgelstm.checkpoint import save_checkpoint
from edgelstm.cli import app
from edgelstm.errors import ConfigError
from edgelstm.export.api import export_model
from edgelstm.export.config import ExportConfig
from edgelstm.jsonio import dumps
from edgelstm.loading import load_model
from tests.conftest import tiny_model


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("bench")
    save_checkpoint(tiny_model(cell="lstm", layers=2), root / "ckpt")
    loaded = load_model(str(root / "ckpt"))
    paths = [export_model(loaded, root / "onnx", ExportConfig(form=form)).path for form in ("sequence", "streaming")]
    return root / "ckpt", paths


def test_bench_measures_every_variant_with_baselines(artifacts) -> None:
    ckpt, paths = artifacts
    config = BenchConfig(batches=(1, 4), steps=(12,), rounds=3, calls_per_round=2, streaming_chunks=(1, 4))
    report = run_bench(paths, load_model(str(ckpt)), config)
    names = {r.name for r in report.latencies}
    assert names >= {"sequence_fused.onnx", "streaming_fused.onnx", "torch eager fp32", "torch dynamic int8"}
    assert any(n.startswith("default path") for n in names)
    assert len(report.latencies) == 2 * 2 + 3 * 2  # artifacts x batches + 3 baselines x batches
    for r in report.latencies:
        assert r.samples == 6 and 0 < r.p50_ms <= r.p90_ms <= r.p99_ms
        assert math.isclose(r.sequences_per_s, r.batch / (r.p50_ms / 1e3))
    assert {(s.chunk, s.mode) for s in report.streaming} == {(1, "run"), (1, "io_binding"), (4, "run"), (4, "io_binding")}
    assert all(c.session_ms > 0 and c.peak_rss_mb > 10 for c in report.cold_starts)
    sizes = {s.name: s for s in report.sizes}
    assert sizes["sequence_fused.onnx"].gzip_bytes < sizes["sequence_fused.onnx"].file_bytes
    assert 0.9 < sizes["sequence_fused.onnx"].vs_fp32 <= 1.01  # the fp32 export is the teacher's size
    assert report.settings["allow_spinning"] is False and report.versions["onnxruntime"]
    assert BenchReport.from_dict(json.loads(dumps(report.to_dict()))).to_dict() == json.loads(dumps(report.to_dict()))


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
    assert json.loads(out.read_text())["latencies"]


def test_bench_rejects_meaningless_settings() -> None:
    with pytest.raises(ConfigError, match="rounds"):
        BenchConfig(rounds=1)
    with pytest.raises(ConfigError, match="batches"):
        BenchConfig(batches=(0,))


def test_cold_start_passes_inputs_through_a_file(artifacts, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from edgelstm.bench import runner
    from edgelstm.parity.artifacts import open_artifact

    seen: list[list[str]] = []
    real_run = subprocess.run

    def spy(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        seen.append(list(args))
        return real_run(args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(runner.subprocess, "run", spy)
    result = runner._cold_start(open_artifact(artifacts[1][0]))
    assert math.isfinite(result.session_ms) and math.isfinite(result.first_run_ms) and result.peak_rss_mb > 0
    (args,) = seen
    assert args[-1].endswith(".npz") and max(len(a) for a in args) < 4096  # never the data itself
    assert not Path(args[-1]).exists()  # the temporary inputs are removed


def test_memory_estimate_refuses_with_the_numbers(artifacts) -> None:
    from edgelstm.bench.memory import MemoryEstimate, bytes_per_step, ensure_fits, estimate
    from edgelstm.errors import ResourceLimitError
    from edgelstm.parity.artifacts import open_artifact

    info = open_artifact(artifacts[1][0])
    per_step = bytes_per_step(info)
    assert per_step == 4 * (5 + 3 + 6 * 8 * 2)  # features + classes + 6 x hidden x layers, float32
    assert estimate([info], (1, 32), (100,), copies=4).needed_bytes == 4 * 33 * 100 * per_step
    ensure_fits(MemoryEstimate(10 * 2**30, 64 * 2**30), (1,), (100,))  # 10 GiB of 64 GiB available: fine
    with pytest.raises(ResourceLimitError, match=r"about 40\.0 GiB.*32\.0 GiB limit.*64\.0 GiB available"):
        ensure_fits(MemoryEstimate(40 * 2**30, 64 * 2**30), (1,), (100,))
    ensure_fits(MemoryEstimate(10**15, None), (1,), (100,))  # the OS does not say: nothing to compare with
