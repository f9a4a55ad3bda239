"""`--scheme auto`: an artifact that cannot win is listed with the reason, not gated.

The winner is the smallest (objective size) or fastest (speed) passing artifact within the speed rule; under
size-at-any-cost the smallest passing one. Two rows cannot win whatever the gate would say:
- objectives size and size-at-any-cost: an artifact larger than a candidate X that already passed the gate (size:
  and was within the speed rule in an early timing beside the fp32 graph): X beats it on bytes. Declined on its
  size alone, before anything runs it.
- objectives size and speed: an artifact more than CLEARLY_SLOWER x the speed limit slower than the fp32 graph in
  an early timing in a plain ORT session, where the speed rule is judged (after its crash probe): the speed rule refuses it. Near the limit, artifacts are gated and
  judged on the final timing as before.
Such an artifact is built but not gated, so never published; its row says "not gated: cannot win: ...". The
final, interleaved timing re-checks the size premise (`premise_holds`): when X turns out slower than the rule
allows after all, `select_scheme` gates the rows declined for it. Nothing is dropped from the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from edgelstm.quantize.api import Gate, QuantizeResult
from edgelstm.quantize.gate import NOT_GATED, ParityGate

SIZE_OBJECTIVES = ("size", "size-at-any-cost")
SPEED_RULE_OBJECTIVES = ("size", "speed")
# An early timing only declines what is far beyond the speed rule: 2x its limit (2.2x the fp32 latency). Closer
# to the limit one timing could be noise, so those are gated and the final timing decides, as before.
CLEARLY_SLOWER = 2.0


def was_gated(summary: dict[str, Any] | None) -> bool:
    """Whether a gate summary is a real verdict, not a row declined because it could not win."""
    return not (summary or {}).get(NOT_GATED)


class Bar(Protocol):
    """What the rule reads of a candidate (selection_table.Candidate): kept structural, selection imports this module."""

    @property
    def scheme(self) -> str:
        """The row's scheme tag, named in the reason a larger row cannot win."""
        ...

    @property
    def role(self) -> str:
        """candidate, reference or contender: only a published candidate can be the bar."""
        ...

    @property
    def passed(self) -> bool:
        """Whether the row passed the gate (only a passing row can be the bar)."""
        ...

    @property
    def result(self) -> QuantizeResult | None:
        """The row's quantization result, None when it was refused."""
        ...

    @property
    def size_bytes(self) -> int:
        """The row's artifact bytes: a larger artifact cannot beat it on size."""
        ...

    @property
    def latency_ms(self) -> float | None:
        """The row's batch-1 latency in edgelstm's session (None: not timed)."""
        ...

    @property
    def plain_speed_ratio(self) -> float | None:
        """The row's plain-session latency over the fp32 graph's, where the speed rule is judged."""
        ...


@dataclass
class CannotWinGate:
    """The gate, run only on artifacts that can still win."""

    gate: Gate
    objective: str
    speed_limit: float
    # the batch-1 latency of an artifact over the fp32 graph's, from an early interleaved timing of the two
    speed_ratio: Callable[[Path], float | None]
    bar: Bar | None = None  # the smallest candidate so far that passed (and was within the speed rule)
    _last_ratio: float | None = None  # of the artifact gated last: whether it may become the bar

    def decline(self, size_bytes: int, at_least: bool = False) -> dict[str, Any] | None:
        """`at_least`: size_bytes is the scheme's size floor, known before it is built (Handler.size_floor)."""
        if self.bar is None or size_bytes <= self.bar.size_bytes:
            return None
        bar = self.bar
        size = f"at least {size_bytes:,}" if at_least else f"{size_bytes:,}"
        reason = f"cannot win: larger than {bar.scheme} ({size} > {bar.size_bytes:,} bytes), which passed the gate"
        return {"passed": False, NOT_GATED: reason + ("; not built" if at_least else "")}

    def run(self, path: Path) -> dict[str, Any]:
        """Gate the artifact unless it is already known to lose to the bar (then a not-gated summary saying why)."""
        self._last_ratio = None
        if self.objective in SPEED_RULE_OBJECTIVES:
            self._last_ratio = ratio = self.speed_ratio(path)
            if ratio is not None and ratio > CLEARLY_SLOWER * self.speed_limit:
                reason = (
                    f"cannot win: {ratio:.2f}x slower than fp32 at batch 1 in an early timing in a plain session (limit "
                    f"{self.speed_limit:g}x; --objective size-at-any-cost gates and publishes it)"
                )
                return {"passed": False, NOT_GATED: reason}
        return self.gate.run(path)

    def for_ranking(self, windows: int) -> Gate:
        """Mixed's per-layer probes: the plain gate (on fewer windows), never bounded (they rank, they never ship)."""
        return self.gate.for_ranking(windows) if isinstance(self.gate, ParityGate) else self.gate

    def consider(self, candidate: Bar) -> None:
        """The candidate just quantized becomes the bar if it passed, was published, is smaller than the bar and
        (objective size) was within the speed rule in its early timing."""
        ratio, self._last_ratio = self._last_ratio, None
        if self.objective not in SIZE_OBJECTIVES or candidate.role != "candidate" or not candidate.passed:
            return
        if candidate.result is None or candidate.result.path is None:
            return
        if self.bar is not None and candidate.size_bytes >= self.bar.size_bytes:
            return
        if self.objective == "size" and (ratio is None or ratio > self.speed_limit):
            return
        self.bar = candidate


def premise_holds(bar: Bar | None, objective: str, fp32_ms: float | None, speed_limit: float) -> bool:
    """After the final timing: is the candidate the declined rows lost to still within the speed rule (the rule
    pick_winner applies), so that it, or a smaller one, beats each of them?"""
    if bar is None or objective == "size-at-any-cost" or not fp32_ms:
        return True
    if bar.plain_speed_ratio is not None:  # the speed rule is judged in a plain ORT session (issue 19)
        return bar.plain_speed_ratio <= speed_limit
    return bar.latency_ms is not None and bar.latency_ms <= speed_limit * fp32_ms
