"""report.md and a self-contained report.html (plots inlined as PNG) rendered from a RunSummary."""

from __future__ import annotations

import base64
import html
import io
import warnings
from pathlib import Path
from typing import Any

from edgelstm.errors import EdgelstmWarning
from edgelstm.quantize.render import _parity_text  # the one formatter of gate figures
from edgelstm.report.collect import ArtifactRow, RunSummary
from edgelstm.session_policy import entry_from_bench


def _fmt(value: float | None, pattern: str) -> str:
    """A number formatted, or "-" when it was not measured."""
    return "-" if value is None else format(value, pattern)


def short_sha(digest: str | None) -> str:
    """The first 12 hex digits of a digest, or "unknown"."""
    return digest[:12] if digest else "unknown"


def _parity_cell(r: ArtifactRow) -> str:
    """The parity cell of an artifact's row (verdict and reference)."""
    if r.parity == "not checked":
        return "not checked"
    return f"{r.parity} (" + ", ".join(f"{p}: {v}" for p, v in r.verdicts.items()) + ")"


def _row_cells(r: ArtifactRow) -> list[str]:
    """An artifact's row of the report table."""
    return [
        r.name,
        short_sha(r.sha256),
        r.scheme,
        r.precision or "-",
        _fmt(r.file_bytes, ",") if r.file_bytes else "-",
        _fmt(r.gzip_bytes, ",") if r.gzip_bytes else "-",
        _fmt(r.vs_fp32, ".2f") + ("x" if r.vs_fp32 else ""),
        _fmt(r.latency_ms_b1, ".3f"),
        _fmt(r.accuracy * 100 if r.accuracy is not None else None, ".2f"),
        _fmt(r.last_step_error, ".2g"),
        _parity_cell(r),
    ]


HEADERS = [
    "artifact",
    "sha256",
    "scheme",
    "precision",
    "bytes",
    "gzip bytes",
    "vs fp32",
    "ms (b=1)",
    "accuracy %",
    "error at last step",
    "parity",
]


def parity_lines(summary: RunSummary) -> list[str]:
    """One verdict per artifact, each naming the sha256 it was measured on; no run-wide PASS."""
    check = summary.check or {}
    versions = check.get("versions") or {}
    if summary.check and summary.check.get("kind") == "streaming-check":
        head = (
            f"Parity against the ONNX graph {Path(str(check.get('reference'))).name} (sha256 "
            f"{short_sha(check.get('reference_sha256'))}), streamed in {check.get('chunks')} chunks of "
            f"{check.get('chunk')} with the state carried, gated on decisions of {check.get('output')}, per artifact:"
        )
    elif summary.check:
        head = (
            f"Parity against torch {check.get('reference_dtype')} (torch {versions.get('torch')}, "
            f"onnx {versions.get('onnx')}, onnxruntime {versions.get('onnxruntime')}), per artifact:"
        )
    else:
        head = "Parity: no check.json in this run, so no artifact was checked:"
    lines = [head]
    for r in summary.artifacts:
        verdict = {"pass": "PASS", "FAIL": "FAIL", "inconclusive": "INCONCLUSIVE"}.get(r.parity, "not checked")
        note = f" ({r.parity_note})" if r.parity_note and r.parity == "not checked" else ""
        lines.append(f"- {r.name}, sha256 {short_sha(r.sha256)}: {verdict}{note}")
    return lines


SELECTION_HEADERS = [
    "candidate", "form", "bytes", "x smaller", "ms (b=1)", "vs fp32", "plain vs fp32", "gate", "on front", "why it lost",
]  # fmt: skip


def selection_title(selection: dict[str, Any]) -> str:
    """The heading of auto's table, naming the objective and the speed limit it applied."""
    limit = selection.get("speed_limit_vs_fp32")
    rule = "no speed limit" if limit is None else f"at most {limit:g}x the fp32 latency in a plain ORT session"
    return f"quantize --scheme auto: every candidate (objective {selection.get('objective')}, {rule})"


def selection_rows(selection: dict[str, Any]) -> list[list[str]]:
    """auto's Pareto table, one row per candidate, from auto.json: the same figures the terminal table shows."""
    rows = []
    for c in selection.get("candidates", []):
        result = c.get("result") or {}
        winner = c["scheme"] == selection.get("winner") and c.get("role") == "candidate"
        if c.get("role") == "reference":
            gate = "reference"
        elif c.get("refused"):
            gate = "refused"
        elif c.get("gated") is False:  # auto declined it: it cannot win (its `lost` says why); not a failure
            gate = "not gated"
        else:
            figures = _parity_text(c["summary"]) if c.get("summary") else ""
            failed = "INCONCLUSIVE" if (c.get("summary") or {}).get("verdict") == "inconclusive" else "FAIL"
            gate = ("pass" if c.get("passed") else failed) + (f": {figures}" if figures else "")
        rows.append(
            [
                c["scheme"],
                str(result.get("impl") or "-"),
                (">= " if c.get("size_is_floor") else "") + _fmt(c.get("size_bytes"), ","),
                ("<= " if c.get("size_is_floor") and c.get("x_smaller") else "")
                + _fmt(c.get("x_smaller"), ".2f")
                + ("x" if c.get("x_smaller") else ""),
                _fmt(c.get("latency_ms_batch1"), ".3f") if c.get("latency_ms_batch1") is not None else "not timed",
                _fmt(c.get("latency_vs_fp32"), ".2f") + ("x" if c.get("latency_vs_fp32") is not None else ""),
                # issue 19: the ratio the speed rule judges (InferenceSession(path), ORT's defaults; absent before)
                _fmt(plain, ".2f") + "x" if (plain := (c.get("plain_session") or {}).get("latency_vs_fp32")) is not None else "-",
                gate,
                "yes" if c.get("on_front") else "no",
                "winner" if winner else str(c.get("lost") or c.get("refused") or ""),
            ]
        )
    return rows


def _selection_markdown(selection: dict[str, Any]) -> list[str]:
    """auto's table as Markdown lines."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["", f"## {selection_title(selection)}", ""]
    lines += ["| " + " | ".join(SELECTION_HEADERS) + " |", "|" + "---|" * len(SELECTION_HEADERS)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in selection_rows(selection)]
    if selection.get("why"):
        lines += ["", str(selection["why"])]
    return lines


def markdown_report(summary: RunSummary) -> str:
    """The run as Markdown for a pull request."""
    lines = ["# edgelstm run report", "", f"Run: `{summary.run_dir}`", ""]
    lines += ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(_row_cells(r)) + " |" for r in summary.artifacts]
    reference = next((r.reference_accuracy for r in summary.artifacts if r.reference_accuracy is not None), None)
    if reference is not None:
        lines += ["", f"Reference (torch float64) accuracy on the same data: {reference:.2%}."]
    lines += ["", *parity_lines(summary)]
    if summary.bench:
        settings, versions = summary.bench.get("settings", {}), summary.bench.get("versions", {})
        machine = f"onnxruntime {versions.get('onnxruntime', '?')}, {versions.get('cpu_count', '?')} CPUs ({versions.get('machine', '?')})"
        lines += [
            "",
            f"Latency (ms b=1): ORT CPU EP, 1 intra-op thread, no spinning, {settings.get('rounds')} interleaved rounds "
            f"x {settings.get('calls_per_round')} calls, p50; {machine}.",
        ]
        if best := _policy_text(summary.bench.get("policy") or {}):
            lines += [f"Fastest artifact's best measured setting per batch (threads {settings.get('threads')} swept): {best}."]
    if summary.selection:
        lines += _selection_markdown(summary.selection)
    return "\n".join(lines) + "\n"


def _policy_text(policy: dict[str, Any]) -> str:
    """bench.json's 'policy' as one phrase: "batch 1: 1 thread, no spinning (sequence_fused.int8.onnx)"."""
    return "; ".join(f"batch {b}: {entry_from_bench(b, e).describe()} ({e.get('artifact')})" for b, e in policy.items())


def _figure_png(fig: Any) -> str:
    """A matplotlib figure as a base64 PNG, embedded in the HTML page."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


PLOTS_MISSING = "the HTML report has no plots: matplotlib is not installed (pip install 'edgelstm[plot]')"


def _plots(summary: RunSummary) -> list[tuple[str, str]] | None:
    """The report's figures, or None when matplotlib (an optional extra) is absent: the report is written without
    them, says so in the page, and the CLI prints one `warning:` line, instead of the chain stopping here."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        warnings.warn(EdgelstmWarning(PLOTS_MISSING), stacklevel=3)
        return None
    plots = []
    points = [
        (r.name, r.latency_ms_b1, r.accuracy * 100, r.file_bytes)
        for r in summary.artifacts
        if r.latency_ms_b1 is not None and r.accuracy is not None and r.file_bytes
    ]
    if points:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name, latency, accuracy, size in points:
            ax.scatter(latency, accuracy, s=max(size / 400, 20), alpha=0.6)
            ax.annotate(
                f"{name}\n{size / 1024:.0f} KiB", (latency, accuracy), fontsize=7, xytext=(6, 4), textcoords="offset points"
            )
        frontier = _pareto([(latency, accuracy) for _, latency, accuracy, _ in points])
        ax.plot([p[0] for p in frontier], [p[1] for p in frontier], "k--", linewidth=0.8, label="Pareto front")
        ax.set_xlabel("latency, batch 1 (ms, p50)")
        ax.set_ylabel("held-out accuracy (%)")
        ax.set_title("accuracy vs latency (marker area ~ file size)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        plots.append(("Accuracy, latency and size", _figure_png(fig)))
        plt.close(fig)
    if summary.bench:
        rows = [r for r in summary.bench["latencies"] if r["threads"] in (0, 1)]
        if rows:
            fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.2))
            # plain-session rows (issue 19) say so: the same artifact at ORT's defaults
            labels = [
                f"{r['name'][:48]}{' (plain)' if r.get('mode') == 'plain' else ''}  B={r['batch']} T={r['steps']}" for r in rows
            ]
            ax.barh(
                labels, [r["p50_ms"] for r in rows], color=["#3b7dd8" if r["kind"] == "artifact" else "#aaaaaa" for r in rows]
            )
            ax.set_xlabel("p50 latency (ms)")
            ax.invert_yaxis()
            ax.tick_params(axis="y", labelsize=7)
            ax.set_title("latency by model, batch and length (grey: baselines)")
            plots.append(("Latency", _figure_png(fig)))
            plt.close(fig)
    profiles = [
        (c["artifact"], c["provider"], p)
        for c in (summary.check or {}).get("candidates", [])
        for p in c.get("time_profiles", [])
        if p["output"] == "output"
    ]
    if profiles:
        fig, ax = plt.subplots(figsize=(7, 3.8))
        for artifact, provider, p in profiles:
            ax.plot(
                p["steps"],
                [max(float(e), 1e-12) for e in p["errors"]],
                linewidth=1,
                label=f"{artifact.split('/')[-1]} [{provider}]",
            )
        ax.set_yscale("log")
        ax.set_xlabel("time step")
        ax.set_ylabel("max |error| vs float64 torch")
        ax.set_title("error vs time step (long input)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6)
        plots.append(("Error vs time step", _figure_png(fig)))
        plt.close(fig)
    return plots


def _pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(latency, accuracy) points no other beats on both, ordered by latency."""
    front: list[tuple[float, float]] = []
    for latency, accuracy in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or accuracy > front[-1][1]:
            front.append((latency, accuracy))
    return front


def _selection_html(selection: dict[str, Any] | None) -> str:
    """auto's table as HTML ("" when the run has none)."""
    if not selection:
        return ""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in SELECTION_HEADERS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in selection_rows(selection))
    why = f"<p>{html.escape(str(selection['why']))}</p>" if selection.get("why") else ""
    return (
        f"<h2>{html.escape(selection_title(selection))}</h2>"
        f'<table class="selection"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{why}'
    )


def html_report(summary: RunSummary) -> str:
    """The run as one self-contained HTML page for people."""
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in _row_cells(r)) + "</tr>" for r in summary.artifacts
    )
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
    plots = _plots(summary)
    figures = (
        f"<p><em>{html.escape(PLOTS_MISSING)}.</em></p>"
        if plots is None
        else "".join(
            f'<h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'
            for title, data in plots
        )
    )
    notes = html.escape(markdown_report(summary).split("\n", 4)[-1].split("|\n\n", 1)[-1].split("\n\n## ", 1)[0])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgelstm run report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th {{ background: #f2f2f2; }} td:first-child, th:first-child {{ text-align: left; }}
img {{ max-width: 100%; border: 1px solid #eee; margin: 0.5em 0 1.5em; }}
pre {{ white-space: pre-wrap; font-size: 12px; color: #555; }}
</style></head><body>
<h1>edgelstm run report</h1>
<p>Run: <code>{html.escape(summary.run_dir)}</code></p>
<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>
<pre>{notes}</pre>
{_selection_html(summary.selection)}
{figures}
</body></html>
"""
