"""`edgelstm report`."""

from __future__ import annotations

from pathlib import Path

import typer

from edgelstm import jsonio
from edgelstm.cli_common import (
    app,
    user_errors,
)
from edgelstm.errors import OutputPathError
from edgelstm.files import write_text_atomic
from edgelstm.jsonio import to_jsonable


@app.command()
@user_errors
def report(
    run_dir: Path = typer.Argument(..., help="directory with check.json, bench.json and/or *.quant.json (or a report.json)"),
    out: Path | None = typer.Option(None, "--out", help="where to write report.json/.md/.html (default: RUN_DIR)"),
) -> None:
    """Combine a run's parity, latency and quantization results into report.json, report.md and report.html."""
    from edgelstm.report import collect_run, html_report, markdown_report, read_summary  # heavy (torch): not at --help time

    if run_dir.is_file() and run_dir.suffix == ".json":  # re-render a saved report
        summary = read_summary(run_dir)
        target = out or run_dir.parent
    else:
        summary = collect_run(run_dir)
        target = out or run_dir
    if target.exists() and not target.is_dir():
        raise OutputPathError(f"--out {target}: is a file; give a directory for report.json/.md/.html")
    target.mkdir(parents=True, exist_ok=True)
    write_text_atomic(target / "report.json", jsonio.dumps(to_jsonable(summary)) + "\n", overwrite=True)
    write_text_atomic(target / "report.md", markdown_report(summary), overwrite=True)
    write_text_atomic(target / "report.html", html_report(summary), overwrite=True)
    typer.echo(markdown_report(summary))
    typer.echo(f"wrote {target / 'report.json'}, {target / 'report.md'}, {target / 'report.html'}")
