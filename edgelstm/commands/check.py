"""`edgelstm check`: the parity gate. Parse the options, call `edgelstm.api.check`, write and print its verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from edgelstm import jsonio
from edgelstm.cli_common import (
    EXIT_FAILED,
    EXIT_OK,
    JsonOpt,
    app,
    model_options,
    option_group,
    parse_names,
    user_errors,
)
from edgelstm.errors import ConfigError
from edgelstm.files import write_text_atomic
from edgelstm.model_source import ModelOptions

# What the check runs and how it judges, declared once and handed to the command as one `CheckOptions`.
CHECK_OPTIONS: dict[str, tuple[Any, Any]] = {
    "data": (
        Path | None,
        typer.Option(
            None,
            "--data",
            help="real inputs: .npz/.npy/.pt (x, lengths, y) or CSV; a streaming check: .npy or 16-bit PCM .wav",
        ),
    ),
    "providers": (
        str,
        typer.Option("cpu,mobile,reference", "--providers", help="comma list of cpu, cuda, mobile, reference, litert"),
    ),
    "allow_missing": (str, typer.Option("", "--allow-missing", help="providers that may be absent (reported as skipped)")),
    "tolerances": (Path | None, typer.Option(None, "--tolerances", help="TOML file of tolerances (see README)")),
    "task": (str, typer.Option("auto", "--task", help="task-level checks: auto, classify, regress, none")),
    "stress": (bool, typer.Option(True, "--stress/--no-stress", help="add long, zero, large, ragged and batch-1 inputs")),
    "limit": (int | None, typer.Option(None, "--limit", help="use at most N sequences of --data")),
}
# The files it writes, declared apart: they are the command's, not the check's.
OUTPUT_OPTIONS: dict[str, tuple[Any, Any]] = {
    "junit": (Path | None, typer.Option(None, "--junit", help="write JUnit XML here")),
    "markdown": (Path | None, typer.Option(None, "--markdown", help="write a Markdown summary (PR comment) here")),
    "plot": (Path | None, typer.Option(None, "--plot", help="write a PNG of error vs time step here")),
    "report": (Path | None, typer.Option(None, "--report", help="write the full JSON report here")),
}
STREAM_OPTIONS: dict[str, tuple[Any, Any]] = {
    "threshold": (
        float,
        typer.Option(0.5, "--threshold", help="ONNX reference: decision threshold on the probability output"),
    ),
    "max_flips": (
        float,
        typer.Option(0.01, "--max-flips", help="ONNX reference: fraction of chunks whose decision may flip"),
    ),
    "max_delta": (float, typer.Option(0.1, "--max-delta", help="ONNX reference: largest |delta| allowed on that output")),
    "strict_evidence": (
        bool,
        typer.Option(
            False, "--strict-evidence", help="a pass must also show its 95% interval inside the limit, else it is INCONCLUSIVE"
        ),
    ),
    "allow_inconclusive": (
        bool,
        typer.Option(
            False,
            "--allow-inconclusive",
            help="exit 0 when the verdict is INCONCLUSIVE (still reported as such, never as PASS)",
        ),
    ),
    "seconds": (
        float | None,
        typer.Option(None, "--seconds", help="ONNX reference without --data: seconds of built-in audio per voice (default 10)"),
    ),
}


def _outputs(**paths: Path | None) -> dict[str, Path | None]:
    return paths


def _judging(**raw: Any) -> dict[str, Any]:
    return raw


@app.command()
@user_errors
@model_options
@option_group("judging", STREAM_OPTIONS, _judging)
@option_group("outputs", OUTPUT_OPTIONS, _outputs)
@option_group("running", CHECK_OPTIONS, _judging)
def check(
    artifacts: list[Path] = typer.Argument(..., help=".onnx / .ort / .tflite artifacts to check"),
    reference: str = typer.Option(..., "--reference", help="the trained model, as the loaders accept it"),
    running: Any = None,
    outputs: Any = None,
    judging: Any = None,
    as_json: bool = JsonOpt,
    model_options: ModelOptions = ModelOptions(),
) -> None:
    """Parity gate: every artifact on every provider against the float64 torch model (or, with an .onnx
    --reference, streamed chunk by chunk against that graph and gated on decisions); exit 1 on any drift, and
    on an INCONCLUSIVE verdict (the data cannot resolve a budget) unless --allow-inconclusive."""
    from edgelstm import api  # heavy (torch): not at --help time

    allow_inconclusive = judging.pop("allow_inconclusive")
    options = _check_options(running, judging)
    _refuse_outputs(artifacts, reference, outputs, options, model_options)
    progress = None if as_json else (lambda line: typer.echo(f"check: {line}", err=True))
    outcome = api.check(artifacts, model_options.source(reference), options, progress)
    _write_and_print(outcome, outputs, as_json)
    raise typer.Exit(exit_code(outcome.verdict, allow_inconclusive))


def _check_options(running: dict[str, Any], judging: dict[str, Any]) -> Any:
    from edgelstm.api import CheckOptions  # heavy (torch): not at --help time
    from edgelstm.artifact.runners import PROVIDERS  # heavy (numpy, onnx): not at --help time

    providers = parse_names(running["providers"])
    if not providers:  # said with what was typed, before CheckOptions refuses the empty list
        raise ConfigError(f"--providers {running['providers']!r} names no provider; give a comma list of {', '.join(PROVIDERS)}")
    values = {**running, **judging, "providers": providers, "allow_missing": parse_names(running["allow_missing"])}
    return CheckOptions(**values)


def _refuse_outputs(
    artifacts: list[Path], reference: str, outputs: dict[str, Path | None], options: Any, model_options: ModelOptions
) -> None:
    """Before anything runs: a report must never replace what it judges (`--report model.onnx` once did), and the
    torch-only files are refused for a streamed check."""
    from edgelstm.api import streams_against_file  # heavy (torch): not at --help time
    from edgelstm.parity.outputs import check_output_paths  # heavy (torch): not at --help time

    inputs = [*artifacts, Path(reference), *(p for p in (model_options.weights, options.data, options.tolerances) if p)]
    check_output_paths({f"--{name}": outputs[name] for name in ("report", "junit", "markdown", "plot")}, inputs)
    if streams_against_file(reference) and (outputs["junit"] or outputs["markdown"] or outputs["plot"]):
        raise ConfigError("--junit, --markdown and --plot are for a torch reference; with an .onnx --reference use --report")


def _write_and_print(outcome: Any, outputs: dict[str, Path | None], as_json: bool) -> None:

    written = []
    if (report := outputs["report"]) is not None:
        write_text_atomic(report, jsonio.dumps(outcome.payload()) + "\n", overwrite=True)
        written.append(report)
    if outcome.report is not None:
        written += _torch_files(outcome.report, outputs)
    if as_json:
        typer.echo(jsonio.dumps(outcome.payload()))
        return
    _print(outcome)
    for path in written:
        typer.echo(f"wrote {path}")


def _torch_files(result: Any, outputs: dict[str, Path | None]) -> list[Path]:
    """--junit, --markdown, --plot: views of a check against a torch reference."""
    from edgelstm.parity.render import junit_report, markdown_report, plot_time_profiles  # heavy (torch): not at --help time

    written = []
    for name, render in (("junit", junit_report), ("markdown", markdown_report)):
        if (path := outputs[name]) is not None:
            write_text_atomic(path, render(result), overwrite=True)
            written.append(path)
    if (plot := outputs["plot"]) is not None:
        plot_time_profiles(result, plot)
        written.append(plot)
    return written


def _print(outcome: Any) -> None:
    from edgelstm.parity.render import print_report  # heavy (torch): not at --help time
    from edgelstm.parity.stream_render import print_stream_report  # heavy (torch): not at --help time

    if outcome.report is not None:
        print_report(outcome.report)
    for result in outcome.streams:
        print_stream_report(result, typer.echo)


def exit_code(verdict: str, allow_inconclusive: bool) -> int:
    """0 for pass; 1 for FAIL and, unless allowed, for inconclusive: a gate the data cannot resolve is not a pass."""
    from edgelstm.parity.evidence_strength import INCONCLUSIVE, PASS  # heavy (torch): not at --help time

    return EXIT_OK if verdict == PASS or (allow_inconclusive and verdict == INCONCLUSIVE) else EXIT_FAILED
