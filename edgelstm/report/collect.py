"""Gather one run directory's results (check, bench, quantize, export) into one JSON-able summary."""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from edgelstm.artifact.file import detect_precision
from edgelstm.bench.results import BenchReport
from edgelstm.errors import LoadError, first_line
from edgelstm.parity.report import ParityReport
from edgelstm.parity.stream_verdict import STREAM_CHECK_KIND
from edgelstm.quantize.selection_table import SELECTION_FILE
from edgelstm.report.evidence import (
    candidate_sha256,
    failed_label,
    locate,
    sha256_file,
    validate_parity_report,
    verdict_over,
)

NOT_CHECKED = "not checked"
QUANTIZATION_KEY = "edgelstm.quantization"


@dataclass
class ArtifactRow:
    """One artifact, every number the run has about it."""

    name: str
    sha256: str | None = None  # of the file this row describes; every verdict in the row was measured on it
    precision: str = ""
    scheme: str = "-"  # from the artifact's own metadata when the file is here; "none" when it is not quantized
    file_bytes: int | None = None
    gzip_bytes: int | None = None
    vs_fp32: float | None = None
    latency_ms_b1: float | None = None  # bench p50, batch 1, 1 thread
    accuracy: float | None = None  # from the parity gate's task check on real data
    reference_accuracy: float | None = None
    last_step_error: float | None = None
    verdicts: dict[str, str] = field(default_factory=dict)  # provider -> pass / FAIL / skipped, for this sha256
    parity: str = NOT_CHECKED  # "pass" | "FAIL" | "not checked"
    parity_note: str = ""  # why not checked, when a check.json exists


@dataclass
class RunSummary:
    """Everything `edgelstm report` found in a run directory: export, check, quantize, bench, bundle."""

    run_dir: str
    artifacts: list[ArtifactRow]
    check: dict[str, Any] | None
    bench: dict[str, Any] | None
    quantize: list[dict[str, Any]]
    machine: dict[str, str]
    selection: dict[str, Any] | None = None  # `quantize --scheme auto`'s table (auto.json), every candidate

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        """Read back a summary written by `to_jsonable`."""
        return cls(
            run_dir=str(data["run_dir"]),
            artifacts=[ArtifactRow(**a) for a in data["artifacts"]],
            check=data["check"],
            bench=data["bench"],
            quantize=list(data["quantize"]),
            machine=dict(data["machine"]),
            selection=data.get("selection"),  # absent from reports written before auto saved its table
        )


def read_summary(path: Path) -> RunSummary:
    """A saved report.json, to render again; a malformed one is one LoadError."""
    data = _load(Path(path))
    try:
        summary = RunSummary.from_dict(data or {})
        # The plots read these raw: check their shape here, not halfway through rendering.
        if summary.check is not None and not is_stream_check(summary.check):
            ParityReport.from_dict(summary.check)
        if summary.bench is not None:
            BenchReport.from_dict(summary.bench)
        if summary.selection is not None:
            check_selection(summary.selection, path)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise LoadError(f"{path}: not an edgelstm report.json ({type(exc).__name__}: {first_line(exc)})") from None
    return summary


def collect_run(run_dir: Path) -> RunSummary:
    """Read every record in `run_dir` into one summary; what is absent is left None, never guessed."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise LoadError(f"{run_dir}: no such run directory")
    check = _load(run_dir / "check.json")
    bench = _load(run_dir / "bench.json")
    quant_files = {p: q for p in sorted(run_dir.rglob("*.quant.json")) if (q := _load(p)) is not None}
    quant = list(quant_files.values())
    selection = _load_selection(run_dir)
    if check is None and bench is None and not quant and selection is None:
        raise LoadError(f"{run_dir}: nothing to report (expected check.json, bench.json, auto.json or *.quant.json)")
    rows: dict[str, ArtifactRow] = {}

    def row(name: str, path_text: str | None = None) -> ArtifactRow:
        if name not in rows:
            rows[name] = _artifact_row(name, locate(path_text or name, [run_dir]))
        return rows[name]

    matched: dict[str, list[dict[str, Any]]] = {}
    if check is not None and is_stream_check(check):
        _collect_stream_check(check, run_dir, row, matched)
    elif check is not None:
        raw = validate_parity_report(check, run_dir / "check.json")
        parity = _parse(ParityReport.from_dict, check, run_dir / "check.json", "edgelstm check --report")
        for candidate, raw_candidate in zip(parity.candidates, raw, strict=True):
            r = row(Path(candidate.artifact).name, candidate.artifact)
            digest, _ = candidate_sha256(raw_candidate, [run_dir])
            if r.sha256 is None:
                r.sha256 = digest  # the file is not here to contradict the sha256 check recorded
            if digest is None or digest != r.sha256:
                r.parity_note = (
                    f"check judged {'a file with an unknown sha256' if digest is None else 'sha256 ' + digest[:12]}, "
                    f"not this file"
                )
                continue
            matched.setdefault(r.name, []).append(raw_candidate)
            r.precision = candidate.precision
            r.verdicts[candidate.provider] = candidate.verdict
            for task in candidate.tasks:
                if task.metric == "accuracy_delta" and task.candidate_value is not None and candidate.provider == "cpu":
                    r.accuracy, r.reference_accuracy = task.candidate_value, task.reference_value
            profile = next((p for p in candidate.time_profiles if p.output == "output"), None)
            if profile is not None and candidate.provider == "cpu":
                r.last_step_error = profile.last_error
    if bench is not None:
        report = _parse(BenchReport.from_dict, bench, run_dir / "bench.json", "edgelstm bench --report")
        for size in report.sizes:
            r = row(size.name)
            r.file_bytes, r.gzip_bytes, r.vs_fp32 = size.file_bytes, size.gzip_bytes, size.vs_fp32 or None
        for latency in report.latencies:
            if latency.kind == "artifact" and latency.batch == 1 and latency.threads == 1 and latency.mode == "run":
                row(latency.name).latency_ms_b1 = latency.p50_ms
    for sidecar, q in quant_files.items():
        path, scheme = q.get("path"), q.get("scheme")
        if not isinstance(path, str) or not isinstance(scheme, str):
            raise LoadError(f"{sidecar}: no string 'path' and 'scheme'; was it written by `edgelstm quantize`?")
        r = row(Path(path).name, path)
        if r.scheme == "-":  # the file's own metadata, when it is here, beats a sidecar that may be stale
            r.scheme = scheme
    for r in rows.values():
        verdict = verdict_over(matched.get(r.name, []))
        r.parity = NOT_CHECKED if verdict is None else "pass" if verdict else failed_label(matched.get(r.name, []))
        if verdict is None and check is not None and not r.parity_note:
            r.parity_note = "no parity result in check.json names this file's sha256"
    machine = {"python": platform.python_version(), "machine": f"{platform.system()} {platform.machine()}"}
    return RunSummary(str(run_dir), list(rows.values()), check, bench, quant, machine, selection)


def _load_selection(run_dir: Path) -> dict[str, Any] | None:
    """auto.json in the run directory or below it (`convert` writes it in quantize/), like the *.quant.json."""
    found = sorted(run_dir.rglob(SELECTION_FILE))
    if len(found) > 1:
        names = ", ".join(str(p.relative_to(run_dir)) for p in found)
        raise LoadError(f"{run_dir}: {len(found)} auto.json files ({names}); report one quantize --out at a time")
    if not found:
        return None
    selection = _load(found[0])
    if selection is not None:
        check_selection(selection, found[0])
    return selection


def check_selection(selection: dict[str, Any], path: Path) -> None:
    """auto.json as the renderer reads it: a list of candidate objects with a scheme each; else one LoadError."""
    candidates = selection.get("candidates")
    if not isinstance(candidates, list) or not all(isinstance(c, dict) and isinstance(c.get("scheme"), str) for c in candidates):
        raise LoadError(f"{path}: not a `quantize --scheme auto` table (no list of candidates with a scheme each)")


def is_stream_check(check: dict[str, Any]) -> bool:
    """A `check --reference ORIGINAL.onnx` report (streamed, gated on decisions) rather than a torch-reference one."""
    return check.get("kind") == STREAM_CHECK_KIND


def _collect_stream_check(
    check: dict[str, Any],
    run_dir: Path,
    row: Callable[[str, str | None], ArtifactRow],
    matched: dict[str, list[dict[str, Any]]],
) -> None:
    """Verdicts per provider and the last window's error of the probability output, for the sha256 it judged."""
    output = check.get("output")
    for candidate in validate_parity_report(check, run_dir / "check.json"):
        r = row(Path(candidate["artifact"]).name, candidate["artifact"])
        digest, _ = candidate_sha256(candidate, [run_dir])
        if r.sha256 is None:
            r.sha256 = digest
        if digest is None or digest != r.sha256:
            r.parity_note = f"check judged {'an unknown sha256' if digest is None else 'sha256 ' + digest[:12]}, not this file"
            continue
        matched.setdefault(r.name, []).append(candidate)
        r.verdicts[candidate["provider"]] = candidate["verdict"]
        raw_profiles = candidate.get("profiles")
        profiles: list[Any] = raw_profiles if isinstance(raw_profiles, list) else []
        last = [p.get("last_error") for p in profiles if isinstance(p, dict) and p.get("output") == output]
        if last and isinstance(last[0], (int, float)) and candidate["provider"] == "cpu":
            r.last_step_error = float(last[0])


def _artifact_row(name: str, path: Path | None) -> ArtifactRow:
    """A row for the file `path` (None: not in the run directory), labelled from the file itself."""
    row = ArtifactRow(name)
    if path is None:
        return row
    row.sha256 = sha256_file(path)
    if path.suffix != ".onnx":
        return row
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except OSError:
        raise
    except Exception:  # onnx raises several protobuf/decode types; an unreadable file gets no labels, not a crash
        row.scheme = "unreadable"
        return row
    props = {p.key: p.value for p in model.metadata_props}
    try:
        quantization = json.loads(props.get(QUANTIZATION_KEY) or "null")
    except ValueError:
        quantization = None
    row.scheme = str(quantization.get("scheme", "?")) if isinstance(quantization, dict) else "none"
    row.precision = detect_precision(model)
    return row


T = TypeVar("T")


def _parse(parse: Callable[[dict[str, Any]], T], data: dict[str, Any], path: Path, what: str) -> T:
    """A record parsed by `parse`; a malformed one is a named error, not a traceback."""
    try:
        return parse(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise LoadError(f"{path}: not an `{what}` JSON ({type(exc).__name__}: {first_line(exc)})") from None


def _load(path: Path) -> dict[str, Any] | None:
    """A JSON record's content, or None when the file is absent."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except ValueError as exc:  # JSON and UTF-8 decoding errors alike
        raise LoadError(f"{path}: not valid JSON ({type(exc).__name__}: {first_line(exc)})") from None
    if not isinstance(data, dict):
        raise LoadError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data
