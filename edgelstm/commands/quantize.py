"""`edgelstm quantize`: parse the options, call `edgelstm.api.quantize`, render its outcome."""

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
    parse_names_keep_case,
    user_errors,
)
from edgelstm.model_source import ModelOptions

# Everything after MODEL and --out, declared once and handed to the command as one `QuantizeOptions`.
QUANTIZE_OPTIONS: dict[str, tuple[Any, Any]] = {
    "scheme": (
        str,
        typer.Option(
            "auto",
            "--scheme",
            help="dynamic-int8, static-int8, fp16, int4, weight-only-int8, weight-only-int4, mixed (per layer), or auto",
        ),
    ),
    "reference": (
        str | None,
        typer.Option(None, "--reference", help="trained model for the parity check (default: MODEL when it is a checkpoint)"),
    ),
    "data": (
        Path | None,
        typer.Option(
            None,
            "--data",
            help="real inputs (.npz/.npy/.pt/CSV; a stateful audio graph: .npy or .wav): calibration and held-out parity",
        ),
    ),
    "budget": (Path | None, typer.Option(None, "--budget", help="TOML tolerances the artifact must meet (see check)")),
    "method": (str, typer.Option("minmax", "--method", help="static-int8 calibration: minmax, entropy, percentile")),
    "fixed_batch": (
        int | None,
        typer.Option(None, "--fixed-batch", help="static-int8: static shapes with this batch (NNAPI-style accelerators)"),
    ),
    "per_channel": (bool, typer.Option(False, "--per-channel", help="per-channel weight scales (int8 schemes)")),
    "reduce_range": (
        bool | None,
        typer.Option(None, "--reduce-range/--full-range", help="dynamic-int8: 7-bit weights; default: on for Loop graphs only"),
    ),
    "block_size": (
        int,
        typer.Option(
            32, "--block-size", help="int4 / weight-only-int4 block size; weight-only-int8 input channels per block scale"
        ),
    ),
    "rounding": (
        str,
        typer.Option(
            "nearest", "--rounding", help="weight-only schemes: nearest, or gptq (error-compensating, calibrated on data)"
        ),
    ),
    "granularity": (
        str,
        typer.Option("channel", "--granularity", help="weight-only-int8 scales: channel, block (input-channel blocks) or auto"),
    ),
    "objective": (
        str,
        typer.Option(
            "size",
            "--objective",
            help="auto: size (smallest within 1.1x fp32 latency), speed (fastest within it), size-at-any-cost",
        ),
    ),
    "keep_fp32": (str, typer.Option("", "--keep-fp32", help="fp16: op types kept in float32, e.g. LSTM")),
    "exclude": (str, typer.Option("", "--exclude", help="dynamic-int8: parts kept in float, e.g. head,layer0")),
    "weight_type": (str, typer.Option("int8", "--weight-type", help="dynamic-int8 MatMul weights: int8 or uint8")),
    "check": (bool, typer.Option(True, "--check/--no-check", help="run the parity gate before publishing the result")),
    "keep_failed": (bool, typer.Option(False, "--keep-failed", help="write the artifact even if it fails the parity gate")),
    "overwrite": (bool, typer.Option(False, "--overwrite", help="replace existing artifacts in --out")),
    "threshold": (
        float,
        typer.Option(0.5, "--threshold", help="ONNX reference: decision threshold on the probability output"),
    ),
    "max_flips": (
        float,
        typer.Option(0.01, "--max-flips", help="ONNX reference: fraction of chunks whose decision may flip"),
    ),
    "max_delta": (float, typer.Option(0.1, "--max-delta", help="ONNX reference: largest |delta| allowed on that output")),
    "target": (
        str,
        typer.Option(
            "onnx", "--target", help="litert: quantize an fp32 .tflite (dynamic-int8, weight-only-int8), gated on litert"
        ),
    ),
    "seconds": (
        float | None,
        typer.Option(None, "--seconds", help="ONNX reference without --data: seconds of built-in audio per voice (default 10)"),
    ),
}


def _quantize_options(**raw: Any) -> Any:
    from edgelstm.api import QuantizeOptions  # heavy (torch): not at --help time

    raw["keep_fp32"] = parse_names_keep_case(raw["keep_fp32"])
    raw["exclude"] = parse_names(raw["exclude"])
    return QuantizeOptions(**raw)


@app.command("quantize")
@user_errors
@model_options
@option_group("options", QUANTIZE_OPTIONS, _quantize_options)
def quantize_command(
    model: str = typer.Argument(..., help="the model: a checkpoint, .pt2, pkg.mod:factory (--weights), or any .onnx graph"),
    out: Path = typer.Option(..., "--out", help="directory for the quantized artifact(s)"),
    options: Any = None,
    as_json: bool = JsonOpt,
    model_options: ModelOptions = ModelOptions(),
) -> None:
    """Quantize a model with one scheme (or try them all with --scheme auto) and gate the result on parity.

    MODEL may be an ONNX graph made elsewhere (with --const/--state/--chunk/--context as it needs): the fp32 file
    itself, or --reference ORIGINAL.onnx, is then the reference, streamed chunk by chunk and compared on decisions."""
    from edgelstm.api import quantize  # heavy (torch): not at --help time

    outcome = quantize(model_options.source(model), out, options)
    if as_json:
        typer.echo(jsonio.dumps(outcome.payload()))
    else:
        _render(outcome)
    raise typer.Exit(EXIT_OK if outcome.passed else EXIT_FAILED)


def _render(outcome: Any) -> None:
    """The tables: auto's candidates, one scheme's result, or mixed's result and per-layer choices."""
    from edgelstm.quantize.render import print_layers, print_quantize, print_selection  # heavy (torch): not at --help time

    if outcome.litert is not None:
        _render_litert(outcome.litert)
        return
    if outcome.selection is not None:
        print_selection(outcome.selection)
        return
    if outcome.result is not None:
        print_quantize(outcome.result)
        return
    candidate = outcome.mixed
    if candidate.result is not None:
        print_quantize(candidate.result)
    else:
        typer.echo(candidate.refused)
    if candidate.details.get("layers"):
        print_layers("mixed", candidate.details["layers"], candidate.details.get("ranking_data", ""))


def _render_litert(result: Any) -> None:
    verdict = "not checked" if result.parity_passed is None else result.parity.get("verdict", "")
    worst = f", worst {result.parity['worst']} rel {result.parity['max_rel_error']:.3g}" if result.parity.get("worst") else ""
    for row in result.candidates:  # --scheme auto: every recipe tried
        typer.echo(f"  {row['scheme']}: {row['size_bytes']:,} bytes, {row['verdict']}")
    typer.echo(f"{result.scheme} ({result.recipe}): {result.source_size_bytes:,} -> {result.size_bytes:,} bytes")
    typer.echo(f"parity on litert vs torch float64: {verdict}{worst}")
    for line in result.parity.get("failures", []):
        typer.echo(f"  {line}")
    typer.echo(f"wrote {result.path} (sha256 {result.sha256[:12]})" if result.written else f"not written: {result.path.name}")
