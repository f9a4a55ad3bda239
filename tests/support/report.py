"""Helpers and fixtures that both halves of tests/test_report.py need: tests/unit/test_report.py and
tests/e2e/test_report_cli.py."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.bench import BenchConfig, run_bench
from edgelstm.checkpoint import save_checkpoint
from edgelstm.export.api import export_model
from edgelstm.jsonio import dumps
from edgelstm.loading import load_model
from edgelstm.parity import CheckConfig, run_check
from edgelstm.parity.data import SequenceData
from edgelstm.quantize import DynamicInt8Config, quantize
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
    (root / "run" / "check.json").write_text(dumps(check))
    bench = run_bench(
        [fp32, int8], loaded, BenchConfig(batches=(1,), steps=(10,), rounds=3, calls_per_round=2, cold_start=False, settle_ms=0.0)
    )
    (root / "run" / "bench.json").write_text(dumps(bench))
    return root / "run"


def _copy_run(run_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    return copy


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
