"""Tables for `edgelstm bench`."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from edgelstm.bench.best import (
    DEFAULT_PATH_PREFIX,
    TORCH_EAGER,
    best_settings,
    best_vs_best,
    plain_session,
    policy,
    same_setting_ratio,
)
from edgelstm.bench.results import BenchReport, RooflineResult
from edgelstm.bench.rows import LatencyResult
from edgelstm.render import _console
from edgelstm.session_policy import entry_from_bench


def print_bench(report: BenchReport) -> None:
    """Print the bench tables (latency per batch and length, plain sessions, roofline) to the terminal."""
    console = _console()
    eager_rows = [r for r in report.latencies if r.name == TORCH_EAGER]
    default = {(r.batch, r.steps): r.p50_ms for r in report.latencies if r.name.startswith(DEFAULT_PATH_PREFIX)}
    table = Table(title="latency per call (ms): interleaved rounds, percentiles over all calls")
    for column in (
        "model",
        "B",
        "T",
        "threads",
        "spin",
        "mode",
        "p50",
        "p90",
        "p99",
        "seq/s",
        "vs torch eager",
        "vs default path",
    ):
        table.add_column(column)
    for r in report.latencies:
        # torch eager at this row's own thread count (ORT's default pool, threads 0, has no torch twin); the default
        # path is one setting (ORT's defaults), so every row is compared with it.
        eager = same_setting_ratio(r, eager_rows)
        dflt = default.get((r.batch, r.steps))
        table.add_row(
            *_setting_cells(r),
            r.mode,
            f"{r.p50_ms:.3f}",
            f"{r.p90_ms:.3f}",
            f"{r.p99_ms:.3f}",
            f"{r.sequences_per_s:,.0f}",
            f"{eager:.2f}x" if eager else "-",
            f"{dflt / r.p50_ms:.2f}x" if dflt else "-",
        )
    console.print(table)
    _print_plain(report)
    _print_best(report)
    _print_roofline(report)
    if report.streaming:
        stream = Table(
            title="streaming: per-step cost, chunk by chunk with state carried (1 thread), against its floor: a "
            "pass-through graph's per-call cost (floor) plus the model's compute per step (one call over the sequence)"
        )
        columns = ("artifact", "chunk", "mode", "us per step", "one call, us per step", "floor, us per call")
        for column in (*columns, "floor/chunk + one call", "ratio"):
            stream.add_column(column)
        for cost in report.streaming:
            whole = cost.whole_sequence_per_step_us
            stream.add_row(
                escape(cost.name),
                str(cost.chunk),
                cost.mode,
                f"{cost.per_step_us:.1f}",
                f"{whole:.1f}" if whole > 0 else "- (one chunk length only)",
                f"{cost.floor_us:.1f}" if cost.floor_us > 0 else "not measured",
                f"{cost.floor_plus_compute_us:.1f}" if cost.floor_plus_compute_us > 0 else "-",
                f"{cost.per_step_us / whole:.2f}x" if whole > 0 else "-",
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
    for fed in report.interfaces:
        states = ", ".join(fed.states) or "none"
        shape = ", ".join(map(str, fed.data_shape))
        console.print(escape(f"fed {fed.name}: {fed.data_input} [{shape}], state pairs {states}"))  # [..] is no markup
    settings = report.settings
    spinning = settings.get("spinning", [False])
    console.print(
        f"settings: ORT CPU EP, spinning {'off' if list(spinning) == [False] else 'swept off/on (on only above 1 thread)'}, "
        f"rounds {settings['rounds']} x {settings['calls_per_round']} calls, variants "
        f"interleaved{_settle_note(settings)}; torch {report.versions['torch']}, onnxruntime {report.versions['onnxruntime']}, "
        f"{report.versions['cpu_count']} CPUs"
    )


def _print_plain(report: BenchReport) -> None:
    """Print the plain-session table: each artifact as a user's default InferenceSession runs it."""
    rows = plain_session(report.latencies)
    if not rows:
        return
    table = Table(
        title="plain ONNX Runtime session (InferenceSession(path): ORT's defaults, no session entry) vs measured policy"
    )
    for column in ("artifact", "B", "T", "plain p50", "plain 1 thread p50", "policy p50", "policy setting", "plain / policy"):
        table.add_column(column)

    def ms(value: float | None) -> str:
        return f"{value:.3f}" if value is not None else "-"

    for r in rows:
        setting = r["policy_setting"]
        ratios = [v for v in (r["plain_default_vs_policy"], r["plain_1thread_vs_policy"]) if v is not None]
        table.add_row(
            escape(r["name"]),
            str(r["batch"]),
            str(r["steps"]),
            ms(r["plain_default_p50_ms"]),
            ms(r["plain_1thread_p50_ms"]),
            ms(r["policy_p50_ms"]),
            f"{setting['threads']} thr, spin {'on' if setting['allow_spinning'] else 'off'}" if setting else "-",
            " / ".join(f"{v:.2f}x" for v in ratios) or "-",
        )
    _console().print(table)


def _settle_note(settings: dict) -> str:
    """The pause after spinning sessions, in words (absent in older reports)."""
    settle = settings.get("settle_ms")  # absent in reports written before the pause existed
    return f", {settle:g} ms untimed pause after each workload whose threads keep spinning" if settle else ""


def _setting_cells(r: LatencyResult | RooflineResult) -> tuple[str, ...]:
    """The cells every per-row table starts with: artifact, batch, length, threads, spinning."""
    return escape(r.name), str(r.batch), str(r.steps), _threads(r.threads, r.execution_mode), _spin(r.allow_spinning)


def _threads(n: int, execution_mode: str = "sequential") -> str:
    """Intra-op threads; "N parallel" for ORT_PARALLEL rows (N inter-op threads, one intra-op thread per node)."""
    count = "ORT default" if n == 0 else str(n)
    return f"{count} parallel" if execution_mode == "parallel" else count


def _spin(allow: bool | None) -> str:
    """Whether spinning was allowed, as a table cell."""
    return "-" if allow is None else ("on" if allow else "off")


def _print_best(report: BenchReport) -> None:
    """Each contender at its own best measured setting, and best-vs-best ratios (what the issue's targets mean)."""
    best = best_settings(report.latencies)
    if not best:
        return
    console = _console()
    table = Table(title="each contender at its best measured setting (p50 ms; ratios best vs best, same batch and T)")
    for column in ("model", "B", "best threads", "spin", "p50 by T", "vs torch eager (best)", "vs default path"):
        table.add_column(column)
    for b in sorted(best, key=lambda b: (b.batch, b.kind != "artifact", b.name)):
        eager = best_vs_best(best, b, TORCH_EAGER)
        dflt = best_vs_best(best, b, DEFAULT_PATH_PREFIX)
        table.add_row(
            escape(b.name),
            str(b.batch),
            _threads(b.intra_op_threads, b.execution_mode),
            _spin(b.allow_spinning),
            ", ".join(f"T={s}: {ms:.3f}" for s, ms in b.p50_ms.items()),
            ", ".join(f"{v:.2f}x" for v in eager.values()) or "-",
            ", ".join(f"{v:.2f}x" for v in dflt.values()) or "-",
        )
    console.print(table)
    chosen = policy(best)
    if chosen:
        console.print(
            "policy (fastest artifact's setting per batch, written to the report as 'policy'): "
            + "; ".join(f"batch {batch}: {entry_from_bench(batch, p).describe()}" for batch, p in chosen.items())
        )


def _print_roofline(report: BenchReport) -> None:
    """Each artifact row against float and int8 GEMM ceilings measured in the same run at the row's settings."""
    if not report.roofline:
        return
    console = _console()
    table = Table(title="distance to the machine's limit (MACs counted from the graph; ceilings: one GEMM doing a call's work)")
    for column in (
        "artifact",
        "B",
        "T",
        "threads",
        "spin",
        "weight bytes",
        "MACs/step (B=1)",
        "GMAC/s",
        "weight GB/s",
        "fp32 GEMM GMAC/s",
        "int8 GEMM GMAC/s",
        "GEMM m x k x n",
        "of fp32 ceiling",
    ):
        table.add_column(column)
    for r in report.roofline:
        table.add_row(
            *_setting_cells(r),
            f"{r.weight_bytes:,}",
            f"{r.macs_per_step:,.0f}",
            f"{r.achieved_gmacs:.2f}",
            f"{r.weight_gb_per_s:.2f}",
            f"{r.ceiling_fp32_gmacs:.2f}" if r.ceiling_fp32_gmacs else "-",
            f"{r.ceiling_int8_gmacs:.2f}" if r.ceiling_int8_gmacs else "-",
            " x ".join(map(str, r.gemm)) if r.gemm else "-",
            f"{r.achieved_gmacs / r.ceiling_fp32_gmacs:.0%}" if r.ceiling_fp32_gmacs else "-",
        )
    console.print(table)
    notes = sorted({a for r in report.roofline for a in r.assumptions})
    for note in notes[:5]:
        console.print(f"  counted with an assumption: {escape(note)}")
    if len(notes) > 5:
        console.print(f"  ... and {len(notes) - 5} more assumptions (in the JSON report, per row)")
