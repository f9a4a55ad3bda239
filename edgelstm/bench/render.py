"""Tables for `edgelstm bench`."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from edgelstm.bench.results import BenchReport
from edgelstm.render import _console


def print_bench(report: BenchReport) -> None:
    console = _console()
    baseline = {(r.batch, r.steps): r.p50_ms for r in report.latencies if r.name == "torch eager fp32"}
    default = {(r.batch, r.steps): r.p50_ms for r in report.latencies if r.name.startswith("default path")}
    table = Table(title="latency per call (ms): interleaved rounds, percentiles over all calls")
    for column in ("model", "B", "T", "threads", "mode", "p50", "p90", "p99", "seq/s", "vs torch eager", "vs default path"):
        table.add_column(column)
    for r in report.latencies:
        eager = baseline.get((r.batch, r.steps))
        dflt = default.get((r.batch, r.steps))
        table.add_row(
            escape(r.name),
            str(r.batch),
            str(r.steps),
            "ORT default" if r.threads == 0 else str(r.threads),
            r.mode,
            f"{r.p50_ms:.3f}",
            f"{r.p90_ms:.3f}",
            f"{r.p99_ms:.3f}",
            f"{r.sequences_per_s:,.0f}",
            f"{eager / r.p50_ms:.2f}x" if eager else "-",
            f"{dflt / r.p50_ms:.2f}x" if dflt else "-",
        )
    console.print(table)
    if report.streaming:
        stream = Table(title="streaming: per-step cost, chunk by chunk with state carried (1 thread)")
        for column in ("artifact", "chunk", "mode", "us per step", "one call over the sequence, us per step"):
            stream.add_column(column)
        for cost in report.streaming:
            stream.add_row(
                escape(cost.name), str(cost.chunk), cost.mode, f"{cost.per_step_us:.1f}", f"{cost.whole_sequence_per_step_us:.1f}"
            )
        console.print(stream)
    if report.cold_starts:
        cold = Table(title="cold start in a fresh process (1 thread)")
        for column in ("artifact", "session ms", "first run ms", "peak RSS MB"):
            cold.add_column(column)
        for c in report.cold_starts:
            cold.add_row(escape(c.name), f"{c.session_ms:.1f}", f"{c.first_run_ms:.2f}", f"{c.peak_rss_mb:.1f}")
        console.print(cold)
    sizes = Table(title="size")
    for column in ("artifact", "bytes", "gzip bytes", "parameters", "bytes/param", "vs fp32 teacher"):
        sizes.add_column(column)
    for s in report.sizes:
        sizes.add_row(
            escape(s.name),
            f"{s.file_bytes:,}",
            f"{s.gzip_bytes:,}",
            f"{s.parameters:,}",
            f"{s.bytes_per_parameter:.2f}",
            f"{s.vs_fp32:.2f}x" if s.vs_fp32 else "-",
        )
    console.print(sizes)
    settings = report.settings
    console.print(
        f"settings: ORT CPU EP, spinning off, rounds {settings['rounds']} x {settings['calls_per_round']} calls, variants "
        f"interleaved; torch {report.versions['torch']}, onnxruntime {report.versions['onnxruntime']}, "
        f"{report.versions['cpu_count']} CPUs"
    )
