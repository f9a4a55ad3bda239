"""The streaming check's verdict as terminal lines: what was compared, on what data, how it was chunked, and why."""

from __future__ import annotations

from collections.abc import Callable

from edgelstm.parity.stream_check import StreamCheckReport


def stream_report_lines(report: StreamCheckReport) -> list[str]:
    config = report.config
    data_hash = f"sha256 {report.data_sha256}" if report.data_sha256 else "generated, no file"
    context = f" (+ {report.context} samples of context)" if report.context else ""
    constants = ", ".join(f"{k}={v}" for k, v in report.constants.items()) or "none"
    lines = [
        f"streaming check of {report.artifact}",
        f"  artifact   sha256 {report.artifact_sha256}",
        f"  reference  {report.reference} ({report.reference_runtime})  sha256 {report.reference_sha256 or '-'}",
        f"  data       {report.data_source} ({data_hash})",
        f"  chunking   {report.chunks} chunks of {report.chunk} samples{context} x {report.rows} row(s), state "
        f"carried ({', '.join(report.states)}); constants {constants}",
        f"  gate       on {report.output}: decisions at {config.threshold:g} flipped <= {config.max_flip_fraction:.2%}"
        f" of chunks, max |delta| <= {config.max_abs_delta:g}",
    ]
    for c in report.candidates:
        used = f" [{', '.join(c.providers_used)}]" if c.providers_used else ""
        if c.status != "ran":
            lines.append(f"  {c.provider}{used}: {c.status.upper()} {c.reason}")
            continue
        verdict = "pass" if c.passed else "FAIL"
        lines.append(
            f"  {c.provider}{used}: {verdict}  {c.flips} of {c.decisions} decisions flipped, "
            f"max |delta {report.output}| {c.max_abs_delta:.4g}"
        )
        for profile in c.profiles:
            points = ", ".join(f"{e:.2g}@{s}" for s, e in zip(profile.steps, profile.errors, strict=True))
            trend = "grows with stream length" if profile.grows else "does not grow"
            lines.append(f"    error vs chunk index, {profile.output}: {points} ({trend})")
        lines += [f"    failed: {failure}" for failure in c.failures]
    lines.append(f"verdict: {'PASS' if report.passed else 'FAIL'}")
    return lines


def print_stream_report(report: StreamCheckReport, echo: Callable[[str], object] = print) -> None:
    for line in stream_report_lines(report):
        echo(line)
