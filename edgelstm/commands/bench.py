"""`edgelstm bench`: parse the options into a `BenchConfig`, call `edgelstm.api.bench`, print and write the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from edgelstm import jsonio
from edgelstm.cli_common import (
    JsonOpt,
    app,
    model_options,
    option_group,
    parse_ints,
    user_errors,
)
from edgelstm.errors import ConfigError
from edgelstm.files import write_text_atomic
from edgelstm.model_source import ModelOptions

# What is timed and how, declared once and handed to the command as one `BenchConfig`.
BENCH_OPTIONS: dict[str, tuple[Any, Any]] = {
    "batches": (str, typer.Option("1,32", "--batches", help="batch sizes")),
    "steps": (str, typer.Option("100", "--steps", help="sequence lengths")),
    "threads": (str, typer.Option("1", "--threads", help="ORT intra-op / torch thread counts")),
    "spinning": (
        str,
        typer.Option(
            "off", "--spinning", help="ORT intra-op spinning: off, on, or both (swept; the report's policy records the winner)"
        ),
    ),
    "execution_mode": (
        str,
        typer.Option(
            "sequential",
            "--execution-mode",
            help="ORT execution mode: sequential, parallel (nodes side by side on the --threads count of inter-op "
            "threads), or both (swept; measured above 1 thread only)",
        ),
    ),
    "rounds": (int, typer.Option(15, "--rounds", help="interleaved rounds (medians need several)")),
    "chunks": (str, typer.Option("1,4,16", "--chunks", help="streaming chunk sizes")),
    "baselines": (
        bool,
        typer.Option(True, "--baselines/--no-baselines", help="torch eager, torch dynamic int8, default path"),
    ),
    "cold_start": (
        bool,
        typer.Option(True, "--cold-start/--no-cold-start", help="time session creation in a fresh process"),
    ),
    "roofline": (
        bool,
        typer.Option(
            True, "--roofline/--no-roofline", help="MACs and weight bytes per step, and float/int8 GEMM ceilings measured here"
        ),
    ),
    "plain": (
        bool,
        typer.Option(
            True,
            "--plain/--no-plain",
            help="also time each artifact in a plain ONNX Runtime session (ORT's defaults, no session entry), at ORT's "
            "default threads and at 1 thread",
        ),
    ),
}


def _bench_config(**raw: Any) -> Any:
    from edgelstm.bench import BenchConfig  # heavy (torch): not at --help time

    return BenchConfig(
        batches=parse_ints(raw["batches"], "--batches") or (1,),
        steps=parse_ints(raw["steps"], "--steps") or (100,),
        threads=parse_ints(raw["threads"], "--threads") or (1,),
        spinning=_choice(raw["spinning"], "--spinning", _SPINNING),
        execution_modes=_choice(raw["execution_mode"], "--execution-mode", _EXECUTION_MODES),
        rounds=raw["rounds"],
        streaming_chunks=parse_ints(raw["chunks"], "--chunks") or (1,),
        baselines=raw["baselines"],
        cold_start=raw["cold_start"],
        roofline=raw["roofline"],
        plain=raw["plain"],
    )


@app.command()
@user_errors
@model_options
@option_group("config", BENCH_OPTIONS, _bench_config)
def bench(
    artifacts: list[Path] = typer.Argument(..., help=".onnx / .ort / .tflite artifacts to time"),
    reference: str | None = typer.Option(
        None, "--reference", help="trained model: adds torch and default-path baselines and size ratios"
    ),
    config: Any = None,
    report: Path | None = typer.Option(None, "--report", help="write the JSON results here"),
    as_json: bool = JsonOpt,
    model_options: ModelOptions = ModelOptions(),
) -> None:
    """Latency (p50/p90/p99, throughput), cold start, streaming per-step cost and size, with baselines."""
    from edgelstm import api  # heavy (torch): not at --help time

    source = model_options.source(reference) if reference else None
    result = api.bench(artifacts, source, config, model_options)
    if report is not None:
        write_text_atomic(report, jsonio.dumps(result) + "\n", overwrite=True)
    if as_json:
        typer.echo(jsonio.dumps(result))
        return
    from edgelstm.bench.render import print_bench  # heavy (torch): not at --help time

    print_bench(result)
    if report is not None:
        typer.echo(f"wrote {report}")


_SPINNING = {"off": (False,), "on": (True,), "both": (False, True)}
_EXECUTION_MODES = {"sequential": ("sequential",), "parallel": ("parallel",), "both": ("sequential", "parallel")}


def _choice(text: str, option: str, table: dict[str, Any]) -> Any:

    key = text.strip().lower()
    if key not in table:
        *first, last = table
        raise ConfigError(f"{option} {text!r}: choose {', '.join(first)} or {last}")
    return table[key]
