"""Renderings of a ParityReport: terminal table, Markdown (pull-request comment), JUnit XML, PNG plot."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from edgelstm.errors import EdgelstmError
from edgelstm.files import atomic_path
from edgelstm.parity.report import CandidateResult, ParityReport, TaskCheck
from edgelstm.render import _console


def _worst_text(candidate: CandidateResult) -> tuple[str, str, str]:
    """The worst comparison of a candidate as (case / output, max abs error, max rel error) cells."""
    worst = candidate.worst()
    if worst is None:
        return "-", "-", "-"
    label, comparison = worst
    return f"{label} / {comparison.name}", f"{comparison.max_abs_error:.2e}", f"{comparison.max_rel_error:.2e}"


def _task_text(candidate: CandidateResult) -> str:
    """The candidate's task checks in a few words for the table."""
    parts = []
    for task in candidate.tasks:
        # n in the cell; "?" marks a value the data cannot resolve against its limit (the lines below say why)
        n = f" n={task.evidence.n}{'' if task.evidence.resolved else '?'}" if task.evidence else ""
        if task.metric == "top1_agreement":
            parts.append(f"top-1 {task.value:.2%}{n}")
        elif task.metric == "accuracy_delta":
            parts.append(f"acc {task.value:+.2%}{n}")
        else:
            parts.append(f"MAE {task.value:+.2%}{n}")
    return ", ".join(parts) or "-"


def task_evidence_line(task: TaskCheck) -> str:
    """The task check's verdict with its sample size and 95 % interval, and why the data cannot resolve it."""
    e = task.evidence
    if e is None:
        return f"{task.case} / {task.metric}: {task.value:.4g} (limit {task.limit:g}): {task.verdict}; evidence not recorded"
    if e.step is not None:  # a proportion or a difference of proportions: in percent
        figures = f"{e.value:.2%} (limit {e.limit:.2%}), 95% interval [{e.low:.2%}, {e.high:.2%}]"
    else:
        figures = f"{e.value:+.2%} (limit {e.limit:+.2%}), 95% interval [{e.low:+.2%}, {e.high:+.2%}]"
    line = f"{task.case} / {task.metric}: {task.verdict}, {figures} over {e.n:,} {e.unit}s ({e.method})"
    return line + (f"; {e.reason}" if e.reason else "")


def _verdict_word(verdict: str) -> str:
    """A verdict as the table shows it (upper case)."""
    return {"pass": "PASS", "FAIL": "FAIL", "inconclusive": "INCONCLUSIVE"}.get(verdict, verdict)


def _growth_text(candidate: CandidateResult) -> str:
    """Whether the error grows with length, from the profile of the main output."""
    profile = next((p for p in candidate.time_profiles if p.output == "output"), None)
    if profile is None:
        return "-"
    return f"{profile.last_error:.1e} @ {profile.steps[-1]}" + (" (grows)" if profile.grows else "")


def _wide_console():  # type: ignore[no-untyped-def]
    """A console wide enough for the check's table whatever the terminal says."""
    return _console()


def print_report(report: ParityReport) -> None:
    """Print the check's table (artifact x provider, per case) and its verdict to the terminal."""
    from rich.markup import escape
    from rich.table import Table

    console = _wide_console()
    table = Table(title=f"parity vs torch {report.reference_dtype} ({escape(report.reference)})")
    for column in ("artifact", "provider", "prec", "worst comparison", "max abs", "max rel", "task", "last-step err", "verdict"):
        table.add_column(column)
    rows = [*report.candidates, *([report.baseline] if report.baseline else [])]
    for c in rows:
        where, abs_err, rel_err = _worst_text(c)
        verdict = {
            "pass": "[green]pass[/green]",
            "FAIL": "[red]FAIL[/red]",
            "error": "[red]error[/red]",
            "inconclusive": "[yellow]INCONCLUSIVE[/yellow]",
        }.get(c.verdict, "[yellow]skipped[/yellow]")
        if not c.gated:
            verdict = f"{c.verdict} (baseline)"
        table.add_row(
            Path(c.artifact).name,
            c.provider,
            c.precision,
            escape(where),
            abs_err,
            rel_err,
            _task_text(c),
            _growth_text(c),
            verdict,
        )
    console.print(table)
    for c in report.candidates:
        if c.status == "skipped":
            console.print(f"[yellow]skipped[/yellow] {escape(Path(c.artifact).name)} on {c.provider}: {escape(c.reason)}")
        for line in c.failures()[:12]:
            console.print(f"[red]FAIL[/red] {escape(Path(c.artifact).name)} on {c.provider}: {escape(line)}")
        for task in c.tasks:
            console.print(f"evidence {escape(Path(c.artifact).name)} on {c.provider}: {escape(task_evidence_line(task))}")
    used = sorted({p for c in report.candidates for p in c.providers_used})
    console.print(
        f"versions: torch {report.versions.get('torch')}, onnx {report.versions.get('onnx')}, onnxruntime "
        f"{report.versions.get('onnxruntime')}; providers used: {', '.join(used) or 'none'}"
    )
    for line in evidence_lines(report):
        console.print(escape(line))
    word = {"pass": "[green]PASS[/green]", "inconclusive": "[yellow]INCONCLUSIVE[/yellow]"}.get(report.verdict, "[red]FAIL[/red]")
    console.print(word + f" ({escape(summary_count(report))})")


def summary_count(report: ParityReport) -> str:
    """Only checks that ran count; skipped providers are named as skipped. No check at all is said so."""
    ran = len(report.ran)
    text = f"{ran} artifact x provider check{'s' if ran != 1 else ''}"
    if report.skipped:
        names = ", ".join(sorted({f"{Path(c.artifact).name} on {c.provider}" for c in report.skipped}))
        text += f"; {len(report.skipped)} skipped: {names}"
    if not ran:
        text += "; nothing was checked, so nothing passed"
    return text


def evidence_lines(report: ParityReport) -> list[str]:
    """What the verdict was measured on, by content."""
    artifacts = {c.artifact: c.artifact_sha256 for c in report.candidates}
    lines = [f"artifact {a}: sha256 {sha or 'unknown'}" for a, sha in artifacts.items()]
    files = ", ".join(
        f"{f} {sha}" if sha.startswith("none") else f"{f} sha256 {sha}" for f, sha in report.reference_files.items()
    )
    lines.append(f"reference {report.reference}" + (f" ({files})" if files else " (no weights file: code only)"))
    data = f"{report.data_source} sha256 {report.data_sha256}" if report.data_sha256 else report.data_source
    lines.append(f"data: {data}")
    lines.append(f"providers: {', '.join(report.providers) or 'none'}")
    return lines


def markdown_report(report: ParityReport) -> str:
    """The check as Markdown for a pull request: verdicts, worst errors, what was compared with what."""
    lines = [
        f"### edgelstm parity: {_verdict_word(report.verdict)}",
        "",
        f"Reference: `{report.reference}` in torch {report.reference_dtype}; data: {report.data_source}; "
        f"tolerances: {report.tolerance_source}; {summary_count(report)}.",
        "",
        *(f"- {line}" for line in evidence_lines(report)),
        "",
        "| artifact | provider | precision | worst comparison | max abs | max rel | task | last-step error | verdict |",
        "|---|---|---|---|---:|---:|---|---|---|",
    ]
    for c in [*report.candidates, *([report.baseline] if report.baseline else [])]:
        where, abs_err, rel_err = _worst_text(c)
        verdict = c.verdict if c.gated else f"{c.verdict} (baseline, not gated)"
        lines.append(
            f"| `{Path(c.artifact).name}` | {c.provider} | {c.precision} | {where} | {abs_err} | {rel_err} | "
            f"{_task_text(c)} | {_growth_text(c)} | **{verdict}** |"
        )
    failures = [(c, line) for c in report.candidates for line in c.failures()]
    skips = [c for c in report.candidates if c.status == "skipped"]
    evidence = [(c, task_evidence_line(t)) for c in report.candidates for t in c.tasks]
    if evidence:
        lines += ["", "Evidence (sample size and 95% interval of each task check):", ""]
        lines += [f"- `{Path(c.artifact).name}` on {c.provider}: {line}" for c, line in evidence[:50]]
    if failures or skips:
        lines += ["", "<details><summary>details</summary>", ""]
        lines += [f"- FAIL `{Path(c.artifact).name}` on {c.provider}: {line}" for c, line in failures[:50]]
        lines += [f"- skipped `{Path(c.artifact).name}` on {c.provider}: {c.reason}" for c in skips]
        lines += ["", "</details>"]
    used = sorted({p for c in report.candidates for p in c.providers_used})
    lines += [
        "",
        f"torch {report.versions.get('torch')} · onnx {report.versions.get('onnx')} · onnxruntime "
        f"{report.versions.get('onnxruntime')} · providers used: {', '.join(used) or 'none'}",
    ]
    return "\n".join(lines) + "\n"


def junit_report(report: ParityReport) -> str:
    """One test case per artifact x provider x output (plus task, streaming and determinism checks)."""
    suites = ET.Element("testsuites", name="edgelstm check")
    total_failures = 0
    for c in report.candidates:
        suite = ET.SubElement(suites, "testsuite", name=f"{Path(c.artifact).name} [{c.provider}]")
        properties = ET.SubElement(suite, "properties")
        evidence = {
            "artifact": c.artifact,
            "artifact_sha256": c.artifact_sha256,
            "provider": c.provider,
            "providers": ",".join(report.providers),
            "reference": report.reference,
            **{f"reference_sha256:{f}": sha for f, sha in report.reference_files.items()},
            "data": report.data_source,
            "data_sha256": report.data_sha256 or "synthetic",
        }
        for name, value in evidence.items():
            ET.SubElement(properties, "property", name=name, value=value)
        cases: list[tuple[str, list[str], str | None]] = []  # (name, failure lines, skip reason)
        notes: dict[str, str] = {}  # test case -> its evidence (sample size, interval), as system-out
        ET.SubElement(properties, "property", name="verdict", value=c.verdict)
        if c.status != "run":
            cases.append(("open", [c.reason] if c.status == "error" else [], c.reason if c.status == "skipped" else None))
        else:
            outputs: dict[str, list[str]] = {}
            for run in c.cases:
                if run.error:
                    outputs.setdefault("(run)", []).append(f"{run.label}: {run.error}")
                for o in run.outputs:
                    lines = outputs.setdefault(o.name, [])
                    if not o.passed:
                        lines.append(
                            f"{run.label}: max abs {o.max_abs_error:.3g} (atol {o.atol:g}, rtol {o.rtol:g}) {o.problem}".rstrip()
                        )
            cases += [(f"output {name}", lines, None) for name, lines in outputs.items()]
            for t in c.tasks:
                name = f"task {t.case} {t.metric}"
                # an inconclusive check is not a pass: a failure whose message starts with "inconclusive"
                lines = [] if t else [f"{t.verdict}: {t.value:.4g} vs limit {t.limit:g} {t.detail}".rstrip()]
                if t.verdict == "inconclusive" and t.evidence is not None:
                    lines.append(t.evidence.reason)
                cases.append((name, lines, None))
                notes[name] = task_evidence_line(t)
            if c.streaming:
                lines = [f"{s.label}: {s.error}" for s in c.streaming if s.error]
                lines += [
                    f"{s.label} / {o.name}: max abs {o.max_abs_error:.3g}" for s in c.streaming for o in s.outputs if not o.passed
                ]
                cases.append(("streaming parity", lines, None))
            if c.determinism is not None:
                cases.append(("determinism", [] if c.determinism.passed else [f"spread {c.determinism.max_spread:.3g}"], None))
        failures = 0
        for name, lines, skip in cases:
            case = ET.SubElement(suite, "testcase", classname=f"{Path(c.artifact).name}.{c.provider}", name=name)
            if skip is not None:
                ET.SubElement(case, "skipped", message=skip)
            elif lines:
                failures += 1
                kind = "inconclusive" if lines[0].startswith("inconclusive") else "fail"
                failure = ET.SubElement(case, "failure", message=lines[0][:200], type=kind)
                failure.text = "\n".join(lines)
            if name in notes:
                ET.SubElement(case, "system-out").text = notes[name]
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(failures))
        suite.set("skipped", str(sum(1 for _, _, s in cases if s is not None)))
        suite.set("time", f"{c.seconds:.3f}")
        total_failures += failures
    suites.set("failures", str(total_failures))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def plot_time_profiles(report: ParityReport, path: Path) -> None:
    """Error vs time step per artifact/provider (log scale), one panel per output."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise EdgelstmError("plots need matplotlib: pip install 'edgelstm[plot]'") from None
    outputs = sorted({p.output for c in report.candidates for p in c.time_profiles}, key=lambda n: (n != "output", n))
    if not outputs:
        raise EdgelstmError("no error-vs-time profile was measured (no long input was run)")
    fig, axes = plt.subplots(1, len(outputs), figsize=(5 * len(outputs), 3.8), squeeze=False)
    for ax, output in zip(axes[0], outputs, strict=False):
        for c in report.candidates:
            for p in c.time_profiles:
                if p.output == output:
                    errors = [max(e, 1e-12) for e in p.errors]
                    ax.plot(p.steps, errors, label=f"{Path(c.artifact).stem} [{c.provider}]", linewidth=1.2)
        ax.set_yscale("log")
        ax.set_xlabel("time step")
        ax.set_ylabel(f"max |error| vs torch {report.reference_dtype}")
        ax.set_title(output)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("edgelstm check: error vs time step (long input)")
    fig.tight_layout()

    with atomic_path(path, overwrite=True) as tmp:  # reports are regenerated on every CI run
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
