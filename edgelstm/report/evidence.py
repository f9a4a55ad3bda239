"""Which parity and latency results belong to which artifact, by sha256.

A verdict counts only for the exact file it was measured on: a parity candidate names its artifact by the sha256
`check` recorded (`artifact_sha256`), or, for reports written before that, by hashing the file its path names now.
A file no result names is "not checked", never inherited from another artifact's verdict.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgelstm.errors import LoadError

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
RECORDED = "sha256 recorded by check"
HASHED_NOW = "sha256 of the file the report names, hashed when the bundle/report was made"


def sha256_file(path: Path) -> str:
    """sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locate(path_text: str, search: Sequence[Path]) -> Path | None:
    """The file a report's path names: under each search directory, as written, then by its name there."""
    path = Path(path_text)
    for candidate in (*(d / path for d in search), path, *(d / path.name for d in search)):
        if candidate.is_file():
            return candidate
    return None


def candidate_sha256(candidate: dict[str, Any], search: Sequence[Path]) -> tuple[str | None, str]:
    """(sha256 of the artifact a parity candidate judged, how it is known); (None, "") when it cannot be known."""
    recorded = candidate.get("artifact_sha256")
    if isinstance(recorded, str) and SHA256_HEX.fullmatch(recorded):
        return recorded, RECORDED
    found = locate(candidate["artifact"], search)
    return (sha256_file(found), HASHED_NOW) if found is not None else (None, "")


def validate_parity_report(data: Any, source: Path) -> list[dict[str, Any]]:
    """The candidates of a `check --report` JSON, each with the keys a verdict needs; LoadError otherwise."""
    what = f"{source}: not an `edgelstm check --report` JSON"
    if not isinstance(data, dict) or not isinstance(data.get("candidates"), list):
        raise LoadError(f"{what} (no 'candidates' list)")
    for i, c in enumerate(data["candidates"]):
        if not isinstance(c, dict) or not all(isinstance(c.get(k), str) for k in ("artifact", "provider", "verdict")):
            raise LoadError(f"{what} (candidates[{i}] needs string 'artifact', 'provider' and 'verdict')")
        recorded = c.get("artifact_sha256", "")  # "" when check could not hash the file
        if not (isinstance(recorded, str) and (recorded == "" or SHA256_HEX.fullmatch(recorded))):
            raise LoadError(f"{what} (candidates[{i}].artifact_sha256 is not 64 lower-case hex digits)")
    return data["candidates"]


@dataclass
class ParityEvidence:
    """The parity verdict over one artifact only, or why there is none."""

    artifact: str
    artifact_sha256: str
    status: str  # "checked" | "not checked"
    passed: bool | None
    reason: str = ""
    matched_by: str = ""
    candidates: list[dict[str, Any]] = field(default_factory=list)
    reference_dtype: str | None = None
    versions: dict[str, Any] | None = None


def verdict_over(candidates: Sequence[dict[str, Any]]) -> bool | None:
    """pass/fail over the gated candidates that ran; None when none ran (all skipped, or none at all)."""
    ran = [c for c in candidates if c["verdict"] != "skipped" and c.get("gated", True) is not False]
    return all(c["verdict"] == "pass" for c in ran) if ran else None


def failed_label(candidates: Sequence[dict[str, Any]]) -> str:
    """How a verdict that is not a pass reads: "inconclusive" when no gated candidate failed but some could not
    be resolved on their data (reports written before that verdict existed read "FAIL" as before)."""
    ran = [c for c in candidates if isinstance(c, dict) and c.get("verdict") != "skipped" and c.get("gated", True) is not False]
    if ran and all(c.get("verdict") in ("pass", "inconclusive") for c in ran):
        return "inconclusive"
    return "FAIL"


def parity_evidence(data: Any, source: Path, artifact: str, sha256: str) -> ParityEvidence:
    """The verdict a parity report gives `artifact` (matched by sha256), validated before it is trusted."""
    candidates = validate_parity_report(data, source)
    search = [Path(source).parent]
    mine, others, how = [], set(), ""
    for c in candidates:
        digest, known = candidate_sha256(c, search)
        if digest == sha256:
            mine.append({"artifact": Path(c["artifact"]).name, "provider": c["provider"], "verdict": c["verdict"]})
            how = how or known
        else:
            others.add(f"{Path(c['artifact']).name} ({digest[:12] if digest else 'sha256 unknown'})")
    evidence = ParityEvidence(
        artifact, sha256, "not checked", None, reference_dtype=data.get("reference_dtype"), versions=data.get("versions")
    )
    if not mine:
        covered = ", ".join(sorted(others)) or "no artifacts"
        evidence.reason = f"the parity report {Path(source).name} covers {covered}, not this file (sha256 {sha256[:12]})"
        return evidence
    evidence.candidates, evidence.matched_by = mine, how
    evidence.passed = verdict_over(mine)
    if evidence.passed is None:
        evidence.reason = "every check of this artifact was skipped"
    else:
        evidence.status = "checked"
    return evidence


def latency_rows(data: Any, source: Path, artifact: str, sha256: str) -> list[dict[str, Any]]:
    """The bench rows measured on this artifact (by sha256 when the row has one, else by file name)."""
    what = f"{source}: not an `edgelstm bench --report` JSON"
    if not isinstance(data, dict) or not isinstance(data.get("latencies"), list):
        raise LoadError(f"{what} (no 'latencies' list)")
    needed = {"name": str, "kind": str, "batch": int, "steps": int, "threads": int, "mode": str, "p50_ms": float, "p90_ms": float}
    rows = []
    for i, row in enumerate(data["latencies"]):
        if not isinstance(row, dict) or not all(
            isinstance(row.get(k), (int, float) if t is float else t) and not isinstance(row.get(k), bool)
            for k, t in needed.items()
        ):
            raise LoadError(f"{what} (latencies[{i}] needs {', '.join(needed)} of the right types)")
        same = row["artifact_sha256"] == sha256 if "artifact_sha256" in row else row["name"] == artifact
        if row["kind"] == "artifact" and same:
            rows.append(row)
    return rows
