"""Parity results: dataclasses that round-trip JSON. Exit codes and every rendering derive from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from edgelstm.comparison import NOISE_FLOOR_FACTOR, CaseComparison, TensorComparison
from edgelstm.parity.cases import CaseInfo
from edgelstm.parity.evidence_strength import FAIL, INCONCLUSIVE, PASS, Evidence


@dataclass(frozen=True)
class TaskCheck:
    """Task-level agreement on real data: top-1 agreement, accuracy delta, relative MAE increase."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("verdict",)  # derived values written after the fields

    case: str
    metric: str  # "top1_agreement" | "accuracy_delta" | "mae_increase"
    value: float
    limit: float
    passed: bool
    detail: str = ""
    candidate_value: float | None = None  # e.g. the artifact's accuracy, when the metric is a difference
    reference_value: float | None = None  # ... and the reference's
    # n, the 95 % interval and whether the data resolve the limit; `passed` is False when it is inconclusive.
    # None in reports written before evidence was recorded.
    evidence: Evidence | None = None

    def __bool__(self) -> bool:
        return self.passed

    @property
    def verdict(self) -> str:
        """pass | FAIL | inconclusive (the data cannot tell; never a pass)."""
        if self.evidence is not None:
            return self.evidence.verdict
        return PASS if self.passed else FAIL

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskCheck:
        """Read back a task check written by `to_jsonable` (its verdict is derived, not stored)."""
        values = {k: v for k, v in data.items() if k != "verdict"}
        values["value"], values["limit"] = float(data["value"]), float(data["limit"])
        if values.get("evidence") is not None:
            values["evidence"] = Evidence.from_dict(values["evidence"])
        return cls(**values)


@dataclass(frozen=True)
class TimeProfile:
    """Error against the float64 reference as a function of time step, on a long input."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("grows",)  # derived values written after the fields

    case: str
    output: str
    steps: list[int]
    errors: list[float]  # max abs error at each step
    slope_per_1k_steps: float  # least-squares slope of the error, per 1000 steps
    first_error: float
    last_error: float

    @property
    def grows(self) -> bool:
        """Grows if the mean error over the last tenth of the steps is over twice that of the first tenth
        (single points are too noisy: per-step error jumps by 10x from one step to the next)."""
        tenth = max(1, len(self.errors) // 10)
        head = sum(self.errors[:tenth]) / tenth
        tail = sum(self.errors[-tenth:]) / tenth
        return self.slope_per_1k_steps > 0 and tail > 2 * max(head, 1e-12)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TimeProfile:
        """Read back a profile written by `to_jsonable`."""
        values = {k: v for k, v in data.items() if k != "grows"}
        values["errors"] = [float(e) for e in values["errors"]]
        for key in ("slope_per_1k_steps", "first_error", "last_error"):
            values[key] = float(values[key])
        return cls(**values)


@dataclass(frozen=True)
class DeterminismCheck:
    """Whether two runs on the same feeds gave the same bytes, and how far apart they were."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("passed",)  # derived values written after the fields

    identical: bool
    max_spread: float
    required: bool  # CPU-side providers must be bit-identical; GPU spread is reported

    @property
    def passed(self) -> bool:
        """Identical, or not required to be (CUDA kernels may differ between runs)."""
        return self.identical or not self.required

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeterminismCheck:
        """Read back a check written by `to_jsonable`."""
        return cls(bool(data["identical"]), float(data["max_spread"]), bool(data["required"]))


def describe_failure(o: TensorComparison) -> str:
    """One line saying how an output missed its tolerance (or what problem it had)."""
    if o.problem:
        return f"{o.problem} (max abs {o.max_abs_error:.3g})"
    if o.snr_db < o.min_snr_db:
        return f"SNR {o.snr_db:.1f} dB < {o.min_snr_db:g} dB (max abs {o.max_abs_error:.3g})"
    rule = f"max abs {o.max_abs_error:.3g} > atol {o.atol:g} + rtol {o.rtol:g} x range"
    if o.max_noise_floor > 0:
        rule += f" + {NOISE_FLOOR_FACTOR:g} x the reference's float32 noise floor (at most {o.max_noise_floor:.2g})"
    return rule


@dataclass
class CandidateResult:
    """One artifact on one provider."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("verdict", "passed")
    JSON_ORDER: ClassVar[tuple[str, ...]] = (
        "artifact",
        "artifact_sha256",
        "provider",
        "precision",
        "providers_used",
        "status",
        "verdict",
        "passed",
    )

    artifact: str
    provider: str
    precision: str
    providers_used: list[str] = field(default_factory=list)
    status: str = "run"  # "run" | "skipped" | "error"
    artifact_sha256: str = ""  # the exact file judged (bundles match their artifact against it)
    reason: str = ""
    gated: bool = True  # the torch fp32 baseline is reported, not gated
    cases: list[CaseComparison] = field(default_factory=list)
    tasks: list[TaskCheck] = field(default_factory=list)
    streaming: list[CaseComparison] = field(default_factory=list)
    time_profiles: list[TimeProfile] = field(default_factory=list)
    determinism: DeterminismCheck | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Whether this artifact on this provider passed (a skipped provider does not fail the check)."""
        if self.status == "skipped":
            return True
        if self.status == "error":
            return False
        checks_ok = all(self.cases) and all(self.tasks) and all(self.streaming)
        return checks_ok and (self.determinism is None or self.determinism.passed)

    @property
    def inconclusive(self) -> bool:
        """Nothing failed, but a task check's data cannot resolve its limit: not a pass (see evidence_strength)."""
        if self.status != "run" or self.passed:
            return False
        others_ok = all(self.cases) and all(self.streaming) and (self.determinism is None or self.determinism.passed)
        return others_ok and all(t.verdict != FAIL for t in self.tasks) and any(t.verdict == INCONCLUSIVE for t in self.tasks)

    @property
    def verdict(self) -> str:
        """pass, FAIL, inconclusive, skipped or error: the words every report and bundle read."""
        if self.status == "skipped":
            return "skipped"
        if self.status == "error":
            return "error"
        return PASS if self.passed else INCONCLUSIVE if self.inconclusive else FAIL

    def comparisons(self) -> list[tuple[str, TensorComparison]]:
        """Every output comparison of every case and streaming run, with its case label."""
        return [(c.label, o) for c in self.cases + self.streaming for o in c.outputs]

    def worst(self) -> tuple[str, TensorComparison] | None:
        """The failing comparison with the largest relative error, else the largest relative error overall."""
        pairs = self.comparisons()
        failing = [p for p in pairs if not p[1].passed]
        pool = failing or pairs
        return max(pool, key=lambda p: p[1].max_rel_error, default=None)

    def failures(self) -> list[str]:
        """One line per failed case, output, task check or determinism check."""
        lines = [f"{c.label}: {c.error}" for c in self.cases + self.streaming if c.error]
        lines += [f"{label} / {o.name}: {describe_failure(o)}" for label, o in self.comparisons() if not o.passed]
        lines += [
            f"{t.case} / {t.metric}: {t.value:.4g} (limit {t.limit:g}) {t.detail}".rstrip()
            for t in self.tasks
            if t.verdict == FAIL
        ]
        if self.determinism and not self.determinism.passed:
            lines.append(f"determinism: two runs differ by up to {self.determinism.max_spread:.3g}")
        if self.status == "error":
            lines.append(self.reason)
        return lines

    def unresolved(self) -> list[str]:
        """Task checks the data cannot resolve, each with its reason and the data size that would resolve it
        (an inconclusive check, or a pass whose interval crosses the limit)."""
        return [
            f"{t.case} / {t.metric}: {t.value:.4g} (limit {t.limit:g}) {t.verdict}: {t.evidence.reason}"
            for t in self.tasks
            if t.evidence is not None and not t.evidence.resolved
        ]

    def inconclusive_lines(self) -> list[str]:
        """The task checks whose data cannot resolve them and that are therefore not a pass, with the reason."""
        return [
            f"{t.case} / {t.metric}: {t.value:.4g} (limit {t.limit:g}): {t.evidence.reason}"
            for t in self.tasks
            if t.evidence is not None and t.verdict == INCONCLUSIVE
        ]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CandidateResult:
        """Read back a candidate as `to_jsonable` writes it."""
        return cls(
            artifact=data["artifact"],
            provider=data["provider"],
            precision=data["precision"],
            providers_used=list(data["providers_used"]),
            status=data["status"],
            artifact_sha256=data.get("artifact_sha256", ""),
            reason=data["reason"],
            gated=data["gated"],
            cases=[CaseComparison.from_dict(c) for c in data["cases"]],
            tasks=[TaskCheck.from_dict(t) for t in data["tasks"]],
            streaming=[CaseComparison.from_dict(c) for c in data["streaming"]],
            time_profiles=[TimeProfile.from_dict(t) for t in data["time_profiles"]],
            determinism=DeterminismCheck.from_dict(data["determinism"]) if data["determinism"] else None,
            notes=list(data["notes"]),
            seconds=float(data["seconds"]),
        )


@dataclass
class ParityReport:
    """The check's verdict: what was compared with what (sha256s, data, versions) and every candidate."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("passed", "verdict", "checks_run", "checks_skipped")
    JSON_ORDER: ClassVar[tuple[str, ...]] = (
        "passed",
        "verdict",
        "reference",
        "reference_dtype",
        "reference_files",
        "data_source",
        "data_sha256",
        "providers",
        "checks_run",
        "checks_skipped",
        "tolerance_source",
        "cases",
        "candidates",
        "baseline",
    )

    reference: str  # the model's origin, as given
    reference_dtype: str  # "float64" (or "float32" when the module cannot be upcast; then noted)
    data_source: str
    tolerance_source: str
    cases: list[CaseInfo] = field(default_factory=list)
    candidates: list[CandidateResult] = field(default_factory=list)
    baseline: CandidateResult | None = None  # torch fp32 vs the float64 reference, informational
    versions: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    reference_files: dict[str, str] = field(default_factory=dict)  # weights/program file -> sha256
    data_sha256: str = ""  # "" when the data is synthetic
    providers: list[str] = field(default_factory=list)  # as asked for, skipped ones included

    @property
    def ran(self) -> list[CandidateResult]:
        """Gated artifact x provider checks that ran (or failed trying); skipped ones are not checks."""
        return [c for c in self.candidates if c.gated and c.status != "skipped"]

    @property
    def skipped(self) -> list[CandidateResult]:
        """Candidates not run (provider missing and allowed, or not applicable)."""
        return [c for c in self.candidates if c.status == "skipped"]

    @property
    def passed(self) -> bool:
        """Something ran and every gated candidate passed."""
        # A verdict needs evidence: with every provider skipped nothing was checked, so it cannot pass.
        return bool(self.ran) and all(c.passed for c in self.candidates if c.gated)

    @property
    def verdict(self) -> str:
        """pass | FAIL | inconclusive: inconclusive when nothing failed but some check's data cannot resolve it."""
        if self.passed:
            return PASS
        gated = [c for c in self.candidates if c.gated]
        if self.ran and all(c.passed or c.inconclusive for c in gated):
            return INCONCLUSIVE
        return FAIL

    @property
    def checks_run(self) -> int:
        """How many gated checks ran (`ran`), for the report's readers."""
        return len(self.ran)

    @property
    def checks_skipped(self) -> int:
        """How many candidates were skipped (`skipped`)."""
        return len(self.skipped)

    def __bool__(self) -> bool:
        return self.passed

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParityReport:
        """Read back a report as `to_jsonable` writes it (bundle and report read verdicts this way)."""
        return cls(
            reference=data["reference"],
            reference_dtype=data["reference_dtype"],
            data_source=data["data_source"],
            tolerance_source=data["tolerance_source"],
            cases=[CaseInfo(**c) for c in data["cases"]],
            candidates=[CandidateResult.from_dict(c) for c in data["candidates"]],
            baseline=CandidateResult.from_dict(data["baseline"]) if data["baseline"] else None,
            versions=dict(data["versions"]),
            settings=dict(data["settings"]),
            reference_files=dict(data.get("reference_files", {})),
            data_sha256=data.get("data_sha256", ""),
            providers=list(data.get("providers", [])),
        )
