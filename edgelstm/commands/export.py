"""What `edgelstm export` prints: an exported edgelstm model's verification, or, for an ONNX graph made elsewhere,
its streaming form (state exposed) or its unrolled form.

Kept beside commands/model.py (which declares `export`) so that command stays parse -> one API call -> render.
"""

from __future__ import annotations

from typing import Any

import typer


def print_export(result: Any) -> None:
    """The lines of `edgelstm export` for whichever result `edgelstm.api.export` returned."""
    from edgelstm.export.api import ExportResult  # heavy (torch): not at --help time
    from edgelstm.export.litert import LiteRTExportResult  # heavy (torch): not at --help time
    from edgelstm.export.unrolled_file import UnrolledGraphResult  # heavy (torch): not at --help time
    from edgelstm.render import print_export_result  # heavy (torch): not at --help time

    if isinstance(result, ExportResult):
        print_export_result(result)
    elif isinstance(result, UnrolledGraphResult):
        _print_unrolled(result)
    elif isinstance(result, LiteRTExportResult):
        _print_litert(result)
    else:
        _print_streaming(result)


def _print_unrolled(unrolled: Any) -> None:
    for line in unrolled.report.lines():
        typer.echo(line)
    typer.echo(f"vs the original graph at {unrolled.steps} steps: max |error| {unrolled.max_abs_error:.3g}")
    typer.echo(f"wrote {unrolled.path} (sha256 {unrolled.sha256[:12]})")


def _print_streaming(result: Any) -> None:
    for state in result.states:
        typer.echo(f"state exposed: {state.op_type} {state.node or '(unnamed)'}: {state.input_name} -> {state.output_name}")
    for parity in result.parity:
        typer.echo(f"streaming parity, chunks of {parity.chunk} vs whole sequence: max |error| {parity.max_abs_error:.3g}")
    source = result.source_parity
    if source is None:
        typer.echo("vs the source graph: not checked (it takes inputs besides the data and constants)")
    else:
        typer.echo(f"vs the source graph, one call of {source.chunk} steps: max |error| {source.max_abs_error:.3g}")
    typer.echo(f"layout: {result.layout.describe()}")
    typer.echo(f"wrote {result.path} (sha256 {result.sha256[:12]})")


def _print_litert(result: Any) -> None:
    for artifact in result.artifacts:
        for case in artifact.verification.cases:
            error = case.error or f"max |error| {max((o.max_abs_error for o in case.outputs), default=0.0):.3g}"
            typer.echo(f"{artifact.path.name}: {case.label}: {error} ({'ok' if case.passed else 'FAIL'})")
        if artifact.written:
            typer.echo(
                f"wrote {artifact.path} (sha256 {artifact.sha256[:12]}, {artifact.size_bytes:,} bytes) + {artifact.path.name}.json"
            )
        else:
            typer.echo(f"not written: {artifact.path.name} does not match torch")
