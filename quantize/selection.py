"""`--scheme auto`: try every applicable scheme, gate each on parity, keep the smallest (then fastest) that passes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgelstm.loading import LoadedModel
from edgelstm.parity import TolerancePolicy
from edgelstm.parity.data import SequenceData
from edgelstm.quantize.api import Gate, QuantizeResult, SchemeRefused, quantize
from edgelstm.quantize.config import (
    SCHEMES,
    DynamicInt8Config,
    Fp16Config,
    Int4Config,
    SchemeConfig,
    StaticInt8Config,
)
from edgelstm.quantize.gate import ParityGate
from edgelstm.runtime import SessionSettings, session_from_onnx
from edgelstm.timing import TimerSettings, time_interleaved

if TYPE_CHECKING:
    from edgelstm.onnx_interface import InterfaceHints


@dataclass
class Candidate:
    scheme: str
    result: QuantizeResult | None = None
    refused: str = ""
    passed: bool = False
    latency_ms: float = 0.0  # batch 1, median, 1 thread
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "refused": self.refused,
            "passed": self.passed,
            # None: not timed (failed the gate, so never written), rather than a 0.0 that reads as a measurement
            "latency_ms_batch1": self.latency_ms if self.result is not None and self.result.path is not None else None,
            "summary": self.summary,
            "result": self.result.to_dict() if self.result else None,
        }


@dataclass
class SelectionResult:
    candidates: list[Candidate]
    winner: Candidate | None

    @property
    def why(self) -> str:
        if self.winner is None:
            return "no scheme met the parity budget"
        return (
            f"{self.winner.scheme}: the smallest artifact that passed the parity gate among those at most "
            f"{SLOWDOWN_LIMIT:g}x slower than the fastest passing one"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "winner": self.winner.scheme if self.winner else None,
            "why": self.why,
            "candidates": [c.to_dict() for c in self.candidates],
        }


DEFAULT_SCHEMES: tuple[SchemeConfig, ...] = (DynamicInt8Config(), Int4Config(), StaticInt8Config(), Fp16Config())


def check_artifact(
    result: QuantizeResult, reference: LoadedModel, data: SequenceData | None, policy: TolerancePolicy
) -> dict[str, Any]:
    """Gate an already written artifact and record the verdict on its result."""
    assert result.path is not None
    summary = ParityGate(reference, data, policy).run(result.path)
    result.parity, result.parity_passed = summary, bool(summary["passed"])
    return summary


def exclusion_variants(config: SchemeConfig, reference: LoadedModel) -> list[SchemeConfig]:
    """When dynamic int8 misses the budget, the same scheme with one sensitive part kept in float: the head
    (logits), or one recurrent layer (the first sees raw input ranges)."""
    if not isinstance(config, DynamicInt8Config) or reference.config is None:
        return []
    parts = ["head"] + [f"layer{k}" for k in range(reference.config.num_layers)]
    return [replace(config, exclude=(part,)) for part in parts]


def select_scheme(
    reference: LoadedModel,
    data: SequenceData,
    out_dir: Path,
    policy: TolerancePolicy,
    schemes: tuple[SchemeConfig, ...] = DEFAULT_SCHEMES,
    overwrite: bool = False,
) -> SelectionResult:
    candidates = []
    gate = ParityGate(reference, data, policy)
    queue = list(schemes)
    while queue:
        config = queue.pop(0)
        # Failed candidates stay out of out_dir; their numbers are in the report.
        candidate = _gated_candidate(
            config, lambda c: quantize(reference, c, out_dir, calibration=data, overwrite=overwrite, gate=gate)
        )
        candidates.append(candidate)
        if candidate.result is not None and not candidate.passed and not getattr(config, "exclude", ()):
            queue[0:0] = exclusion_variants(config, reference)
    measure_latencies([c for c in candidates if c.result is not None and c.result.path is not None], data)
    return SelectionResult(candidates, pick_winner(candidates))


def _gated_candidate(config: SchemeConfig, run: Callable[[SchemeConfig], Any]) -> Candidate:
    """One scheme tried: refused (with the reason), or quantized and gated (with the gate's summary)."""
    candidate = Candidate(config.tag)
    try:
        candidate.result = run(config)
    except SchemeRefused as exc:
        candidate.refused = str(exc)
        return candidate
    candidate.summary = candidate.result.parity or {}
    candidate.passed = bool(candidate.result.parity_passed)
    return candidate


# Schemes tried on a graph made elsewhere, in order; those not registered (yet) are skipped. weight-only keeps float
# compute (and so the speed of fused LSTM/Conv kernels); dynamic int8 is the second candidate.
FOREIGN_SCHEMES: tuple[str, ...] = ("weight-only-int8", "dynamic-int8")


def foreign_schemes() -> tuple[SchemeConfig, ...]:
    return tuple(SCHEMES[name]() for name in FOREIGN_SCHEMES if name in SCHEMES)


def select_foreign_scheme(
    model: Path,
    hints: InterfaceHints,
    gate: Gate,
    out_dir: Path,
    schemes: tuple[SchemeConfig, ...] | None = None,
    overwrite: bool = False,
) -> SelectionResult:
    """`--scheme auto` on an ONNX graph made elsewhere: every applicable scheme, gated against the ONNX reference
    (streamed, decisions compared), the smallest passing artifact picked as for edgelstm's own graphs."""
    candidates = [
        _gated_candidate(config, lambda c: quantize(model, c, out_dir, overwrite=overwrite, gate=gate, foreign=hints))
        for config in schemes or foreign_schemes()
    ]
    measure_latencies([c for c in candidates if c.result is not None and c.result.path is not None], None)
    return SelectionResult(candidates, pick_winner(candidates))


def _batch1_feeds(path: Path, data: SequenceData | None) -> dict[str, np.ndarray]:
    """One batch-1 call: the first sequence of the data, or (a foreign streaming graph) one chunk of zeros with
    its constants and initial state, from the one feed builder."""
    from edgelstm.parity.artifacts import data_shape, open_artifact, sequence_feeds

    interface = open_artifact(path).interface
    if data is not None:
        return sequence_feeds(interface, data.x[:1], None, str(path))
    x = np.zeros(data_shape(interface, 1), np.dtype(interface.data_input.dtype))
    return sequence_feeds(interface, x, None, str(path))


def measure_latencies(candidates: list[Candidate], data: SequenceData | None, rounds: int = 7, calls: int = 10) -> None:
    """Batch-1 latency of each artifact, interleaved round by round so machine noise hits all alike; median."""
    workloads = []
    for candidate in candidates:
        assert candidate.result is not None and candidate.result.path is not None
        session = session_from_onnx(candidate.result.path, SessionSettings(intra_op_threads=1))
        names = {i.name for i in session.get_inputs()}
        own = {k: v for k, v in _batch1_feeds(candidate.result.path, data).items() if k in names}
        workloads.append(lambda s=session, f=own: s.run(None, f))
    timings = time_interleaved(workloads, TimerSettings(rounds=rounds, calls_per_round=calls, warmup_calls=1))
    for candidate, timing in zip(candidates, timings, strict=True):
        candidate.latency_ms = timing.p50_ms


SLOWDOWN_LIMIT = 2.0


def pick_winner(candidates: list[Candidate]) -> Candidate | None:
    """Smallest passing artifact, among those at most 2x slower than the fastest passing one: a few percent of
    bytes is no win on a device if every inference costs twice the time (int4 MatMulNBits was 25x slower than
    int8 on the reference model for 10 % fewer bytes). Ties go to the faster."""
    passing = [c for c in candidates if c.passed and c.result is not None]
    if not passing:
        return None
    fastest = min(c.latency_ms for c in passing)
    eligible = [c for c in passing if c.latency_ms <= SLOWDOWN_LIMIT * fastest]
    return min(eligible, key=lambda c: (c.result.size_bytes if c.result else 0, c.latency_ms))
