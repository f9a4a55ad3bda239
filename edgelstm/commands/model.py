"""`edgelstm inspect` and `edgelstm export`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from edgelstm.cli_common import (
    EXIT_FAILED,
    EXIT_OK,
    JsonOpt,
    ModelArg,
    app,
    model_options,
    option_group,
    parse_ints,
    user_errors,
)
from edgelstm.commands.export import print_export
from edgelstm.errors import LoadError
from edgelstm.jsonio import to_jsonable
from edgelstm.model_source import ModelOptions, ModelSource
from edgelstm.torchscript import describe_torchscript, is_torchscript_archive, refuse_torchscript


@app.command()
@user_errors
@model_options
def inspect(
    model: str = ModelArg,
    as_json: bool = JsonOpt,
    model_options: ModelOptions = ModelOptions(),
) -> None:
    """Architecture, parameters, size, state layout and the export forms a model supports.

    For an ONNX graph made elsewhere: its inputs and outputs, scalar inputs, recurrent state pairs, and the batch
    axes and chunk lengths a probe run confirmed.
    """
    from edgelstm.loading import load_model  # heavy (torch): not at --help time
    from edgelstm.summary import summarize_model  # heavy (torch): not at --help time

    source = model_options.source(model)
    if model.endswith(".onnx"):
        _inspect_onnx(source, as_json)
        return

    if is_torchscript_archive(Path(model)):
        if not source.allow_torchscript:
            raise refuse_torchscript(Path(model))
        described = describe_torchscript(Path(model))
        if as_json:
            typer.echo(json.dumps(to_jsonable(described), indent=2))
            return
        from edgelstm.render import print_torchscript  # heavy (torch): not at --help time

        print_torchscript(described)
        return
    summary = summarize_model(load_model(source))
    if as_json:
        typer.echo(json.dumps(to_jsonable(summary), indent=2))
        return
    from edgelstm.render import print_summary  # heavy (torch): not at --help time

    print_summary(summary)


def _inspect_onnx(source: ModelSource, as_json: bool) -> None:
    from edgelstm.artifact.foreign import describe_onnx  # heavy (numpy, onnx): not at --help time

    path = Path(source.spec)
    if not path.is_file():
        raise LoadError(f"{path}: no such file")
    from edgelstm.artifact.metadata import recorded_user_module  # heavy (numpy, onnx): not at --help time
    from edgelstm.artifact.session import handed_over  # heavy (numpy, onnx): not at --help time

    with handed_over(path):
        interface = describe_onnx(path, list(source.states), dict(source.constants), source.chunk, axes=source.axes)
    traced = recorded_user_module(path)  # constants baked in when it was traced from a user module
    if as_json:
        typer.echo(json.dumps({"path": str(path), **to_jsonable(interface), "user_module": traced}, indent=2))
        return
    from edgelstm.render import _forward_text, print_foreign_interface  # heavy (torch): not at --help time

    print_foreign_interface(path, interface, _origin(path))
    if traced is not None:
        typer.echo(f"traced from {traced['traced_from']}: {_forward_text(traced['forward'])}; weights {traced['weights']}")


def _origin(path: Path) -> str:
    """What the file's own metadata says it is, for the heading of `inspect`."""
    from edgelstm.artifact.metadata import read_metadata  # heavy (numpy, onnx): not at --help time

    try:
        interface = read_metadata(path).interface
    except LoadError:
        return "ONNX graph without edgelstm metadata"
    if interface.impl == "foreign":
        return "edgelstm artifact derived from an ONNX graph made elsewhere"
    return f"edgelstm artifact: {interface.form} form, {interface.impl}"


# How the graph is built and verified, declared once and handed to the command as one `ExportOptions`.
EXPORT_OPTIONS: dict[str, tuple[Any, Any]] = {
    "form": (
        str,
        typer.Option("sequence", "--form", help="sequence (whole padded sequences) or streaming (chunk + state)"),
    ),
    "impl": (
        str,
        typer.Option("auto", "--impl", help="fused (ONNX LSTM/GRU ops), loop (MatMul + gates in a Loop), or auto"),
    ),
    "opset": (int, typer.Option(17, "--opset", help="ONNX opset (14..21); 17 by default, see README")),
    "lengths": (
        bool,
        typer.Option(True, "--lengths/--no-lengths", help="sequence form: a lengths input for variable-length batches"),
    ),
    "state_inputs": (bool, typer.Option(False, "--state-inputs", help="sequence form: add initial-state inputs")),
    "fixed_steps": (
        int | None,
        typer.Option(None, "--fixed-steps", help="with --impl unrolled: the one sequence length the graph runs at"),
    ),
    "batches": (str | None, typer.Option(None, "--batches", help="verification batch sizes, e.g. 1,3,8")),
    "steps": (
        str | None,
        typer.Option(None, "--steps", help="verification lengths (default 1,7,E,4E; E = --example-steps)"),
    ),
    "example_steps": (
        int | None,
        typer.Option(None, "--example-steps", help="example length used to export user modules"),
    ),
    "data": (
        Path | None,
        typer.Option(
            None, "--data", help=".npz of real inputs (x as the model was trained on, optional lengths) to verify on too"
        ),
    ),
    "normalize": (
        bool,
        typer.Option(
            True,
            "--normalize-in-graph/--no-normalize-in-graph",
            help="the checkpoint's training mean/std as the graph's first ops, so it takes raw features (default on)",
        ),
    ),
    "overwrite": (bool, typer.Option(False, "--overwrite", help="replace existing files in --out")),
    "target": (
        str,
        typer.Option("onnx", "--target", help="onnx, or litert: one .tflite per static shape (--batches x --chunks)"),
    ),
    "chunks": (
        str | None,
        typer.Option(None, "--chunks", help="--target litert, streaming: steps per call, one .tflite each (default 1)"),
    ),
}


def _export_options(**raw: Any) -> Any:
    from edgelstm.api import ExportOptions  # heavy (torch): not at --help time

    raw["steps"] = parse_ints(raw["steps"], "--steps")
    raw["batches"] = parse_ints(raw["batches"], "--batches")
    raw["chunks"] = parse_ints(raw["chunks"], "--chunks")
    return ExportOptions(**raw)


@app.command()
@user_errors
@model_options
@option_group("options", EXPORT_OPTIONS, _export_options)
def export(
    model: str = ModelArg,
    out: Path = typer.Option(..., "--out", help="directory for the .onnx file and its .export.json report"),
    options: Any = None,
    as_json: bool = JsonOpt,
    model_options: ModelOptions = ModelOptions(),
) -> None:
    """Export to ONNX, check it, and verify it in ONNX Runtime against torch at shapes other than the example."""
    from edgelstm import api  # heavy (torch): not at --help time
    from edgelstm.export.api import ExportResult  # heavy (torch): not at --help time
    from edgelstm.export.litert import LiteRTExportResult  # heavy (torch): not at --help time

    result = api.export(model_options.source(model), out, options)
    if as_json:
        typer.echo(json.dumps(to_jsonable(result), indent=2))
    else:
        print_export(result)
    failed = isinstance(result, (ExportResult, LiteRTExportResult)) and not result.passed  # a graph made elsewhere is refused
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)
