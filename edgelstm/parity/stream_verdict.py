"""The streaming check's settings and its verdicts: per row of the stream, per provider, and the report that names both files."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from edgelstm.artifact.runners import PROVIDERS
from edgelstm.errors import ConfigError
from edgelstm.jsonio import json_meta, to_jsonable
from edgelstm.parity.evidence_strength import FAIL, INCONCLUSIVE, PASS, Evidence
from edgelstm.parity.report import TimeProfile

STREAM_CHECK_KIND = "streaming-check"


@dataclass(frozen=True)
class StreamCheckConfig:
    """Settings of the streaming check (chunk, threshold, budgets, providers), validated on construction."""

    chunk: int | None = None  # samples per call; None: the chunk the artifact's interface was confirmed at
    threshold: float = 0.5  # a decision is `p >= threshold`
    max_flip_fraction: float = 0.01  # of all chunks (x batch rows)
    max_abs_delta: float = 0.1  # largest |p - p_ref| over the stream
    output: str | None = None  # the probability output; None: the first output that is not a state
    providers: tuple[str, ...] = ("cpu",)
    profile_points: int = 10  # windows of the error-vs-chunk-index profile
    threads: int = 1
    strict_evidence: bool = False  # a pass must also show its flip rate's 95 % interval under the budget

    def __post_init__(self) -> None:
        if self.chunk is not None and self.chunk < 1:
            raise ConfigError(f"--chunk must be a positive number of samples, got {self.chunk}")
        # `not` over the range, so NaN (which fails every comparison) is refused too.
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"--threshold (the decision threshold) must be in (0, 1), got {self.threshold}")
        if not 0.0 <= self.max_flip_fraction <= 1.0:
            raise ConfigError(f"--max-flips (the flip budget) is a fraction in [0, 1], got {self.max_flip_fraction}")
        if not 0.0 <= self.max_abs_delta < math.inf:
            raise ConfigError(f"--max-delta (the |delta p| budget) must be a finite number >= 0, got {self.max_abs_delta}")
        unknown = [p for p in self.providers if p not in PROVIDERS]
        if not self.providers or unknown:
            raise ConfigError(f"unknown provider(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(PROVIDERS)}")


@dataclass
class StreamRowResult:
    """One row of the stream (a built-in voice, a recording) on one provider: the budget must hold on each."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("passed", "verdict")  # derived values written after the fields

    name: str
    decisions: int = 0
    flips: int = 0
    max_abs_delta: float = 0.0
    flips_by_kind: dict[str, int] = field(default_factory=dict)  # speech / silence / noise / nonspeech, when described
    failures: list[str] = field(default_factory=list)
    flip_evidence: Evidence | None = None  # this row's flip rate: n, 95 % interval, resolved or not

    @property
    def inconclusive(self) -> bool:
        """Nothing failed, but this row's flip count cannot be told from its budget with this much data."""
        return not self.failures and self.flip_evidence is not None and self.flip_evidence.verdict == INCONCLUSIVE

    @property
    def passed(self) -> bool:
        """No failure and a resolved flip count."""
        return not self.failures and not self.inconclusive

    @property
    def verdict(self) -> str:
        """pass, FAIL or inconclusive for this row."""
        return PASS if self.passed else INCONCLUSIVE if self.inconclusive else FAIL


@dataclass
class StreamCandidate:
    """One artifact on one provider against the reference, over the whole stream."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("passed", "verdict")  # derived values written after the fields

    provider: str
    providers_used: list[str] = field(default_factory=list)
    status: str = "ran"  # ran | skipped | error
    reason: str = ""
    decisions: int = 0  # chunks x rows compared
    flips: int = 0
    max_abs_delta: float = 0.0
    profiles: list[TimeProfile] = field(default_factory=list)  # per output: max error per window of chunk indices
    rows: list[StreamRowResult] = field(default_factory=list)  # per row of the data; any failing row fails the gate
    failures: list[str] = field(default_factory=list)
    # The flip rate's n, 95 % interval and resolution. Its verdict joins `failures` when FAIL; when inconclusive
    # (the data cannot tell the flips from the budget) it is not a pass either.
    flip_evidence: Evidence | None = None

    @property
    def inconclusive(self) -> bool:
        """Nothing failed, but the flips of the whole stream, or of a row when there are several, are unresolved."""
        whole = self.flip_evidence is not None and self.flip_evidence.verdict == INCONCLUSIVE
        row = len(self.rows) > 1 and any(r.inconclusive for r in self.rows)
        return self.status == "ran" and not self.failures and (whole or row)

    @property
    def passed(self) -> bool:
        """Skipped, or ran with no failure and resolved flip counts."""
        return self.status == "skipped" or (self.status == "ran" and not self.failures and not self.inconclusive)

    def inconclusive_lines(self) -> list[str]:
        """Each flip count the data cannot resolve (the whole stream's, each row's), with the data size that would."""
        lines = []
        if self.flip_evidence is not None and self.flip_evidence.verdict == INCONCLUSIVE:
            lines.append(f"flips inconclusive: {self.flip_evidence.reason}")
        if len(self.rows) > 1:
            lines += [
                f"{r.name}: flips inconclusive: {r.flip_evidence.reason}" for r in self.rows if r.inconclusive and r.flip_evidence
            ]
        return lines

    @property
    def verdict(self) -> str:
        """In the words of `check --report`'s candidates, so bundle and report read either kind of verdict."""
        if self.status in ("skipped", "error"):
            return self.status
        return PASS if self.passed else INCONCLUSIVE if self.inconclusive else FAIL


def _named_candidates(report: StreamCheckReport) -> list[dict[str, Any]]:
    """Each candidate naming the artifact and its sha256, as `check --report` candidates do."""
    return [{"artifact": report.artifact, "artifact_sha256": report.artifact_sha256, **to_jsonable(c)} for c in report.candidates]


@dataclass
class StreamCheckReport:
    """The verdict: what was compared with what (both sha256s, the data, the chunking), and per provider.
    `kind` tells `edgelstm report` it is a streaming verdict."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("reference_dtype", "kind", "passed", "verdict")
    JSON_ORDER: ClassVar[tuple[str, ...]] = (
        "artifact",
        "artifact_sha256",
        "reference",
        "reference_sha256",
        "data_source",
        "data_sha256",
        "chunk",
        "chunks",
        "rows",
        "output",
        "constants",
        "states",
        "context",
        "reference_runtime",
        "data_rows",
        "batched",
        "config",
        "candidates",
    )
    reference_dtype: ClassVar[str] = "float32"  # the reference streams in float32, like the artifact
    kind: ClassVar[str] = STREAM_CHECK_KIND  # tells `edgelstm report` which verdict this is

    artifact: str
    artifact_sha256: str
    reference: str
    reference_sha256: str
    data_source: str
    data_sha256: str
    chunk: int
    chunks: int
    rows: int
    output: str
    config: StreamCheckConfig
    constants: dict[str, float | int] = field(default_factory=dict)
    states: list[str] = field(default_factory=list)  # "in -> out"
    context: int = 0  # samples of the previous chunk each call also saw
    reference_runtime: str = ""  # how the reference ran
    data_rows: list[dict[str, Any]] = field(default_factory=list)  # what each row is (voice, segments), when known
    batched: bool = True  # rows run as one batch; False: row by row (a graph that takes batch 1 only)
    candidates: list[StreamCandidate] = field(default_factory=list, metadata=json_meta(compute=_named_candidates))

    @property
    def passed(self) -> bool:
        """Some provider ran and every candidate passed."""
        ran = [c for c in self.candidates if c.status != "skipped"]
        return bool(ran) and all(c.passed for c in self.candidates)

    @property
    def verdict(self) -> str:
        """pass | FAIL | inconclusive (nothing failed, but a flip count the data cannot resolve)."""
        if self.passed:
            return PASS
        ran = [c for c in self.candidates if c.status != "skipped"]
        return INCONCLUSIVE if ran and all(c.passed or c.inconclusive for c in self.candidates) else FAIL

    def __bool__(self) -> bool:
        return self.passed
