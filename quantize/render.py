"""Terminal output for quantization results."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from edgelstm.quantize.api import QuantizeResult
from edgelstm.quantize.selection import SelectionResult
from edgelstm.render import _console


def _parity_text(summary: dict | None) -> str:
    if not summary:
        return "not checked"
    parts = []
    if "top1_agreement" in summary:
        parts.append(f"top-1 {summary['top1_agreement']:.2%}")
    if "accuracy_delta" in summary:
        parts.append(f"acc {summary['accuracy_delta']:+.2%}")
    if summary.get("last_step_error") is not None:
        parts.append(f"err@{summary['last_step']} {summary['last_step_error']:.2g}")
    return ", ".join(parts)


def print_quantize(result: QuantizeResult) -> None:
    console = _console()
    verdict = {True: "[green]pass[/green]", False: "[red]FAIL[/red]", None: "not checked"}[result.parity_passed]
    console.print(
        f"{result.scheme} ({result.impl} form): {result.source_bytes:,} -> {result.size_bytes:,} bytes "
        f"({result.compression:.2f}x); parity {verdict} {escape(_parity_text(result.parity))}"
    )
    for note in result.notes:
        console.print(f"  - {escape(note)}")
    if result.parity and result.parity.get("failures"):
        for line in result.parity["failures"]:
            console.print(f"  [red]FAIL[/red] {escape(line)}")
    if result.path is not None:
        console.print(f"wrote {result.path} and {result.path.with_suffix('.quant.json').name}")
    else:
        console.print("[red]not written[/red]: the artifact failed the parity gate (--keep-failed writes it anyway)")


def print_selection(selection: SelectionResult) -> None:
    console = _console()
    table = Table(title="quantization candidates (parity vs torch float64 on held-out data + stress inputs)")
    for column in ("scheme", "form", "bytes", "ratio", "latency b=1", "parity", "verdict"):
        table.add_column(column)
    for c in selection.candidates:
        if c.result is None:
            table.add_row(c.scheme, "-", "-", "-", "-", escape(c.refused), "refused")
            continue
        verdict = "[green]pass[/green]" if c.passed else "[red]FAIL[/red] (not written)"
        if selection.winner is c:
            verdict += " [bold]winner[/bold]"
        table.add_row(
            c.scheme,
            c.result.impl,
            f"{c.result.size_bytes:,}",
            f"{c.result.compression:.2f}x",
            # a candidate that failed the gate is not written, so there is no file to time (was printed as 0.000 ms)
            f"{c.latency_ms:.3f} ms" if c.result.path is not None else "not timed (not written)",
            escape(_parity_text(c.summary)),
            verdict,
        )
    console.print(table)
    console.print(escape(selection.why))
    for c in selection.candidates:
        for line in (c.summary.get("failures") or [])[:3] if not c.passed else []:
            console.print(f"  {c.scheme}: [red]FAIL[/red] {escape(line)}")
