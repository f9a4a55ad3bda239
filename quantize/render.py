"""Terminal output for quantization results."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from edgelstm.quantize.api import QuantizeResult
from edgelstm.quantize.selection_table import SPEED_LIMIT, SelectionResult
from edgelstm.render import _console


def _parity_text(summary: dict | None) -> str:
    """The gate's verdict in a few words for the quantize table."""
    if not summary:
        return "not checked"
    parts = []
    if "top1_agreement" in summary:
        parts.append(f"top-1 {summary['top1_agreement']:.2%}")
    if "accuracy_delta" in summary:
        parts.append(f"acc {summary['accuracy_delta']:+.2%}")
    if "flips" in summary:  # the streaming gate (a graph made elsewhere): decisions and probabilities
        parts.append(f"{summary['flips']} of {summary.get('decisions', '?')} flipped")
        parts.append(f"max |dp| {summary.get('max_abs_delta', 0.0):.3f}")
    if summary.get("last_step_error") is not None:
        parts.append(f"err@{summary['last_step']} {summary['last_step_error']:.2g}")
    return ", ".join(parts)


def _inconclusive(summary: dict | None) -> bool:
    """The gate's data could not resolve its budget: not a pass, not a failure of the artifact."""
    return summary is not None and summary.get("verdict") == "inconclusive"


def print_quantize(result: QuantizeResult) -> None:
    """Print one quantization's result: sizes, implementation, notes and the gate's verdict."""
    console = _console()
    verdict = {True: "[green]pass[/green]", False: "[red]FAIL[/red]", None: "not checked"}[result.parity_passed]
    if _inconclusive(result.parity):
        verdict = "[yellow]INCONCLUSIVE[/yellow]"
    slower = f"; [yellow]slower form[/yellow]: {escape(result.slower_form)} (not timed here)" if result.slower_form else ""
    console.print(
        f"{result.scheme} ({result.impl} form): {result.source_bytes:,} -> {result.size_bytes:,} bytes "
        f"({result.compression:.2f}x); parity {verdict} {escape(_parity_text(result.parity))}{slower}"
    )
    for note in result.notes:
        console.print(f"  - {escape(note)}")
    if result.parity and result.parity.get("failures"):
        for line in result.parity["failures"]:
            word = "[yellow]INCONCLUSIVE[/yellow]" if line.startswith("inconclusive") else "[red]FAIL[/red]"
            console.print(f"  {word} {escape(line)}")
    if result.path is not None:
        console.print(f"wrote {result.path} and {result.path.with_suffix('.quant.json').name}")
    elif _inconclusive(result.parity):
        console.print(
            "[red]not written[/red]: the parity gate's data cannot resolve its budget (INCONCLUSIVE, see above): give more "
            "--data or a looser budget (--keep-failed writes it anyway)"
        )
    else:
        console.print("[red]not written[/red]: the artifact failed the parity gate (--keep-failed writes it anyway)")


def print_selection(selection: SelectionResult) -> None:
    """One Pareto table: every row (the fp32 graph, each scheme, ORT's default beside), with why each loser lost."""
    console = _console()
    limit = "no speed limit" if selection.objective == "size-at-any-cost" else f"<= {SPEED_LIMIT:g}x fp32 latency"
    title = f"quantization candidates: objective {selection.objective}, {limit} in a plain ORT session, batch-1 latency"
    table = Table(title=title)
    columns = ("scheme", "form", "bytes", "x smaller", "latency b=1", "vs fp32", "plain b=1", "plain 1 thr", "plain vs fp32")
    for column in (*columns, "gate", "front", "verdict"):
        table.add_column(column)
    for c in selection.candidates:
        if c.result is None:
            table.add_row(c.scheme, *["-"] * 10, escape(c.lost or c.refused))
            continue
        if selection.winner is c:
            verdict = "[bold green]winner[/bold green]"
        elif c.role == "reference":
            verdict = escape(c.lost)
        else:
            failed = "[yellow]INCONCLUSIVE[/yellow] " if _inconclusive(c.summary) else "[red]FAIL[/red] "
            verdict = ("" if c.passed or not c.gated else failed) + escape(c.lost)
        ratios = [r for r in (c.speed_ratio, c.plain_speed_ratio) if r is not None]
        if c.role != "reference" and ratios and max(ratios) > 1 and "slower than fp32" not in c.lost:
            slower = f"[yellow]slower than fp32[/yellow] ({max(ratios):.2f}x its latency)"  # the worse of the sessions timed
            verdict = f"{verdict}; {slower}" if verdict else slower
        table.add_row(
            c.scheme,
            c.result.impl,
            f">= {c.size_bytes:,}" if c.result.size_is_floor else f"{c.size_bytes:,}",
            (f"<= {c.size_ratio:.2f}x" if c.result.size_is_floor else f"{c.size_ratio:.2f}x") if c.size_ratio else "-",
            # a candidate that failed the gate is not written, so there is no file to time (was printed as 0.000 ms)
            f"{c.latency_ms:.3f} ms" if c.latency_ms is not None else "not timed",
            f"{c.speed_ratio:.2f}x" if c.speed_ratio is not None else "-",
            f"{c.plain_latency_ms:.3f} ms" if c.plain_latency_ms is not None else "-",
            f"{c.plain_1thread_latency_ms:.3f} ms" if c.plain_1thread_latency_ms is not None else "-",
            f"{c.plain_speed_ratio:.2f}x" if c.plain_speed_ratio is not None else "-",
            "reference" if c.role == "reference" else escape(_parity_text(c.summary)) if c.gated else "not gated",
            "yes" if c.on_front else "no",
            verdict,
        )
    console.print(table)
    console.print(
        "latency b=1: edgelstm's session (1 thread, no spinning); plain: InferenceSession(path) with ORT's defaults and "
        "no session entry, at its default threads and at 1 thread; plain vs fp32 is the worse of the two"
    )
    console.print(escape(selection.why))
    for line in published_lines(selection):
        console.print(escape(line))
    for c in selection.candidates:
        if layers := c.details.get("layers"):
            print_layers(c.scheme, layers, c.details.get("ranking_data", ""))


def published_lines(selection: SelectionResult) -> list[str]:
    """The files auto left in --out, each named for what it is: the one it published, and the others that passed the
    gate and stay beside it for comparison (not published: nothing downstream should pick them up)."""
    lines = []
    if selection.winner is not None and selection.winner.result is not None and selection.winner.result.path is not None:
        lines.append(f"published: {selection.winner.result.path} ({selection.winner.scheme})")
    elif selection.winner is None:
        lines.append("published: nothing (no candidate passed the gate within the speed limit)")
    for c in selection.candidates:
        if c is selection.winner or c.role != "candidate" or c.result is None or c.result.path is None:
            continue
        lines.append(f"not published (kept for comparison, {c.scheme}: {c.lost}): {c.result.path}")
    return lines


def print_layers(scheme: str, layers: list[dict], ranking_data: str = "") -> None:
    """Mixed precision: what quantizing each layer alone costs the task, and the precision chosen for it."""
    title = f"{scheme}: per-layer sensitivity (each layer quantized alone) and the precision chosen"
    if ranking_data:  # the probes rank layers on a subset; the published mix is gated on all of the data
        title += f"; probes on {ranking_data}"
    table = Table(title=escape(title))
    for column in ("layer", "weights", "float bytes", "int8 alone", "int4 alone", "chosen"):
        table.add_column(column)
    for layer in layers:
        alone = {p: {**f, "cost": layer.get("cost", {}).get(p)} for p, f in layer.get("alone", {}).items()}
        table.add_row(
            escape(layer["name"]),
            escape(", ".join(layer["tensors"])[:60]),
            f"{layer['float_bytes']:,}",
            escape(_cost_text(alone.get("int8"))),
            escape(_cost_text(alone.get("int4"))),
            layer.get("chosen", "float"),
        )
    _console().print(table)


def _cost_text(figures: dict | None) -> str:
    """What the quantization cost (time, rows calibrated) in a few words, or "" when not recorded."""
    if not figures:
        return "-"
    verdict = "pass" if figures.get("passed") else "INCONCLUSIVE" if _inconclusive(figures) else "FAIL"
    cost = f"cost {figures['cost']:.2f}" if figures.get("cost") is not None else ""
    return " ".join(part for part in (verdict, _parity_text(figures), cost) if part)
