"""`edgelstm export GRAPH.onnx --form streaming | --impl unrolled --fixed-steps T`: the export command's path for
an ONNX graph made elsewhere.

Kept beside commands/model.py (which declares `export`) so that command stays one call per kind of model.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.cli_common import EXIT_OK
from edgelstm.errors import ConfigError
from edgelstm.model_source import ModelOptions


def export_onnx_graph(
    model: Path, out: Path, export_config: ExportConfig, overwrite: bool, options: ModelOptions, as_json: bool
) -> int:
    """--form streaming: expose the state of the graph's fused LSTM/GRU nodes as I/O, written only if streaming
    parity holds. --impl unrolled --fixed-steps T: those nodes written out for T steps, checked against the graph."""
    if export_config.impl == "unrolled":
        from edgelstm.export.unrolled_file import unrolled_graph_file

        assert export_config.fixed_steps is not None  # ExportConfig requires it with impl=unrolled
        unrolled = unrolled_graph_file(model, out, export_config.fixed_steps, overwrite, options.interface_hints())
        if as_json:
            typer.echo(json.dumps(unrolled.to_dict(), indent=2))
            return EXIT_OK
        for line in unrolled.report.lines():
            typer.echo(line)
        typer.echo(f"vs the original graph at {unrolled.steps} steps: max |error| {unrolled.max_abs_error:.3g}")
        typer.echo(f"wrote {unrolled.path} (sha256 {unrolled.sha256[:12]})")
        return EXIT_OK
    from edgelstm.export.state_exposure import stream_graph_file

    if export_config.form != "streaming":
        raise ConfigError(
            f"{model}: is an ONNX graph already; export of an .onnx file makes its streaming form (--form streaming) "
            "or its unrolled form (--impl unrolled --fixed-steps T)"
        )
    result = stream_graph_file(model, out, options.interface_hints(), overwrite)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return EXIT_OK
    for state in result.states:
        typer.echo(f"state exposed: {state.op_type} {state.node or '(unnamed)'}: {state.input_name} -> {state.output_name}")
    for parity in result.parity:
        typer.echo(f"streaming parity, chunks of {parity.chunk} vs whole sequence: max |error| {parity.max_abs_error:.3g}")
    typer.echo(f"wrote {result.path} (sha256 {result.sha256[:12]})")
    return EXIT_OK
