"""`edgelstm check`: the parity gate."""

from __future__ import annotations

from pathlib import Path

import typer

from edgelstm.cli_common import (
    EXIT_FAILED,
    EXIT_OK,
    JsonOpt,
    app,
    model_options,
    parse_names,
    user_errors,
)
from edgelstm.model_source import ModelOptions


@app.command()
@user_errors
@model_options
def check(
    artifacts: list[Path] = typer.Argument(..., help=".onnx / .ort artifacts to check"),
    reference: str = typer.Option(..., "--reference", help="the trained model, as the loaders accept it"),
    data: Path | None = typer.Option(None, "--data", help="real inputs: .npz/.npy/.pt (x, lengths, y) or CSV"),
    providers: str = typer.Option("cpu,mobile,reference", "--providers", help="comma list of cpu, cuda, mobile, reference"),
    allow_missing: str = typer.Option("", "--allow-missing", help="providers that may be absent (reported as skipped)"),
    tolerances: Path | None = typer.Option(None, "--tolerances", help="TOML file of tolerances (see README)"),
    task: str = typer.Option("auto", "--task", help="task-level checks: auto, classify, regress, none"),
    stress: bool = typer.Option(True, "--stress/--no-stress", help="add long, zero, large, ragged and batch-1 inputs"),
    limit: int | None = typer.Option(None, "--limit", help="use at most N sequences of --data"),
    junit: Path | None = typer.Option(None, "--junit", help="write JUnit XML here"),
    markdown: Path | None = typer.Option(None, "--markdown", help="write a Markdown summary (PR comment) here"),
    plot: Path | None = typer.Option(None, "--plot", help="write a PNG of error vs time step here"),
    report: Path | None = typer.Option(None, "--report", help="write the full JSON report here"),
    as_json: bool = JsonOpt,
    model_options: ModelOptions = ModelOptions(),
) -> None:
    """Parity gate: every artifact on every provider against the float64 torch model; exit 1 on any drift."""

    from edgelstm import jsonio
    from edgelstm.errors import ConfigError
    from edgelstm.files import write_text_atomic
    from edgelstm.loading import load_model
    from edgelstm.parity import CheckConfig, TolerancePolicy, run_check
    from edgelstm.parity.artifacts import PROVIDERS
    from edgelstm.parity.data import load_sequence_data
    from edgelstm.parity.outputs import check_output_paths
    from edgelstm.parity.render import junit_report, markdown_report, plot_time_profiles, print_report

    chosen = parse_names(providers)
    if not chosen:
        raise ConfigError(f"--providers {providers!r} names no provider; give a comma list of {', '.join(PROVIDERS)}")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be a positive number of sequences, got {limit}")
    # Before anything runs: a report must never replace what it judges (`--report model.onnx` once did).
    inputs = [*artifacts, Path(reference), *(p for p in (model_options.weights, data, tolerances) if p is not None)]
    check_output_paths({"--report": report, "--junit": junit, "--markdown": markdown, "--plot": plot}, inputs)
    config = CheckConfig(
        providers=chosen,
        allow_missing=parse_names(allow_missing),
        task=task,
        stress=stress,
    )
    policy = TolerancePolicy.from_toml(tolerances) if tolerances else TolerancePolicy.defaults()
    loaded = load_model(model_options.source(reference))
    sequences = None
    if data is not None:
        sig = loaded.signature
        tokens = sig.kind == "tokens"
        sequences = load_sequence_data(data, tokens, None if tokens else sig.size, sig.size if tokens else None)
        if limit is not None:
            sequences = sequences.take(limit)

    def progress(line: str) -> None:
        typer.echo(f"check: {line}", err=True)

    result = run_check(artifacts, loaded, sequences, config, policy, None if as_json else progress, model_options.weights)
    written = []
    if report is not None:
        write_text_atomic(report, jsonio.dumps(result.to_dict()) + "\n", overwrite=True)
        written.append(report)
    if junit is not None:
        write_text_atomic(junit, junit_report(result), overwrite=True)
        written.append(junit)
    if markdown is not None:
        write_text_atomic(markdown, markdown_report(result), overwrite=True)
        written.append(markdown)
    if plot is not None:
        plot_time_profiles(result, plot)
        written.append(plot)
    if as_json:
        typer.echo(jsonio.dumps(result.to_dict()))
    else:
        print_report(result)
        for path in written:
            typer.echo(f"wrote {path}")
    raise typer.Exit(EXIT_OK if result.passed else EXIT_FAILED)
