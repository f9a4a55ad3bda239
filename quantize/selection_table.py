"""auto's table: a Candidate row per scheme tried and the SelectionResult, saved as auto.json for `report`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from edgelstm import jsonio
from edgelstm.files import write_text_atomic
from edgelstm.jsonio import json_meta
from edgelstm.quantize.api import QuantizeResult
from edgelstm.quantize.cannot_win import was_gated

Objective = Literal["size", "speed", "size-at-any-cost"]


OBJECTIVES: tuple[str, ...] = ("size", "speed", "size-at-any-cost")


# A published artifact may be at most this much slower than the float graph at batch 1 (issue 11): a smaller file
# that makes every inference slower is no win on a device (int8 GRU Loop graphs were 5x slower than fused fp32).
SPEED_LIMIT = 1.1


FP32_ROW = "fp32"


ORT_DEFAULT_ROW = "ort-quantize-dynamic"


# auto's Pareto table as JSON, beside the artifacts it published: `edgelstm report` shows it from there.
SELECTION_FILE = "auto.json"


def _plain_session(row: Candidate) -> dict[str, float | None]:
    """The row's plain-session timings, as auto.json groups them."""
    return {
        "latency_ms_batch1": row.plain_latency_ms,
        "latency_ms_batch1_1thread": row.plain_1thread_latency_ms,
        "latency_vs_fp32": row.plain_speed_ratio,
    }


@dataclass
class Candidate:
    """One row of auto's table: a scheme tried, its artifact, its verdict, its timings and why it lost. Its JSON is
    the row auto.json writes; untimed latencies stay null there, never a 0.0 that reads as measured."""

    JSON_EXTRAS: ClassVar[tuple[str | tuple[str, str], ...]] = (
        "gated",
        ("size_bytes", "built_size_bytes"),
        "size_is_floor",
        "speed_rule_judged_on",
    )
    JSON_ORDER: ClassVar[tuple[str, ...]] = (
        "scheme",
        "role",
        "refused",
        "passed",
        "gated",
        "size_bytes",
        "size_is_floor",
        "x_smaller",
        "latency_ms_batch1",
        "latency_vs_fp32",
        "plain_session",
        "speed_rule_judged_on",
        "on_front",
        "lost",
        "summary",
        "details",
        "result",
    )

    scheme: str
    result: QuantizeResult | None = None
    refused: str = ""
    passed: bool = False
    # batch 1, median, 1 thread; None: not timed (failed the gate, so never written)
    latency_ms: float | None = field(default=None, metadata=json_meta(name="latency_ms_batch1"))
    summary: dict[str, Any] = field(default_factory=dict)
    role: str = "candidate"  # candidate | reference (the fp32 graph) | contender (shown beside, never published)
    on_front: bool = False  # on the size/latency Pareto front of the passing rows
    lost: str = ""  # why it is not the winner, in words; "" for the winner
    speed_ratio: float | None = field(default=None, metadata=json_meta(name="latency_vs_fp32"))  # latency / fp32 latency
    size_ratio: float | None = field(default=None, metadata=json_meta(name="x_smaller"))  # fp32 bytes / bytes
    # Issue 19: batch-1 medians in a plain ORT session (InferenceSession(path): ORT's defaults, no session entry),
    # at ORT's default threads and at 1 thread, timed in the same interleaved run; the speed rule is judged on them.
    plain_latency_ms: float | None = field(default=None, metadata=json_meta(name="plain_session", compute=_plain_session))
    plain_1thread_latency_ms: float | None = field(default=None, metadata=json_meta(skip=True))
    # the worse of the two plain latencies over the fp32 graph's
    plain_speed_ratio: float | None = field(default=None, metadata=json_meta(skip=True))
    details: dict[str, Any] = field(default_factory=dict)  # scheme-specific tables (mixed: per-layer sensitivity)

    @property
    def timed(self) -> bool:
        """Whether the row was timed (only published candidates and the fp32 graph are)."""
        return self.latency_ms is not None

    @property
    def rule_ratio(self) -> float | None:
        """The ratio the speed rule judges: the plain-session one where it was timed (latency_ms otherwise)."""
        return self.plain_speed_ratio if self.plain_speed_ratio is not None else self.speed_ratio

    @property
    def gated(self) -> bool:
        """False for a row built but not gated because it cannot win (its `lost` says why)."""
        return self.result is not None and self.role != "reference" and was_gated(self.summary)

    @property
    def size_bytes(self) -> int:
        """The artifact's bytes (0 when nothing was built)."""
        return self.result.size_bytes if self.result is not None else 0

    @property
    def built_size_bytes(self) -> int | None:
        """The artifact's bytes; None when nothing was built (a lower bound where `size_is_floor`)."""
        return self.size_bytes if self.result is not None else None

    @property
    def size_is_floor(self) -> bool:
        """Whether the size is a lower bound: declined before it was built (Handler.size_floor), so x_smaller is an
        upper bound."""
        return self.result is not None and self.result.size_is_floor

    @property
    def speed_rule_judged_on(self) -> str | None:
        """Which session's timings the speed rule judged: "plain session", "edgelstm session", or None (not timed)."""
        if self.plain_speed_ratio is not None:
            return "plain session"
        return "edgelstm session" if self.speed_ratio is not None else None


def _scheme_of(winner: Candidate | None) -> str | None:
    return winner.scheme if winner is not None else None


@dataclass
class SelectionResult:
    """auto's outcome: every row, the winner (or none) and the objective it was picked by. Its JSON is auto.json: the
    winner's scheme, what was published and not, and every row."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("speed_limit_vs_fp32", "why", "published", "not_published")
    JSON_ORDER: ClassVar[tuple[str, ...]] = (
        "winner",
        "objective",
        "speed_limit_vs_fp32",
        "why",
        "published",
        "not_published",
        "candidates",
    )

    candidates: list[Candidate]
    winner: Candidate | None = field(metadata=json_meta(convert=_scheme_of))
    objective: str = "size"

    @property
    def speed_limit_vs_fp32(self) -> float | None:
        """The speed rule's limit (None: size-at-any-cost has none)."""
        return None if self.objective == "size-at-any-cost" else SPEED_LIMIT

    @property
    def published(self) -> str | None:
        """The artifact --out holds as the winner (None: nothing won)."""
        winner = self.winner
        return str(winner.result.path) if winner and winner.result and winner.result.path else None

    @property
    def not_published(self) -> list[str]:
        """The passing others' artifacts kept beside the winner."""
        return [
            str(c.result.path)
            for c in self.candidates
            if c is not self.winner and c.role == "candidate" and c.result is not None and c.result.path is not None
        ]

    @property
    def why(self) -> str:
        """Why the winner won, or why nothing did, in one sentence for the CLI and auto.json."""
        if self.winner is None:
            return "no scheme met the parity budget" + (
                "" if self.objective == "size-at-any-cost" else f" at most {SPEED_LIMIT:g}x slower than the fp32 graph"
            )
        if self.objective == "size-at-any-cost":
            return f"{self.winner.scheme}: the smallest artifact that passed the parity gate, whatever its speed"
        what = "fastest" if self.objective == "speed" else "smallest"
        return (
            f"{self.winner.scheme}: the {what} artifact that passed the parity gate among those at most "
            f"{SPEED_LIMIT:g}x slower than the fp32 graph at batch 1 in a plain ONNX Runtime session"
        )

    @property
    def reference(self) -> Candidate | None:
        """The fp32 row every other row is compared with."""
        return next((c for c in self.candidates if c.role == "reference"), None)


def write_selection(selection: SelectionResult, out_dir: Path, overwrite: bool = False) -> Path:
    """auto's table (every candidate, its numbers and why it lost) saved atomically as `auto.json` in `out_dir`."""
    path = Path(out_dir) / SELECTION_FILE
    write_text_atomic(path, jsonio.dumps(selection) + "\n", overwrite)
    return path
