"""Gather one run directory's results (check, bench, quantize, export) into one JSON-able summary."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgelstm.bench.results import BenchReport
from edgelstm.errors import LoadError
from edgelstm.parity.report import ParityReport


@dataclass
class ArtifactRow:
    """One artifact, every number the run has about it."""

    name: str
    precision: str = ""
    scheme: str = "fp32"
    file_bytes: int | None = None
    gzip_bytes: int | None = None
    vs_fp32: float | None = None
    latency_ms_b1: float | None = None  # bench p50, batch 1, 1 thread
    accuracy: float | None = None  # from the parity gate's task check on real data
    reference_accuracy: float | None = None
    last_step_error: float | None = None
    verdicts: dict[str, str] = field(default_factory=dict)  # provider -> pass / FAIL / skipped


@dataclass
class RunSummary:
    run_dir: str
    artifacts: list[ArtifactRow]
    check: dict[str, Any] | None
    bench: dict[str, Any] | None
    quantize: list[dict[str, Any]]
    machine: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": self.run_dir,
            "artifacts": [asdict(a) for a in self.artifacts],
            "check": self.check,
            "bench": self.bench,
            "quantize": self.quantize,
            "machine": self.machine,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        return cls(
            run_dir=data["run_dir"],
            artifacts=[ArtifactRow(**a) for a in data["artifacts"]],
            check=data["check"],
            bench=data["bench"],
            quantize=list(data["quantize"]),
            machine=dict(data["machine"]),
        )


def collect_run(run_dir: Path) -> RunSummary:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise LoadError(f"{run_dir}: no such run directory")
    check = _load(run_dir / "check.json")
    bench = _load(run_dir / "bench.json")
    quant = [q for q in (_load(p) for p in sorted(run_dir.rglob("*.quant.json"))) if q]
    if check is None and bench is None and not quant:
        raise LoadError(f"{run_dir}: nothing to report (expected check.json, bench.json or *.quant.json)")
    rows: dict[str, ArtifactRow] = {}

    def row(name: str) -> ArtifactRow:
        return rows.setdefault(name, ArtifactRow(name))

    if check is not None:
        parity = ParityReport.from_dict(check)
        for candidate in parity.candidates:
            r = row(Path(candidate.artifact).name)
            r.precision = candidate.precision
            r.verdicts[candidate.provider] = candidate.verdict
            for task in candidate.tasks:
                if task.metric == "accuracy_delta" and task.candidate_value is not None and candidate.provider == "cpu":
                    r.accuracy, r.reference_accuracy = task.candidate_value, task.reference_value
            profile = next((p for p in candidate.time_profiles if p.output == "output"), None)
            if profile is not None and candidate.provider == "cpu":
                r.last_step_error = profile.last_error
    if bench is not None:
        report = BenchReport.from_dict(bench)
        for size in report.sizes:
            r = row(size.name)
            r.file_bytes, r.gzip_bytes, r.vs_fp32 = size.file_bytes, size.gzip_bytes, size.vs_fp32 or None
        for latency in report.latencies:
            if latency.kind == "artifact" and latency.batch == 1 and latency.threads == 1 and latency.mode == "run":
                row(latency.name).latency_ms_b1 = latency.p50_ms
    for q in quant:
        if q.get("path"):
            row(Path(q["path"]).name).scheme = q["scheme"]
    machine = {"python": platform.python_version(), "machine": f"{platform.system()} {platform.machine()}"}
    return RunSummary(str(run_dir), list(rows.values()), check, bench, quant, machine)


def _load(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise LoadError(f"{path}: not valid JSON ({exc})") from None
