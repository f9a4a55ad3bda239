"""Distance to the machine's limit: every artifact row of a bench report next to GEMM ceilings measured now.

Added after `run_bench` returns: the MACs and weight bytes are counted from each graph at the row's batch and
length (edgelstm.bench.macs), and the ceilings (edgelstm.bench.ceiling) are timed with the report's own timer
settings at each row's thread count and spinning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx

from edgelstm.artifact.feeds import data_shape, sequence_feeds
from edgelstm.artifact.file import ArtifactInfo
from edgelstm.artifact.layout import graph_feeds
from edgelstm.artifact.metadata import load_onnx_file
from edgelstm.bench.ceiling import CeilingSpec, gemm_rows, measure_ceilings
from edgelstm.bench.graph_scope import SMALL
from edgelstm.bench.macs import MacCount, count_macs
from edgelstm.bench.results import BenchReport, CeilingResult, RooflineResult
from edgelstm.bench.rows import LatencyResult
from edgelstm.timing import TimerSettings


def add_roofline(report: BenchReport, infos: Sequence[ArtifactInfo]) -> BenchReport:
    """Fill `report.ceilings` and `report.roofline` for its artifact rows (ONNX files only: an .ort file's graph
    is not readable here, and its rows are left out)."""
    by_name = {info.name: info for info in infos if info.path.suffix == ".onnx"}
    # edgelstm's own settings only: plain-session rows (ORT's pool, threads 0) would each cost a ceiling of their own
    rows = [r for r in report.latencies if r.kind == "artifact" and r.mode == "run" and r.name in by_name]
    models = {name: load_onnx_file(info.path) for name, info in by_name.items()}
    counts: dict[tuple[str, int, int], MacCount] = {}

    def count(name: str, batch: int, steps: int) -> MacCount:
        key = (name, batch, steps)
        if key not in counts:
            counts[key] = _count(models[name], by_name[name], batch, steps)
        return counts[key]

    planned: list[tuple[LatencyResult, MacCount, MacCount, tuple[int, int, int] | None]] = []
    specs: list[CeilingSpec] = []
    for row in rows:
        at_row, at_one = count(row.name, row.batch, row.steps), count(row.name, 1, row.steps)
        gemm = None
        if (largest := at_row.largest_matmul) is not None:
            gemm = (gemm_rows(at_row.macs, *largest, row.batch), *largest)
            spinning = bool(row.allow_spinning)
            specs += [CeilingSpec(kind, *gemm, row.threads, spinning) for kind in ("fp32", "int8")]
        planned.append((row, at_row, at_one, gemm))
    settings = report.settings
    timer = TimerSettings(
        int(settings.get("rounds", 15)), int(settings.get("calls_per_round", 5)), seed=int(settings.get("seed", 0))
    )
    measured = dict(measure_ceilings(specs, timer)) if specs else {}
    report.ceilings = [CeilingResult(**asdict(s), p50_ms=t.p50_ms, samples=t.samples) for s, t in measured.items()]
    ceilings = {(c.kind, c.m, c.k, c.n, c.threads, c.allow_spinning): c.gmacs_per_s for c in report.ceilings}
    report.roofline = []
    for row, at_row, at_one, gemm in planned:
        key = (*gemm, row.threads, bool(row.allow_spinning)) if gemm else None
        step_count = by_name[row.name].interface.chunk or row.steps  # a foreign graph's call: its chunk's samples
        report.roofline.append(
            RooflineResult(
                name=row.name,
                batch=row.batch,
                steps=row.steps,
                threads=row.threads,
                allow_spinning=row.allow_spinning,
                p50_ms=row.p50_ms,
                weight_bytes=at_row.stored_weight_bytes,
                macs_per_step=at_one.macs / step_count,
                macs_per_call=at_row.macs,
                weight_bytes_read_per_call=at_row.weight_bytes_read,
                gemm=gemm,
                ceiling_fp32_gmacs=ceilings.get(("fp32", *key)) if key else None,
                ceiling_int8_gmacs=ceilings.get(("int8", *key)) if key else None,
                assumptions=at_row.assumptions,
                execution_mode=row.execution_mode,
            )
        )
    return report


def _count(model: onnx.ModelProto, info: ArtifactInfo, batch: int, steps: int) -> MacCount:
    """Counted with the inputs one call of the bench fed: the one feed builder's shapes, and its small integer
    values (lengths, a foreign graph's constants), which decide trip counts and branches."""
    spec = info.interface.data_input
    x = np.zeros(data_shape(info.interface, batch, steps), np.int64 if spec.dtype == "int64" else np.float32)
    feeds = graph_feeds(info.interface, sequence_feeds(info.interface, x, None, str(Path(info.path).name)))  # its layout
    values = {k: v for k, v in feeds.items() if v.dtype.kind in "iub" and v.size <= SMALL and k != spec.name}
    return count_macs(model, {k: v.shape for k, v in feeds.items()}, batch, steps, values)
