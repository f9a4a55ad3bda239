"""`edgelstm convert`: the whole chain from a recipe, through `edgelstm.api.convert`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from edgelstm.cli_common import (
    EXIT_FAILED,
    EXIT_OK,
    app,
    user_errors,
)


@app.command()
@user_errors
def convert(
    recipe: Path = typer.Argument(..., help="recipe TOML (see README)"),
    restart: bool = typer.Option(False, "--restart", help="redo every step instead of resuming"),
) -> None:
    """Run load -> \\[distill] -> export -> quantize -> check -> bench -> report -> bundle from a recipe; re-runs resume."""
    from edgelstm import api  # heavy (torch): not at --help time

    result = api.convert(recipe, restart=restart, on_step=_show)
    typer.echo(f"{'PASS' if result.passed else 'FAIL'}: results in {result.out_dir} (report.html, bundle/)")
    raise typer.Exit(EXIT_OK if result.passed else EXIT_FAILED)


def _show(record: Any) -> None:
    took = f" ({record.seconds:.1f} s)" if record.status == "done" else ""
    typer.echo(f"[{record.name:>8}] {record.status}{took}: {record.summary}")
