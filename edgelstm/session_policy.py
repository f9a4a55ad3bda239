"""The thread and spinning policy a bench measured: carried in a bundle's manifest, used by edgelstm's own sessions.

A policy is a list of entries, one per measured batch size, each the setting at which the artifact measured fastest
there (edgelstm.bench.best). A session for batch B takes the entry with the largest measured batch <= B (the
smallest entry below the first), so "batch 1: 1 thread; batch 32: 2 threads, spinning" reads as "below 32: 1
thread; from 32 up: 2 threads, spinning". Where nothing was measured the policy says "not measured" and sessions
keep edgelstm's defaults (1 thread, no spinning): a policy is never invented.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from edgelstm.artifact.session import EXECUTION_MODES, STREAMING_SESSION, SessionSettings
from edgelstm.errors import ConfigError, SessionPolicyError
from edgelstm.jsonio import json_meta

__all__ = [
    "MEASURED",
    "NOT_MEASURED",
    "PolicyEntry",
    "SessionPolicy",
    "StreamingPolicy",
    "entry_from_bench",
    "policy_from_bench_rows",
    "settings_for",
]

MEASURED, NOT_MEASURED = "measured", "not measured"
MAX_THREADS = 1024
DEFAULTS = SessionSettings()  # 1 intra-op thread, no spinning


@dataclass(frozen=True)
class PolicyEntry:
    """The fastest measured setting from `from_batch` up (intra_op_threads 0 = ORT's default pool)."""

    # the bench report's and manifests' key order, fixed before inter_op_threads and execution_mode were recorded
    JSON_ORDER: ClassVar[tuple[str, ...]] = (
        "from_batch",
        "intra_op_threads",
        "inter_op_threads",
        "execution_mode",
        "allow_spinning",
        "p50_ms",
    )

    from_batch: int
    intra_op_threads: int
    allow_spinning: bool
    p50_ms: dict[str, float] = field(default_factory=dict)  # steps -> p50 at this setting, as measured
    inter_op_threads: int = 1
    execution_mode: str = "sequential"  # manifests written before it was recorded: sequential

    def describe(self) -> str:
        """One line for tables and reports: which threads and execution mode this entry chose."""
        spin = "spinning" if self.allow_spinning else "no spinning"
        if self.execution_mode == "parallel":
            return f"parallel execution on {_plural(self.inter_op_threads, 'inter-op thread')}, {spin}"
        threads = "ORT's default threads" if self.intra_op_threads == 0 else _plural(self.intra_op_threads, "thread")
        return f"{threads}, {spin}"


STREAMING_EVIDENCE = (
    "scripts/bench_slim_step.py (session settings table): threads 1 and 2 x spinning x memory pattern x CPU arena, "
    "2x128 LSTM and GRU streaming graphs at one step per call through StreamingSession, thread CPU time"
)


@dataclass(frozen=True)
class StreamingPolicy:
    """How one-chunk streaming calls run fastest (issue 21): threads, spinning, ORT's memory pattern and CPU arena,
    and states kept in bound buffers (IO binding) instead of fed per call, as `measured_by` measured them.
    StreamingSession opens with these settings (edgelstm.artifact.session.STREAMING_SESSION); a bundle carries them
    for its app code."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("summary",)

    intra_op_threads: int = STREAMING_SESSION.intra_op_threads
    allow_spinning: bool = STREAMING_SESSION.allow_spinning
    memory_pattern: bool = STREAMING_SESSION.memory_pattern
    cpu_arena: bool = STREAMING_SESSION.cpu_arena
    io_binding: bool = True
    measured_by: str = STREAMING_EVIDENCE

    def settings(self, base: SessionSettings | None = None) -> SessionSettings:
        """These settings over `base` (provider, graph optimization): what a streaming session opens with."""
        return replace(
            base or SessionSettings(),
            intra_op_threads=self.intra_op_threads,
            allow_spinning=self.allow_spinning,
            memory_pattern=self.memory_pattern,
            cpu_arena=self.cpu_arena,
        )

    def describe(self) -> str:
        """One line: "1 thread, no spinning, memory pattern on, CPU arena off, states bound (IO binding)"."""
        on = {True: "on", False: "off"}
        return (
            f"{_plural(self.intra_op_threads, 'thread')}, {'spinning' if self.allow_spinning else 'no spinning'}, "
            f"memory pattern {on[self.memory_pattern]}, CPU arena {on[self.cpu_arena]}, "
            f"states {'bound (IO binding)' if self.io_binding else 'fed per call'}"
        )

    @property
    def summary(self) -> str:
        """The one line of `describe`, as the policy and the bundle's manifest write it."""
        return self.describe()

    @classmethod
    def from_dict(cls, data: Any) -> StreamingPolicy:
        """Strict: a malformed entry is one SessionPolicyError naming the key."""
        if not isinstance(data, Mapping):
            raise SessionPolicyError(f"'streaming' must be an object, got {type(data).__name__}")
        threads = data.get("intra_op_threads")
        if isinstance(threads, bool) or not isinstance(threads, int) or not 0 <= threads <= MAX_THREADS:
            raise SessionPolicyError(f"streaming.intra_op_threads must be an integer 0..{MAX_THREADS}, got {str(threads)[:40]!r}")
        flags = {}
        for key in ("allow_spinning", "memory_pattern", "cpu_arena", "io_binding"):
            if not isinstance(data.get(key), bool):
                raise SessionPolicyError(f"streaming.{key} must be true or false, got {str(data.get(key))[:40]!r}")
            flags[key] = data[key]
        return cls(threads, **flags, measured_by=_text(data, "measured_by"))


@dataclass(frozen=True)
class SessionPolicy:
    """The ORT session settings to use by batch size, as measured by bench, or why none were measured."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("summary", "rule", "defaults")
    JSON_ORDER: ClassVar[tuple[str, ...]] = (
        "status",
        "summary",
        "by_batch",
        "rule",
        "defaults",
        "artifact",
        "streaming",
        "source",
        "measured_on",
        "reason",
    )
    # written in every policy, so an app reading the JSON alone knows how to pick an entry and what "defaults" are
    rule: ClassVar[str] = (
        "a session for batch B uses the entry with the largest from_batch <= B; smaller batches use the first entry"
    )
    defaults: ClassVar[Mapping[str, Any]] = {
        "intra_op_threads": DEFAULTS.intra_op_threads,
        "allow_spinning": DEFAULTS.allow_spinning,
    }

    status: str  # MEASURED | NOT_MEASURED
    entries: tuple[PolicyEntry, ...] = field(default=(), metadata=json_meta(name="by_batch"))
    reason: str = field(default="", metadata=json_meta(when=lambda p: not p.measured))  # why not measured
    artifact: str = ""  # the artifact it was measured on
    source: str = field(default="", metadata=json_meta(when=lambda p: p.measured))  # the bench report's file name
    # cpu_count, machine, onnxruntime
    measured_on: dict[str, str] = field(default_factory=dict, metadata=json_meta(when=lambda p: p.measured))
    streaming: StreamingPolicy = field(default_factory=StreamingPolicy)  # one-chunk calls (issue 21)

    @classmethod
    def not_measured(cls, reason: str, artifact: str = "") -> SessionPolicy:
        """A policy that says it was not measured and why, so apps fall back to defaults knowingly."""
        return cls(NOT_MEASURED, (), reason, artifact)

    @property
    def measured(self) -> bool:
        """Whether the policy comes from a bench measurement (not a default)."""
        return self.status == MEASURED

    @property
    def summary(self) -> str:
        """One line: "batch < 32: 1 thread, no spinning; batch >= 32: 2 threads, spinning"."""
        if not self.measured:
            return f"not measured ({self.reason}): {PolicyEntry(1, DEFAULTS.intra_op_threads, DEFAULTS.allow_spinning).describe()} (defaults)"
        groups: list[tuple[int, str]] = []
        for entry in self.entries:  # neighbours with the same setting read as one range
            if not groups or groups[-1][1] != entry.describe():
                groups.append((entry.from_batch, entry.describe()))
        parts = []
        for i, (start, text) in enumerate(groups):
            end = groups[i + 1][0] if i + 1 < len(groups) else None
            if len(groups) == 1:
                label = "every batch"
            elif i == 0:
                label = "batch 1" if end == 2 else f"batch < {end}"
            elif end is None:
                label = f"batch >= {start}"
            else:
                label = f"batch {start}" if end == start + 1 else f"batch {start}-{end - 1}"
            parts.append(f"{label}: {text}")
        return "; ".join(parts)

    @classmethod
    def from_dict(cls, data: Any) -> SessionPolicy:
        """Strict: anything malformed is one SessionPolicyError naming the key and what is wrong."""
        if not isinstance(data, Mapping):
            raise SessionPolicyError(f"must be an object, got {type(data).__name__}")
        status = data.get("status")
        if status not in (MEASURED, NOT_MEASURED):
            raise SessionPolicyError(f"'status' must be {MEASURED!r} or {NOT_MEASURED!r}, got {str(status)[:40]!r}")
        # absent in policies written before issue 21: the settings measured since then
        streaming = StreamingPolicy.from_dict(data["streaming"]) if "streaming" in data else StreamingPolicy()
        by_batch = data.get("by_batch", [])
        if not isinstance(by_batch, list):
            raise SessionPolicyError(f"'by_batch' must be a list, got {type(by_batch).__name__}")
        if status == NOT_MEASURED:
            if by_batch:
                raise SessionPolicyError("'by_batch' must be empty when the policy was not measured")
            return replace(
                cls.not_measured(_text(data, "reason") or "no reason recorded", _text(data, "artifact")), streaming=streaming
            )
        if not by_batch:
            raise SessionPolicyError("a measured policy needs at least one 'by_batch' entry")
        entries = tuple(_entry(i, e) for i, e in enumerate(by_batch))
        batches = [e.from_batch for e in entries]
        if batches != sorted(set(batches)):
            raise SessionPolicyError(f"'by_batch' entries must have increasing, distinct from_batch values, got {batches}")
        measured_on = data.get("measured_on", {})
        if not isinstance(measured_on, Mapping) or not all(isinstance(v, str) for v in measured_on.values()):
            raise SessionPolicyError("'measured_on' must map names to strings")
        return cls(MEASURED, entries, "", _text(data, "artifact"), _text(data, "source"), dict(measured_on), streaming)


def settings_for(policy: SessionPolicy | None, batch: int, base: SessionSettings | None = None) -> SessionSettings:
    """The session settings for `batch` under `policy`: its threads and spinning over `base` (provider, graph
    optimization); edgelstm's defaults (1 thread, no spinning) where the policy was not measured."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"batch must be a positive integer, got {batch!r}")
    base = base or SessionSettings()
    chosen = PolicyEntry(1, DEFAULTS.intra_op_threads, DEFAULTS.allow_spinning, {}, DEFAULTS.inter_op_threads)
    if policy is not None and policy.measured and policy.entries:
        chosen = policy.entries[0]
        for entry in policy.entries:
            if entry.from_batch <= batch:
                chosen = entry
    return replace(
        base,
        intra_op_threads=chosen.intra_op_threads,
        inter_op_threads=chosen.inter_op_threads,
        allow_spinning=chosen.allow_spinning,
        execution_mode=chosen.execution_mode,
    )


def policy_from_bench_rows(
    rows: Iterable[Mapping[str, Any]], artifact: str, source: str, versions: Mapping[str, Any] | None = None
) -> SessionPolicy:
    """The policy of one artifact from its bench latency rows (already matched to it), derived by the same rule
    as the bench report's `policy_by_artifact`; "not measured" when the rows hold no plain `run` timing."""
    # heavy: edgelstm.bench loads its runner (torch); a SessionPolicy read by an app needs none of it
    from edgelstm.bench.best import best_settings, policy_by_artifact

    measured = [_BenchRow.from_mapping(r) for r in rows if r.get("kind") == "artifact" and r.get("mode") == "run"]
    per_batch = policy_by_artifact(best_settings(measured)).get(artifact)
    if not per_batch:
        return SessionPolicy.not_measured(f"{source} has no timed rows for {artifact}", artifact)
    entries = tuple(entry_from_bench(batch, p) for batch, p in sorted(per_batch.items(), key=lambda kv: int(kv[0])))
    versions = versions or {}
    measured_on = {k: str(versions[k]) for k in ("cpu_count", "machine", "onnxruntime") if k in versions}
    return SessionPolicy(MEASURED, entries, "", artifact, source, measured_on)


def entry_from_bench(batch: int | str, entry: Mapping[str, Any]) -> PolicyEntry:
    """One entry of a bench report's `policy` (edgelstm.bench.best; keys absent from older reports read as their
    defaults) as the PolicyEntry a bundle carries, so every place describes a setting the same way."""
    return PolicyEntry(
        int(batch),
        int(entry["intra_op_threads"]),
        bool(entry["allow_spinning"]),
        {str(k): float(v) for k, v in entry.get("p50_ms", {}).items()},
        int(entry.get("inter_op_threads", 1)),
        str(entry.get("execution_mode", "sequential")),
    )


@dataclass(frozen=True)
class _BenchRow:
    """The fields of a bench latency row that the best-setting rule reads (a bundle gets rows as JSON)."""

    name: str
    kind: str
    batch: int
    steps: int
    threads: int
    mode: str
    p50_ms: float
    allow_spinning: bool | None
    execution_mode: str

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> _BenchRow:
        spinning = row.get("allow_spinning")  # absent in reports written before spinning was swept: it was off
        execution = str(row.get("execution_mode", "sequential"))  # absent before it was swept: sequential
        return cls(
            str(row["name"]),
            str(row["kind"]),
            int(row["batch"]),
            int(row["steps"]),
            int(row["threads"]),
            str(row["mode"]),
            float(row["p50_ms"]),
            None if spinning is None else bool(spinning),
            execution,
        )


def _entry(index: int, data: Any) -> PolicyEntry:
    where = f"by_batch[{index}]"
    if not isinstance(data, Mapping):
        raise SessionPolicyError(f"{where} must be an object, got {type(data).__name__}")
    batch, threads, spinning = data.get("from_batch"), data.get("intra_op_threads"), data.get("allow_spinning")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise SessionPolicyError(f"{where}.from_batch must be a positive integer, got {str(batch)[:40]!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or not 0 <= threads <= MAX_THREADS:
        raise SessionPolicyError(f"{where}.intra_op_threads must be an integer 0..{MAX_THREADS}, got {str(threads)[:40]!r}")
    if not isinstance(spinning, bool):
        raise SessionPolicyError(f"{where}.allow_spinning must be true or false, got {str(spinning)[:40]!r}")
    inter, execution = data.get("inter_op_threads", 1), data.get("execution_mode", "sequential")
    if isinstance(inter, bool) or not isinstance(inter, int) or not 1 <= inter <= MAX_THREADS:
        raise SessionPolicyError(f"{where}.inter_op_threads must be an integer 1..{MAX_THREADS}, got {str(inter)[:40]!r}")
    if execution not in EXECUTION_MODES:
        raise SessionPolicyError(
            f"{where}.execution_mode must be one of {', '.join(EXECUTION_MODES)}, got {str(execution)[:40]!r}"
        )
    p50 = data.get("p50_ms", {})
    if not isinstance(p50, Mapping) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in p50.values()
    ):
        raise SessionPolicyError(f"{where}.p50_ms must map lengths to positive milliseconds")
    return PolicyEntry(batch, threads, spinning, {str(k): float(v) for k, v in p50.items()}, inter, execution)


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise SessionPolicyError(f"'{key}' must be a string, got {type(value).__name__}")
    return value


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
