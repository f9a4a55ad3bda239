"""The streaming check's verdict as terminal lines: what was compared, on what data, how it was chunked, and why."""

from __future__ import annotations

from collections.abc import Callable

from edgelstm.parity.stream_verdict import StreamCheckReport


def stream_report_lines(report: StreamCheckReport) -> list[str]:
    """The streaming check as terminal lines: what was compared, each provider's flips and errors, the verdict."""
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
        *_row_lines(report),
        f"  gate       on {report.output}: decisions at {config.threshold:g} flipped <= {config.max_flip_fraction:.2%}"
        f" of chunks, max |delta| <= {config.max_abs_delta:g}",
    ]
    for c in report.candidates:
        used = f" [{', '.join(c.providers_used)}]" if c.providers_used else ""
        if c.status != "ran":
            lines.append(f"  {c.provider}{used}: {c.status.upper()} {c.reason}")
            continue
        strength = ""
        if c.flip_evidence is not None:
            e = c.flip_evidence
            strength = f" (flip rate 95% interval {e.low:.2%}..{e.high:.2%}, {e.method})"
        lines.append(
            f"  {c.provider}{used}: {c.verdict}  {c.flips} of {c.decisions} decisions flipped{strength}, "
            f"max |delta {report.output}| {c.max_abs_delta:.4g}"
        )
        if c.flip_evidence is not None and not c.flip_evidence.resolved:
            lines.append(f"    flips {c.flip_evidence.verdict}: {c.flip_evidence.reason}")
        if len(c.rows) > 1:
            width = max(len(r.name) for r in c.rows)
            for r in c.rows:
                kinds = ", ".join(f"{k} {n}" for k, n in r.flips_by_kind.items() if n)
                lines.append(
                    f"    {r.name:<{width}}  {r.verdict}  {r.flips} of {r.decisions} flipped"
                    f"{f' ({kinds})' if kinds else ''}, max |delta| {r.max_abs_delta:.4g}"
                )
                if r.flip_evidence is not None and not r.flip_evidence.resolved:
                    lines.append(f"    {'':<{width}}  flips {r.flip_evidence.verdict}: {r.flip_evidence.reason}")
        for profile in c.profiles:
            points = ", ".join(f"{e:.2g}@{s}" for s, e in zip(profile.steps, profile.errors, strict=True))
            trend = "grows with stream length" if profile.grows else "does not grow"
            lines.append(f"    error vs chunk index, {profile.output}: {points} ({trend})")
        lines += [f"    failed: {failure}" for failure in c.failures]
    lines.append(f"verdict: {report.verdict.upper()}")
    return lines


_VOICE_KEYS = {"f0_low", "f0_high", "tract_scale", "syllables_per_s", "breathiness", "level_db"}


def _row_lines(report: StreamCheckReport) -> list[str]:
    """What each row of the data is, when there is more than one or it is described (the built-in voices)."""
    rows = report.data_rows
    if len(rows) <= 1 and not any(r.get("params") for r in rows):
        return []
    how = "as one batch" if report.batched else "row by row"
    lines = [f"  rows       {len(rows)}, run {how}; the budget must hold on each"]
    for row in rows:
        params = row.get("params") or {}
        if _VOICE_KEYS <= params.keys():
            described = (
                f"f0 {params['f0_low']:.0f}-{params['f0_high']:.0f} Hz, formants x{params['tract_scale']:.2f}, "
                f"{params['syllables_per_s']:.1f} syllables/s, breathiness {params['breathiness']:.2f}, {params['level_db']:.0f} dBFS"
            )
        else:
            described = ", ".join(f"{k} {v}" for k, v in params.items())
        segments = row.get("segments") or []
        if segments:
            counts: dict[str, int] = {}
            for segment in segments:
                counts[segment["kind"]] = counts.get(segment["kind"], 0) + 1
            scenes = sorted({_background(s["params"]) for s in segments if s["kind"] == "speech" and "noise" in s["params"]})
            sounds = sorted({str(s["params"]["sound"]) for s in segments if "sound" in s["params"]})
            described += f"; {', '.join(f'{n} {k}' for k, n in counts.items())}"
            described += f"; speech over {', '.join(scenes)}" if scenes else ""
            described += f"; sounds {', '.join(sounds)}" if sounds else ""
        if described:  # a bare row of the user's .npy has nothing to say beyond its name in the verdict lines
            lines.append(f"    {row['name']}: {described}")
    return lines


def _background(params: dict[str, object]) -> str:
    """The row's background in words (noise and SNR), for the per-row lines."""
    snr = params.get("snr_db")
    return f"{params['noise']}" + (f" {snr:g} dB" if isinstance(snr, float | int) else "")


def print_stream_report(report: StreamCheckReport, echo: Callable[[str], object] = print) -> None:
    """Print `stream_report_lines` through `echo`."""
    for line in stream_report_lines(report):
        echo(line)
