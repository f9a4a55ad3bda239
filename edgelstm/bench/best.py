"""Each contender at its best measured setting, like-with-like ratios, and the thread/spinning policy per batch.

A ratio only means something between rows measured under the same shape, and either the same settings or each
at its own best: looking a baseline up by batch and steps alone let the last thread count win (a 1-thread torch
row once read 5.64x against itself).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from edgelstm.artifact.session import SessionSettings
from edgelstm.bench.rows import LatencyResult
from edgelstm.jsonio import json_meta


class Measured(Protocol):
    """What the best-setting rule reads of a latency row (a LatencyResult, or a bench report's row as a bundle
    reads it back)."""

    @property
    def name(self) -> str:
        """The artifact (or contender) the row timed."""
        ...

    @property
    def kind(self) -> str:
        """artifact or baseline (torch eager, plain sessions): what the row stands for."""
        ...

    @property
    def batch(self) -> int:
        """The batch size of the row."""
        ...

    @property
    def steps(self) -> int:
        """The sequence length of the row."""
        ...

    @property
    def threads(self) -> int:
        """The thread count the row ran at (inter-op threads in parallel mode, 0: ORT's own pool)."""
        ...

    @property
    def mode(self) -> str:
        """How the session was called: run, io_binding, torch, or plain (ORT's default options)."""
        ...

    @property
    def p50_ms(self) -> float:
        """The row's median latency in milliseconds."""
        ...

    @property
    def allow_spinning(self) -> bool | None:
        """Whether ORT's threads spun between calls (None where it does not apply)."""
        ...

    @property
    def execution_mode(self) -> str:
        """ORT's execution mode of the session (sequential or parallel)."""
        ...


TORCH_EAGER = "torch eager fp32"
DEFAULT_PATH_PREFIX = "default path"


def _string_keys(p50_ms: dict[int, float]) -> dict[str, float]:
    return {str(k): v for k, v in p50_ms.items()}


@dataclass(frozen=True)
class BestSetting:
    """The fastest measured setting of one contender at one batch size (p50 summed over the lengths measured)."""

    name: str
    kind: str
    batch: int
    intra_op_threads: int  # the row's thread count (0 = ORT's default pool; parallel mode: inter-op threads)
    allow_spinning: bool | None  # None: not an ORT setting (torch)
    p50_ms: dict[int, float] = field(metadata=json_meta(convert=_string_keys))  # steps -> p50 (JSON: lengths as strings)
    execution_mode: str = "sequential"


def setting_key(r: Measured) -> tuple[int, bool | None, str]:
    """The session setting a row was timed in: threads, spinning, execution mode."""
    return (r.threads, r.allow_spinning, r.execution_mode)


def same_setting_ratio(row: LatencyResult, baselines: Iterable[LatencyResult]) -> float | None:
    """baseline p50 / row p50 for the baseline row measured at the same batch, steps and thread count; None if
    there is none (a ratio against another thread count would not say what it claims)."""
    for b in baselines:
        if (b.batch, b.steps, b.threads) == (row.batch, row.steps, row.threads):
            return b.p50_ms / row.p50_ms
    return None


def best_settings(latencies: Iterable[Measured]) -> list[BestSetting]:
    """Per contender and batch, the setting whose p50, summed over every length measured at it, is lowest.
    Settings that were not measured at every length of that contender and batch are not compared."""
    rows: dict[tuple[str, int], dict[tuple[int, bool | None, str], dict[int, Measured]]] = defaultdict(lambda: defaultdict(dict))
    kinds: dict[str, str] = {}
    for r in latencies:
        if r.mode == "run" or r.mode == "torch":
            rows[(r.name, r.batch)][setting_key(r)][r.steps] = r
            kinds[r.name] = r.kind
    best = []
    for (name, batch), by_setting in rows.items():
        all_steps = set().union(*(set(s) for s in by_setting.values()))
        complete = {k: v for k, v in by_setting.items() if set(v) == all_steps} or by_setting
        key, chosen = min(complete.items(), key=lambda kv: (sum(r.p50_ms for r in kv[1].values()), kv[0][0]))
        p50 = {s: r.p50_ms for s, r in sorted(chosen.items())}
        best.append(BestSetting(name, kinds[name], batch, key[0], key[1], p50, key[2]))
    return best


def best_vs_best(best: list[BestSetting], contender: BestSetting, baseline_name: str) -> dict[int, float]:
    """steps -> the baseline's best p50 / this contender's best p50 at the same batch (each at its own setting)."""
    for b in best:
        if b.batch == contender.batch and (b.name == baseline_name or b.name.startswith(baseline_name)):
            return {s: b.p50_ms[s] / ms for s, ms in contender.p50_ms.items() if s in b.p50_ms}
    return {}


def policy(best: list[BestSetting]) -> dict[str, dict[str, Any]]:
    """Per batch size, the setting of the fastest edgelstm artifact at its best (what a session for this batch
    should use), with the artifact and its p50 it was measured from. Keys are strings (JSON object keys)."""
    chosen: dict[int, BestSetting] = {}
    for b in best:
        if b.kind != "artifact":
            continue
        current = chosen.get(b.batch)
        if current is None or _total(b) < _total(current):
            chosen[b.batch] = b
    return {str(batch): _policy_entry(b) for batch, b in sorted(chosen.items())}


def policy_by_artifact(best: list[BestSetting]) -> dict[str, dict[str, dict[str, Any]]]:
    """The same, for each artifact on its own (a bundle ships one artifact and should use its own best)."""
    out: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for b in sorted((b for b in best if b.kind == "artifact"), key=lambda b: (b.name, b.batch)):
        out[b.name][str(b.batch)] = _policy_entry(b)
    return dict(out)


def _total(b: BestSetting) -> float:
    """The setting's latency summed over the lengths measured: what "fastest" compares."""
    return sum(b.p50_ms.values())


def _policy_entry(b: BestSetting) -> dict[str, Any]:
    """The session policy entry for a best setting, as a bundle ships it to an app."""
    # the session the row was timed with: in parallel mode its threads are inter-op threads (SessionSettings.for_threads)
    settings = SessionSettings.for_threads(b.intra_op_threads, bool(b.allow_spinning), b.execution_mode)
    return {
        "intra_op_threads": settings.intra_op_threads,
        "inter_op_threads": settings.inter_op_threads,
        "execution_mode": b.execution_mode,
        "allow_spinning": bool(b.allow_spinning),
        "artifact": b.name,
        "p50_ms": {str(k): v for k, v in b.p50_ms.items()},
    }


def plain_session(latencies: Iterable[Measured]) -> list[dict[str, Any]]:
    """Per artifact, batch and length: its p50 in a plain ORT session (ORT's defaults, no session entry; at ORT's
    default threads and at 1 thread) beside its p50 at the setting `best_settings` chose for it (its policy)."""
    latencies = list(latencies)
    plain: dict[tuple[str, int, int], dict[int, float]] = defaultdict(dict)
    for r in latencies:
        if r.kind == "artifact" and r.mode == "plain":
            plain[(r.name, r.batch, r.steps)][r.threads] = r.p50_ms
    chosen = {(b.name, b.batch): b for b in best_settings(latencies) if b.kind == "artifact"}
    rows = []
    for (name, batch, steps), by_threads in plain.items():
        best = chosen.get((name, batch))
        policy_ms = best.p50_ms.get(steps) if best else None
        default, one = by_threads.get(0), by_threads.get(1)
        rows.append(
            {
                "name": name,
                "batch": batch,
                "steps": steps,
                "plain_default_p50_ms": default,
                "plain_1thread_p50_ms": one,
                "policy_p50_ms": policy_ms,
                "policy_setting": {"threads": best.intra_op_threads, "allow_spinning": best.allow_spinning} if best else None,
                "plain_default_vs_policy": default / policy_ms if policy_ms and default else None,
                "plain_1thread_vs_policy": one / policy_ms if policy_ms and one else None,
            }
        )
    return rows
