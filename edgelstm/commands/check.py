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
    data: Path | None = typer.Option(
        None, "--data", help="real inputs: .npz/.npy/.pt (x, lengths, y) or CSV; a streaming check: .npy or 16-bit PCM .wav"
    ),
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
    threshold: float = typer.Option(0.5, "--threshold", help="ONNX reference: decision threshold on the probability output"),
    max_flips: float = typer.Option(0.01, "--max-flips", help="ONNX reference: fraction of chunks whose decision may flip"),
    max_delta: float = typer.Option(0.1, "--max-delta", help="ONNX reference: largest |delta| allowed on that output"),
    strict_evidence: bool = typer.Option(
        False, "--strict-evidence", help="a pass must also show its 95% interval inside the limit, else it is INCONCLUSIVE"
    ),
    allow_inconclusive: bool = typer.Option(
        False, "--allow-inconclusive", help="exit 0 when the verdict is INCONCLUSIVE (still reported as such, never as PASS)"
    ),
    seconds: float | None = typer.Option(
        None, "--seconds", help="ONNX reference without --data: seconds of built-in audio per voice (default 10)"
    ),
    as_json: bool = JsonOpt,
    model_options: ModelOptions = ModelOptions(),
) -> None:
    """Parity gate: every artifact on every provider against the float64 torch model (or, with an .onnx
    --reference, streamed chunk by chunk against that graph and gated on decisions); exit 1 on any drift, and
    on an INCONCLUSIVE verdict (the data cannot resolve a budget) unless --allow-inconclusive."""

    from edgelstm import jsonio
    from edgelstm.artifact.runners import PROVIDERS
    from edgelstm.artifact.session import handed_over
    from edgelstm.errors import ConfigError
    from edgelstm.files import write_text_atomic
    from edgelstm.loading import load_model
    from edgelstm.parity import CheckConfig, TolerancePolicy, run_check
    from edgelstm.parity.data import load_sequence_data
    from edgelstm.parity.outputs import check_output_paths
    from edgelstm.parity.render import junit_report, markdown_report, plot_time_profiles, print_report
    from edgelstm.parity.speech_corpus import builtin_seconds

    chosen = parse_names(providers)
    if not chosen:
        raise ConfigError(f"--providers {providers!r} names no provider; give a comma list of {', '.join(PROVIDERS)}")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be a positive number of sequences, got {limit}")
    # Before anything runs: a report must never replace what it judges (`--report model.onnx` once did).
    inputs = [*artifacts, Path(reference), *(p for p in (model_options.weights, data, tolerances) if p is not None)]
    check_output_paths({"--report": report, "--junit": junit, "--markdown": markdown, "--plot": plot}, inputs)
    from edgelstm.torchscript import is_torchscript_archive

    if reference.endswith(".onnx") or is_torchscript_archive(Path(reference)):  # a reference file: streamed
        if junit or markdown or plot:
            raise ConfigError("--junit, --markdown and --plot are for a torch reference; with an .onnx --reference use --report")
        with handed_over(*artifacts, reference):  # check runs only the user's graphs: ORT refusing one is theirs
            verdict = _check_against_onnx(
                artifacts,
                Path(reference),
                data,
                chosen,
                threshold,
                max_flips,
                max_delta,
                model_options,
                report,
                as_json,
                strict_evidence,
                builtin_seconds(seconds, data is not None),
            )
        raise typer.Exit(exit_code(verdict, allow_inconclusive))
    if seconds is not None:
        raise ConfigError("--seconds sets the built-in audio of a streaming check against an ONNX --reference")
    config = CheckConfig(
        providers=chosen,
        allow_missing=parse_names(allow_missing),
        task=task,
        stress=stress,
        strict_evidence=strict_evidence,
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

    with handed_over(*artifacts):
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
    raise typer.Exit(exit_code(result.verdict, allow_inconclusive))


def exit_code(verdict: str, allow_inconclusive: bool) -> int:
    """0 for pass; 1 for FAIL and, unless allowed, for inconclusive: a gate the data cannot resolve is not a pass."""
    from edgelstm.parity.evidence_strength import INCONCLUSIVE, PASS

    return EXIT_OK if verdict == PASS or (allow_inconclusive and verdict == INCONCLUSIVE) else EXIT_FAILED


def _check_against_onnx(
    artifacts: list[Path],
    reference: Path,
    data: Path | None,
    providers: tuple[str, ...],
    threshold: float,
    max_flips: float,
    max_delta: float,
    options: ModelOptions,
    report: Path | None,
    as_json: bool,
    strict_evidence: bool = False,
    seconds: float = 10.0,
) -> str:
    """The streaming check: the artifact and the ONNX reference fed the same chunks, each carrying its state."""
    from edgelstm import jsonio
    from edgelstm.files import write_text_atomic
    from edgelstm.parity.stream_check import stream_check_files
    from edgelstm.parity.stream_render import print_stream_report
    from edgelstm.parity.stream_verdict import StreamCheckConfig

    hints = options.interface_hints()
    config = StreamCheckConfig(
        chunk=options.chunk,
        threshold=threshold,
        max_flip_fraction=max_flips,
        max_abs_delta=max_delta,
        providers=providers,
        strict_evidence=strict_evidence,
    )
    from edgelstm.parity.reference import open_file_reference

    truth = open_file_reference(reference, options.allow_torchscript)
    results = stream_check_files(artifacts, truth, hints, data, config, seconds)
    payload = [r.to_dict() for r in results]
    if report is not None:
        write_text_atomic(report, jsonio.dumps(payload if len(payload) > 1 else payload[0]) + "\n", overwrite=True)
    if as_json:
        typer.echo(jsonio.dumps(payload if len(payload) > 1 else payload[0]))
    else:
        for result in results:
            print_stream_report(result, typer.echo)
        if report is not None:
            typer.echo(f"wrote {report}")
    from edgelstm.parity.evidence_strength import FAIL, INCONCLUSIVE, PASS

    verdicts = {r.verdict for r in results}
    return FAIL if FAIL in verdicts else INCONCLUSIVE if INCONCLUSIVE in verdicts else PASS
