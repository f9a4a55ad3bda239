"""`edgelstm quantize`."""

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
    parse_names_keep_case,
    user_errors,
)
from edgelstm.model_source import ModelOptions


@app.command("quantize")
@user_errors
@model_options
def quantize_command(
    model: str = typer.Argument(..., help="the model: a checkpoint, .pt2, pkg.mod:factory (--weights), or any .onnx graph"),
    out: Path = typer.Option(..., "--out", help="directory for the quantized artifact(s)"),
    scheme: str = typer.Option(
        "auto",
        "--scheme",
        help="dynamic-int8, static-int8, fp16, int4, weight-only-int8, weight-only-int4, mixed (per layer), or auto",
    ),
    reference: str | None = typer.Option(
        None, "--reference", help="trained model for the parity check (default: MODEL when it is a checkpoint)"
    ),
    data: Path | None = typer.Option(
        None,
        "--data",
        help="real inputs (.npz/.npy/.pt/CSV; a stateful audio graph: .npy or .wav): calibration and held-out parity",
    ),
    budget: Path | None = typer.Option(None, "--budget", help="TOML tolerances the artifact must meet (see check)"),
    method: str = typer.Option("minmax", "--method", help="static-int8 calibration: minmax, entropy, percentile"),
    fixed_batch: int | None = typer.Option(
        None, "--fixed-batch", help="static-int8: static shapes with this batch (NNAPI-style accelerators)"
    ),
    per_channel: bool = typer.Option(False, "--per-channel", help="per-channel weight scales (int8 schemes)"),
    reduce_range: bool | None = typer.Option(
        None, "--reduce-range/--full-range", help="dynamic-int8: 7-bit weights; default: on for Loop graphs only"
    ),
    block_size: int = typer.Option(
        32, "--block-size", help="int4 / weight-only-int4 block size; weight-only-int8 input channels per block scale"
    ),
    rounding: str = typer.Option(
        "nearest", "--rounding", help="weight-only schemes: nearest, or gptq (error-compensating, calibrated on data)"
    ),
    granularity: str = typer.Option(
        "channel", "--granularity", help="weight-only-int8 scales: channel, block (input-channel blocks) or auto"
    ),
    objective: str = typer.Option(
        "size",
        "--objective",
        help="auto: size (smallest within 1.1x fp32 latency), speed (fastest within it), size-at-any-cost",
    ),
    keep_fp32: str = typer.Option("", "--keep-fp32", help="fp16: op types kept in float32, e.g. LSTM"),
    exclude: str = typer.Option("", "--exclude", help="dynamic-int8: parts kept in float, e.g. head,layer0"),
    weight_type: str = typer.Option("int8", "--weight-type", help="dynamic-int8 MatMul weights: int8 or uint8"),
    check: bool = typer.Option(True, "--check/--no-check", help="run the parity gate before publishing the result"),
    keep_failed: bool = typer.Option(False, "--keep-failed", help="write the artifact even if it fails the parity gate"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace existing artifacts in --out"),
    threshold: float = typer.Option(0.5, "--threshold", help="ONNX reference: decision threshold on the probability output"),
    max_flips: float = typer.Option(0.01, "--max-flips", help="ONNX reference: fraction of chunks whose decision may flip"),
    max_delta: float = typer.Option(0.1, "--max-delta", help="ONNX reference: largest |delta| allowed on that output"),
    seconds: float | None = typer.Option(
        None, "--seconds", help="ONNX reference without --data: seconds of built-in audio per voice (default 10)"
    ),
    as_json: bool = JsonOpt,
    model_options: ModelOptions = ModelOptions(),
) -> None:
    """Quantize a model with one scheme (or try them all with --scheme auto) and gate the result on parity.

    MODEL may be an ONNX graph made elsewhere (with --const/--state/--chunk/--context as it needs): the fp32 file
    itself, or --reference ORIGINAL.onnx, is then the reference, streamed chunk by chunk and compared on decisions."""
    from edgelstm import jsonio
    from edgelstm.errors import ConfigError
    from edgelstm.files import check_output_dir
    from edgelstm.loading import load_model
    from edgelstm.parity import TolerancePolicy
    from edgelstm.parity.data import load_sequence_data
    from edgelstm.parity.speech_corpus import builtin_seconds
    from edgelstm.quantize import quantize, scheme_config
    from edgelstm.quantize.gate import ParityGate
    from edgelstm.quantize.render import print_quantize, print_selection
    from edgelstm.quantize.selection import select_scheme
    from edgelstm.quantize.split import split_sequences

    check_output_dir(out)  # before any work: a bad --out is known without loading anything
    _check_objective(objective)
    if scheme != "auto":
        scheme_config(scheme)  # an unknown scheme name is refused before the model loads
    policy = TolerancePolicy.from_toml(budget) if budget else TolerancePolicy.defaults()
    is_onnx = model.endswith(".onnx")
    _admit_graphs(model, reference)
    if is_onnx and _is_foreign(Path(model), reference):
        raise typer.Exit(
            _quantize_foreign(
                Path(model),
                Path(reference or model),
                out,
                scheme,
                data,
                check,
                keep_failed,
                overwrite,
                model_options,
                as_json,
                (threshold, max_flips, max_delta),
                objective,
                _weight_only_options(scheme, rounding, granularity, block_size),
                builtin_seconds(seconds, data is not None),
            )
        )
    if seconds is not None:
        raise ConfigError(
            "--seconds sets the built-in audio of a streaming check against an ONNX graph; this model is gated on --data"
        )
    ref_spec = reference or (None if is_onnx else model)
    loaded = load_model(model_options.source(ref_spec)) if ref_spec else None
    sequences = None
    if data is not None:
        sig = loaded.signature if loaded else None
        sequences = load_sequence_data(
            data, bool(sig and sig.kind == "tokens"), sig.size if sig and sig.kind == "features" else None
        )
    if scheme == "auto":
        if loaded is None or sequences is None:
            raise ConfigError("--scheme auto needs a reference model (a checkpoint MODEL or --reference) and --data")
        selection = select_scheme(
            loaded, sequences, out, policy, schemes=_auto_schemes(block_size), overwrite=overwrite, objective=objective
        )
        if as_json:
            typer.echo(jsonio.dumps(selection.to_dict()))
        else:
            print_selection(selection)
        raise typer.Exit(EXIT_OK if selection.winner else EXIT_FAILED)
    if scheme == "mixed":
        if loaded is None:
            raise ConfigError("--scheme mixed measures each layer against the trained model: pass --reference")
        calibration, gated = (split_sequences(sequences)[:2]) if sequences is not None else (None, None)
        gate = ParityGate(loaded, gated, policy)
        source = loaded if not is_onnx else Path(model)
        raise typer.Exit(_run_mixed(source, gate, out, calibration, None, objective, block_size, overwrite, as_json))
    options: dict[str, object] = {}
    if scheme in ("dynamic-int8", "static-int8"):
        options["per_channel"] = per_channel
    if scheme == "dynamic-int8":
        options["reduce_range"] = reduce_range
        options["exclude"] = parse_names(exclude)
        options["weight_type"] = weight_type
    if scheme == "static-int8":
        options["method"] = method
        options["fixed_batch"] = fixed_batch
    if scheme in ("int4", "weight-only-int4"):
        options["block_size"] = block_size
    options.update(_weight_only_options(scheme, rounding, granularity, block_size))
    if scheme == "fp16":
        options["keep_fp32_ops"] = parse_names_keep_case(keep_fp32)
    config = scheme_config(scheme, **options)
    source = loaded if (loaded is not None and not is_onnx) else Path(model)
    gate = None
    if check:
        if loaded is None:
            raise ConfigError("the parity check needs the trained model: pass --reference (or --no-check)")
        gate = ParityGate(loaded, sequences, policy)
    calibration, split = sequences, None
    calibrates = scheme == "static-int8" or options.get("rounding", "nearest") != "nearest"
    if sequences is not None and gate is not None and calibrates:
        # No sequence both calibrates and gates: every third row calibrates, the gate judges the others.
        calibration, gated, split = split_sequences(sequences)
        gate = ParityGate(loaded, gated, policy)  # type: ignore[arg-type]  # loaded is set: the gate needs it
    result = quantize(
        source, config, out, calibration=calibration, overwrite=overwrite, gate=gate, keep_failed=keep_failed, data_split=split
    )
    if as_json:
        typer.echo(jsonio.dumps(result.to_dict()))
    else:
        print_quantize(result)
    raise typer.Exit(EXIT_FAILED if result.parity_passed is False else EXIT_OK)


def _run_mixed(
    source: object,
    gate: object,
    out: Path,
    data: object,
    hints: object,
    objective: str,
    block_size: int,
    overwrite: bool,
    as_json: bool,
    calibration_stream: object = None,
) -> int:
    """`--scheme mixed`: per-layer sensitivity, the greedy choice, the gated publish; the per-layer table."""
    from edgelstm import jsonio
    from edgelstm.quantize.render import print_layers, print_quantize
    from edgelstm.quantize.selection import mixed_candidate

    candidate = mixed_candidate(
        source,  # type: ignore[arg-type]
        gate,  # type: ignore[arg-type]
        out,
        data,  # type: ignore[arg-type]
        hints,  # type: ignore[arg-type]
        objective,  # type: ignore[arg-type]
        block_size,
        overwrite,
        calibration_stream,  # type: ignore[arg-type]
    )
    if as_json:
        typer.echo(jsonio.dumps(candidate.to_dict()))
    else:
        if candidate.result is not None:
            print_quantize(candidate.result)
        else:
            typer.echo(candidate.refused)
        if candidate.details.get("layers"):
            print_layers("mixed", candidate.details["layers"], candidate.details.get("ranking_data", ""))
    return EXIT_OK if candidate.passed else EXIT_FAILED


def _admit_graphs(model: str, reference: str | None) -> None:
    """The user's .onnx files (model, reference), refused in one line when ONNX Runtime cannot load them; checked here
    because quantize then runs graphs it wrote itself, whose failures are edgelstm's (internal errors)."""
    from edgelstm.artifact.session import admit_user_graph

    for spec in (model, reference):
        if spec is not None and spec.endswith(".onnx") and Path(spec).is_file():
            admit_user_graph(Path(spec))


def _check_objective(objective: str) -> None:
    from edgelstm.errors import ConfigError
    from edgelstm.quantize.selection_table import OBJECTIVES

    if objective not in OBJECTIVES:
        raise ConfigError(f"--objective {objective!r}: choose {', '.join(OBJECTIVES)}")


def _auto_schemes(block_size: int) -> tuple:
    """auto's schemes, with --block-size reaching both int4 schemes."""
    from dataclasses import replace

    from edgelstm.quantize.config import Int4Config, WeightOnlyInt4Config
    from edgelstm.quantize.selection import DEFAULT_SCHEMES

    return tuple(
        replace(c, block_size=block_size) if isinstance(c, Int4Config | WeightOnlyInt4Config) else c for c in DEFAULT_SCHEMES
    )


def _weight_only_options(scheme: str, rounding: str, granularity: str, block_size: int) -> dict[str, object]:
    """--rounding / --granularity for the weight-only schemes (refused with the reason for the others)."""
    from edgelstm.errors import ConfigError

    if scheme not in ("weight-only-int8", "weight-only-int4"):
        if (rounding, granularity) != ("nearest", "channel"):
            raise ConfigError(f"--rounding / --granularity apply to weight-only-int8 and weight-only-int4, not {scheme}")
        return {}
    options: dict[str, object] = {"rounding": rounding, "granularity": granularity}
    if scheme == "weight-only-int8":
        options["block_size"] = block_size
    return options


def _is_foreign(model: Path, reference: str | None) -> bool:
    """An ONNX MODEL is quantized as a graph made elsewhere when its reference is an ONNX file too, or when it
    has no edgelstm metadata and no reference was named (it is then its own reference)."""
    if reference is not None:
        from edgelstm.torchscript import is_torchscript_archive

        return reference.endswith(".onnx") or is_torchscript_archive(Path(reference))
    from edgelstm.artifact.metadata import read_metadata
    from edgelstm.errors import LoadError

    try:
        read_metadata(model)
    except LoadError:
        return model.is_file()
    return False


def _quantize_foreign(
    model: Path,
    reference: Path,
    out: Path,
    scheme: str,
    data: Path | None,
    check: bool,
    keep_failed: bool,
    overwrite: bool,
    options: ModelOptions,
    as_json: bool,
    budget: tuple[float, float, float],
    objective: str = "size",
    scheme_options: dict[str, object] | None = None,
    seconds: float = 10.0,
) -> int:
    from edgelstm import jsonio
    from edgelstm.parity.reference import open_file_reference
    from edgelstm.parity.speech_corpus import builtin_speech
    from edgelstm.parity.stream_check import StreamGate
    from edgelstm.parity.stream_data import load_stream_data
    from edgelstm.parity.stream_verdict import StreamCheckConfig
    from edgelstm.quantize import quantize, scheme_config
    from edgelstm.quantize.render import print_quantize, print_selection
    from edgelstm.quantize.selection import select_foreign_scheme
    from edgelstm.quantize.split import split_stream, stream_split

    hints = options.interface_hints()
    gate = None
    sr = options.constants.get("sr")
    rate = int(sr or 16_000)
    # Calibration data only where something calibrates (GPTQ rows, auto, mixed): otherwise the gate gets it all.
    rounded = scheme in ("auto", "mixed") or (scheme_options or {}).get("rounding", "nearest") != "nearest"
    if data is not None:  # the user's audio: one part calibrates, the rest gates
        loaded = load_stream_data(data, int(sr) if sr is not None else None)
        calibration, signal, split = split_stream(loaded, options.chunk or 1, rate) if rounded else (None, loaded, None)
    else:  # built-in audio: the calibration role's stream, never the gate's (each made only when it is used)
        calibration = builtin_speech("calibration", seconds, rate, chunk=options.chunk or 1) if rounded else None
        signal = builtin_speech("gate", seconds, rate, chunk=options.chunk or 1)
        split = stream_split(calibration, signal) if calibration is not None else None
    if check or scheme in ("auto", "mixed"):
        threshold, max_flips, max_delta = budget
        config = StreamCheckConfig(threshold=threshold, max_flip_fraction=max_flips, max_abs_delta=max_delta)
        gate = StreamGate(open_file_reference(reference, options.allow_torchscript), signal, config)
    if gate is None and scheme == "mixed":
        from edgelstm.errors import ConfigError

        raise ConfigError("--scheme mixed measures each layer through the gate: drop --no-check")
    if gate is not None and scheme == "auto":
        selection = select_foreign_scheme(
            model,
            hints,
            gate,
            out,
            overwrite=overwrite,
            objective=objective,  # type: ignore[arg-type]
            calibration_stream=calibration,
            data_split=split,
        )
        if as_json:
            typer.echo(jsonio.dumps(selection.to_dict()))
        else:
            print_selection(selection)
        return EXIT_OK if selection.winner else EXIT_FAILED
    if gate is not None and scheme == "mixed":
        return _run_mixed(model, gate, out, None, hints, objective, 32, overwrite, as_json, calibration)
    result = quantize(
        model,
        scheme_config(scheme, **(scheme_options or {})),
        out,
        overwrite=overwrite,
        gate=gate,
        keep_failed=keep_failed,
        foreign=hints,
        calibration_stream=calibration,
        data_split=split if gate is not None else None,
    )
    if as_json:
        typer.echo(jsonio.dumps(result.to_dict()))
    else:
        print_quantize(result)
    return EXIT_FAILED if result.parity_passed is False else EXIT_OK
