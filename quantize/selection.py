"""`--scheme auto`: try every applicable scheme, gate each on parity, keep the smallest (then fastest) that passes."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx

from edgelstm import jsonio
from edgelstm.artifact.hints import InterfaceHints
from edgelstm.artifact.session import SessionSettings, session_from_onnx
from edgelstm.errors import ConfigError, first_line
from edgelstm.files import ensure_writable, write_text_atomic
from edgelstm.loading import LoadedModel
from edgelstm.parity import TolerancePolicy
from edgelstm.parity.data import SequenceData
from edgelstm.parity.stream_data import StreamData
from edgelstm.quantize.api import Gate, QuantizeResult, quantize
from edgelstm.quantize.cannot_win import CannotWinGate, premise_holds, was_gated
from edgelstm.quantize.config import (
    SCHEMES,
    DynamicInt8Config,
    Fp16Config,
    Int4Config,
    SchemeConfig,
    StaticInt8Config,
    WeightOnlyInt4Config,
    WeightOnlyInt8Config,
)
from edgelstm.quantize.gate import NOT_GATED, ParityGate
from edgelstm.quantize.mixed import search_mixed
from edgelstm.quantize.registry import SchemeRefused
from edgelstm.quantize.split import DataSplit, split_sequences
from edgelstm.timing import TimerSettings, time_interleaved

Objective = Literal["size", "speed", "size-at-any-cost"]
OBJECTIVES: tuple[str, ...] = ("size", "speed", "size-at-any-cost")
# A published artifact may be at most this much slower than the float graph at batch 1 (issue 11): a smaller file
# that makes every inference slower is no win on a device (int8 GRU Loop graphs were 5x slower than fused fp32).
SPEED_LIMIT = 1.1
FP32_ROW = "fp32"
ORT_DEFAULT_ROW = "ort-quantize-dynamic"
# auto's Pareto table as JSON, beside the artifacts it published: `edgelstm report` shows it from there.
SELECTION_FILE = "auto.json"


@dataclass
class Candidate:
    scheme: str
    result: QuantizeResult | None = None
    refused: str = ""
    passed: bool = False
    latency_ms: float | None = None  # batch 1, median, 1 thread; None: not timed (never written)
    summary: dict[str, Any] = field(default_factory=dict)
    role: str = "candidate"  # candidate | reference (the fp32 graph) | contender (shown beside, never published)
    on_front: bool = False  # on the size/latency Pareto front of the passing rows
    lost: str = ""  # why it is not the winner, in words; "" for the winner
    speed_ratio: float | None = None  # latency / fp32 latency
    size_ratio: float | None = None  # fp32 bytes / bytes ("x smaller")
    # Issue 19: batch-1 medians in a plain ORT session (InferenceSession(path): ORT's defaults, no session entry),
    # at ORT's default threads and at 1 thread, timed in the same interleaved run; the speed rule is judged on them.
    plain_latency_ms: float | None = None
    plain_1thread_latency_ms: float | None = None
    plain_speed_ratio: float | None = None  # the worse of the two plain latencies over the fp32 graph's
    details: dict[str, Any] = field(default_factory=dict)  # scheme-specific tables (mixed: per-layer sensitivity)

    @property
    def timed(self) -> bool:
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
        return self.result.size_bytes if self.result is not None else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "role": self.role,
            "refused": self.refused,
            "passed": self.passed,
            "gated": self.gated,
            "size_bytes": self.size_bytes if self.result is not None else None,
            # a lower bound: declined before it was built (Handler.size_floor), so x_smaller is an upper bound
            "size_is_floor": self.result is not None and self.result.size_is_floor,
            "x_smaller": self.size_ratio,
            # None: not timed (failed the gate, so never written), rather than a 0.0 that reads as a measurement
            "latency_ms_batch1": self.latency_ms,
            "latency_vs_fp32": self.speed_ratio,
            "plain_session": {
                "latency_ms_batch1": self.plain_latency_ms,
                "latency_ms_batch1_1thread": self.plain_1thread_latency_ms,
                "latency_vs_fp32": self.plain_speed_ratio,
            },
            "speed_rule_judged_on": (
                "plain session"
                if self.plain_speed_ratio is not None
                else "edgelstm session"
                if self.speed_ratio is not None
                else None  # not timed
            ),
            "on_front": self.on_front,
            "lost": self.lost,
            "summary": self.summary,
            "details": self.details,
            "result": self.result.to_dict() if self.result else None,
        }


@dataclass
class SelectionResult:
    candidates: list[Candidate]
    winner: Candidate | None
    objective: str = "size"

    @property
    def why(self) -> str:
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
        return next((c for c in self.candidates if c.role == "reference"), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "winner": self.winner.scheme if self.winner else None,
            "objective": self.objective,
            "speed_limit_vs_fp32": None if self.objective == "size-at-any-cost" else SPEED_LIMIT,
            "why": self.why,
            # what --out holds and what each file is: the one published, the passing others kept beside it
            "published": str(self.winner.result.path) if self.winner and self.winner.result and self.winner.result.path else None,
            "not_published": [
                str(c.result.path)
                for c in self.candidates
                if c is not self.winner and c.role == "candidate" and c.result is not None and c.result.path is not None
            ],
            "candidates": [c.to_dict() for c in self.candidates],
        }


DEFAULT_SCHEMES: tuple[SchemeConfig, ...] = (
    DynamicInt8Config(),
    WeightOnlyInt8Config(),
    # Error-compensating rounding and blocks where outliers sit: the same bytes (plus a few scales), calibrated on
    # rows the gate does not judge (quantize.split).
    WeightOnlyInt8Config(rounding="gptq", granularity="auto"),
    WeightOnlyInt4Config(),
    Int4Config(),
    StaticInt8Config(),
    Fp16Config(),
)


def check_artifact(
    result: QuantizeResult,
    reference: LoadedModel,
    data: SequenceData | None,
    policy: TolerancePolicy,
    gate: ParityGate | None = None,
) -> dict[str, Any]:
    """Gate an already written artifact and record the verdict on its result. `gate`: the one a caller checks
    several artifacts with (made for `reference`, `data` and `policy`), so the torch reference runs once."""
    if result.path is None:
        raise ValueError(f"check_artifact: the {result.scheme} result was not written, so there is nothing to check")
    if gate is None:
        gate = ParityGate(reference, data, policy)
    elif gate.reference is not reference or gate.data is not data or gate.policy is not policy:
        raise ValueError("check_artifact: `gate` was made for another model, data or budget")
    summary = gate.run(result.path)
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
    objective: Objective = "size",
    mixed: bool = True,
    source: Path | None = None,
    ort_format: bool = False,
) -> SelectionResult:
    """Every scheme tried on an edgelstm model, gated, timed beside the fp32 graph; the winner per `objective`.

    `source`: an ONNX file exported from `reference` (a user module's torch.onnx graph): quantized as it is, and
    itself the fp32 row; otherwise each scheme exports the checkpoint in the form it suits.
    `ort_format`: the winner must also load in ORT format (ORT Mobile); a candidate that does not cannot win."""
    ensure_writable(Path(out_dir) / SELECTION_FILE, overwrite)  # known before a minute of work, not after
    # No sequence both calibrates (static-int8's ranges, GPTQ's statistics) and gates: every third row calibrates.
    calibration, gated, split = split_sequences(data)
    gate = ParityGate(reference, gated, policy, ort_format=ort_format)
    model: LoadedModel | Path = source if source is not None else reference
    with tempfile.TemporaryDirectory(prefix="edgelstm-auto-fp32-") as tmp:
        if source is not None:
            fp32 = Candidate(FP32_ROW, _unquantized_result(source, source, source.stat().st_size), passed=True, role="reference")
        else:
            fp32 = _fp32_candidate(reference, data, Path(tmp))
        # Built first: candidates are timed beside it early, to know which cannot win (quantize/cannot_win.py).
        bounded = CannotWinGate(gate, objective, SPEED_LIMIT, lambda path: _speed_ratio(fp32, path, data))
        block = next((c.block_size for c in schemes if isinstance(c, WeightOnlyInt4Config)), 32)

        def attempt(config: SchemeConfig | None, judge: Gate) -> Candidate:
            """One row: a scheme (None: mixed) quantized and judged by `judge`."""
            if config is None:
                return mixed_candidate(model, judge, out_dir, calibration, None, objective, block, overwrite)
            return _gated_candidate(
                config,
                lambda c: quantize(model, c, out_dir, calibration=calibration, overwrite=overwrite, gate=judge, data_split=split),
            )

        candidates, tried = _try_schemes(schemes, bounded, reference, attempt)
        if mixed:
            candidates.append(attempt(None, bounded))
            tried.append(None)
        measure_latencies([c for c in [fp32, *candidates] if c.result is not None and c.result.path is not None], data)
        for row in (fp32, *candidates):
            row.plain_speed_ratio = plain_ratio(row, fp32)
        timed = premise_holds(bounded.bar, objective, fp32.latency_ms, SPEED_LIMIT)
        if not timed:
            # The row the declined ones lost to is over the speed rule after all: they could win, so gate them now
            # (the plain gate); finish_selection then times every row together again.
            for index, candidate in enumerate(candidates):
                if candidate.result is not None and not was_gated(candidate.summary):
                    candidates[index] = attempt(tried[index], gate)
        selection = finish_selection(fp32, candidates, data, None, objective, timed=timed)
    write_selection(selection, Path(out_dir), overwrite)
    return selection


def _try_schemes(
    schemes: tuple[SchemeConfig, ...],
    gate: CannotWinGate,
    reference: LoadedModel,
    attempt: Callable[[SchemeConfig | None, Gate], Candidate],
) -> tuple[list[Candidate], list[SchemeConfig | None]]:
    """Each scheme quantized and gated in order (and dynamic int8's exclusions when it fails the gate); the rows
    and the config each came from. A passing row may become the bar the later, larger ones are not gated under."""
    candidates: list[Candidate] = []
    tried: list[SchemeConfig | None] = []
    queue = list(schemes)
    while queue:
        config = queue.pop(0)
        candidate = attempt(config, gate)  # failed candidates stay out of out_dir; their numbers are in the report
        candidates.append(candidate)
        tried.append(config)
        gate.consider(candidate)
        failed = candidate.result is not None and not candidate.passed and was_gated(candidate.summary)
        if failed and not getattr(config, "exclude", ()):
            # An exclusion keeps a part in float: larger, so only worth trying when the gate itself failed it.
            queue[0:0] = exclusion_variants(config, reference)
    return candidates, tried


def _speed_ratio(fp32: Candidate, path: Path, data: SequenceData) -> float | None:
    """An artifact's batch-1 latency over the fp32 graph's in an early interleaved timing of the two (the artifact
    crash-probed already). The table shows the final timing of every published row together instead."""
    pair = [replace(fp32), Candidate(path.name, QuantizeResult(path.name, {}, str(path), 0, path=path))]
    measure_latencies(pair, data)
    plain = plain_ratio(pair[1], pair[0])  # the speed rule is judged in a plain session
    if plain is not None:
        return plain
    fp32_ms, ms = pair[0].latency_ms, pair[1].latency_ms
    return ms / fp32_ms if ms is not None and fp32_ms else None


def write_selection(selection: SelectionResult, out_dir: Path, overwrite: bool = False) -> Path:
    """auto's table (every candidate, its numbers and why it lost) saved atomically as `auto.json` in `out_dir`."""
    path = Path(out_dir) / SELECTION_FILE
    write_text_atomic(path, jsonio.dumps(selection.to_dict()) + "\n", overwrite)
    return path


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
# compute (and so the speed of fused LSTM/Conv kernels); dynamic int8 is the next candidate.
# GPTQ rounding (with blocks where outliers sit, for int8) is calibrated on a stream apart from the gate's.
FOREIGN_SCHEMES: tuple[str, ...] = ("weight-only-int8", "weight-only-int4", "dynamic-int8")
FOREIGN_ROUNDED: tuple[SchemeConfig, ...] = (
    WeightOnlyInt8Config(rounding="gptq", granularity="auto"),
    WeightOnlyInt4Config(rounding="gptq"),
)


def foreign_schemes() -> tuple[SchemeConfig, ...]:
    plain = tuple(SCHEMES[name]() for name in FOREIGN_SCHEMES if name in SCHEMES)
    return plain[:2] + FOREIGN_ROUNDED + plain[2:]


def select_foreign_scheme(
    model: Path,
    hints: InterfaceHints,
    gate: Gate,
    out_dir: Path,
    schemes: tuple[SchemeConfig, ...] | None = None,
    overwrite: bool = False,
    objective: Objective = "size",
    mixed: bool = True,
    calibration_stream: StreamData | None = None,
    data_split: DataSplit | None = None,
) -> SelectionResult:
    """`--scheme auto` on an ONNX graph made elsewhere: every applicable scheme, gated against the ONNX reference
    (streamed, decisions compared), timed beside the fp32 file and ORT's default `quantize_dynamic`; the winner
    picked as for edgelstm's own graphs. `mixed`: the per-layer search is a candidate too.
    `calibration_stream`: what GPTQ calibrates on (never the gate's stream); without it the GPTQ rows are refused."""
    ensure_writable(Path(out_dir) / SELECTION_FILE, overwrite)
    candidates = [
        _gated_candidate(
            config,
            lambda c: quantize(
                model,
                c,
                out_dir,
                overwrite=overwrite,
                gate=gate,
                foreign=hints,
                calibration_stream=calibration_stream,
                data_split=data_split,
            ),
        )
        for config in schemes or foreign_schemes()
    ]
    if mixed:
        candidates.append(
            mixed_candidate(
                model, gate, out_dir, None, hints, objective, overwrite=overwrite, calibration_stream=calibration_stream
            )
        )
    with tempfile.TemporaryDirectory(prefix="edgelstm-auto-ort-") as tmp:
        size = model.stat().st_size
        fp32 = Candidate(FP32_ROW, _unquantized_result(model, model, size), passed=True, role="reference")
        candidates.append(ort_default_contender(model, hints, gate, Path(tmp)))
        selection = finish_selection(fp32, candidates, None, hints, objective)
    write_selection(selection, Path(out_dir), overwrite)
    return selection


def mixed_candidate(
    model: LoadedModel | Path,
    gate: Gate,
    out_dir: Path,
    data: SequenceData | None = None,
    foreign: InterfaceHints | None = None,
    objective: Objective = "size",
    block_size: int = 32,
    overwrite: bool = False,
    calibration_stream: StreamData | None = None,
) -> Candidate:
    """The mixed-precision search as one row: its published mix (or why none passed) and its per-layer table.
    Its mixes are rounded by GPTQ where there is calibration data (`data` or `calibration_stream`)."""
    candidate = Candidate("mixed")
    rounding = "gptq" if (data is not None or calibration_stream is not None) else "nearest"
    try:
        mixed = search_mixed(
            model,
            gate,
            out_dir,
            data,
            foreign,
            objective,
            block_size=block_size,
            overwrite=overwrite,
            rounding=rounding,
            calibration_stream=calibration_stream,
        )
    except SchemeRefused as exc:
        candidate.refused = str(exc)
        return candidate
    candidate.details = mixed.to_dict()
    candidate.result = mixed.result
    if mixed.result is None:
        candidate.refused = "mixed refused: no layer survives quantization alone within the budget"
        return candidate
    candidate.summary = mixed.result.parity or {}
    candidate.passed = bool(mixed.result.parity_passed)
    return candidate


def _unquantized_result(source: Path, path: Path, source_bytes: int) -> QuantizeResult:
    return QuantizeResult(FP32_ROW, {}, str(source), source_bytes, path=path, size_bytes=path.stat().st_size, impl="fp32")


def _fp32_candidate(reference: LoadedModel, data: SequenceData, tmp: Path) -> Candidate:
    """The float graph the weight-only schemes start from (fused where the model allows), built by quantize's own
    fp32 export so the row is the graph a user would otherwise ship."""
    from edgelstm.quantize.api import _fp32_source

    path, metadata = _fp32_source(reference, WeightOnlyInt8Config(), tmp, data)
    result = _unquantized_result(Path(str(reference.origin)), path, path.stat().st_size)
    result.impl = metadata.interface.impl
    return Candidate(FP32_ROW, result, passed=True, role="reference")


def ort_default_contender(model: Path, hints: InterfaceHints, gate: Gate, tmp: Path) -> Candidate:
    """ONNX Runtime's `quantize_dynamic` with its defaults, gated like the rest: shown beside, never published."""
    from onnxruntime.quantization import quantize_dynamic

    from edgelstm.artifact.foreign import source_metadata
    from edgelstm.artifact.metadata import attach_metadata
    from edgelstm.quantize.api import quiet_onnxruntime_logs

    candidate = Candidate(ORT_DEFAULT_ROW, role="contender")
    target = tmp / f"{model.stem}.{ORT_DEFAULT_ROW}.onnx"
    try:
        with quiet_onnxruntime_logs():
            quantize_dynamic(str(model), str(target))
        graph = onnx.load(str(target))
    except Exception as exc:  # ORT's quantizer raises bare errors per unsupported pattern; the row says which
        candidate.refused = f"ORT quantize_dynamic failed: {first_line(exc)}"
        return candidate
    attach_metadata(graph, source_metadata(model, hints))
    onnx.save(graph, str(target))
    result = QuantizeResult(ORT_DEFAULT_ROW, {}, str(model), model.stat().st_size, size_bytes=target.stat().st_size)
    result.impl = "ort"
    result.parity = candidate.summary = gate.run(target)
    result.parity_passed = candidate.passed = bool(result.parity["passed"])
    result.path = target  # in a temporary directory: timed, then forgotten
    candidate.result = result
    return candidate


def finish_selection(
    fp32: Candidate,
    candidates: list[Candidate],
    data: SequenceData | None,
    hints: InterfaceHints | None,
    objective: Objective,
    timed: bool = False,
) -> SelectionResult:
    """Time every written row beside the fp32 graph (`timed`: the caller just did, all together), unpublish what
    breaks the speed rule, pick the winner, mark the Pareto front and say why each other row lost. Rows in
    temporary directories forget their paths."""
    if objective not in OBJECTIVES:
        raise ConfigError(f"objective {objective!r}: choose {', '.join(OBJECTIVES)}")
    rows = [fp32, *candidates]
    if not timed:
        measure_latencies([c for c in rows if c.result is not None and c.result.path is not None], data, hints)
    fp32_ms = fp32.latency_ms
    for row in rows:
        if row.result is not None and row.size_bytes:
            row.size_ratio = fp32.size_bytes / row.size_bytes
        if row.latency_ms is not None and fp32_ms:
            row.speed_ratio = row.latency_ms / fp32_ms
        row.plain_speed_ratio = plain_ratio(row, fp32)
    if objective != "size-at-any-cost":
        for row in candidates:
            ratio = row.rule_ratio
            if row.role == "candidate" and row.passed and ratio is not None and ratio > SPEED_LIMIT:
                _unpublish(row)
                where = "in a plain ONNX Runtime session" if row.plain_speed_ratio is not None else "at 1 thread"
                row.lost = (
                    f"refused: {ratio:.2f}x slower than fp32 at batch 1 {where} (limit {SPEED_LIMIT:g}x; "
                    "--objective size-at-any-cost publishes it)"
                )
    winner = pick_winner(candidates, objective, fp32_ms)
    mark_front(rows)
    for row in rows:
        if row is not winner and not row.lost:
            row.lost = loss_reason(row, winner, objective)
    for row in rows:
        if row.role != "candidate" and row.result is not None:
            row.result.path = None  # the fp32 export and ORT's contender lived in a temporary directory
    return SelectionResult(rows, winner, objective)


def _unpublish(candidate: Candidate) -> None:
    """Remove an artifact this selection wrote but must not ship (the speed rule); its numbers stay in the row."""
    assert candidate.result is not None and candidate.result.path is not None
    path = candidate.result.path
    for written in (path, path.with_suffix(".quant.json")):
        written.unlink(missing_ok=True)
    candidate.result.path = None


def _batch1_feeds(path: Path, data: SequenceData | None, hints: InterfaceHints | None = None) -> dict[str, np.ndarray]:
    """One batch-1 call: the first sequence of the data, or (a foreign streaming graph) one chunk of zeros with
    its constants and initial state, from the one feed builder."""
    from edgelstm.artifact.feeds import data_shape, sequence_feeds
    from edgelstm.artifact.file import open_artifact

    interface = open_artifact(path, hints).interface
    if data is not None:
        return sequence_feeds(interface, data.x[:1], None, str(path))
    x = np.zeros(data_shape(interface, 1), np.dtype(interface.data_input.dtype))
    return sequence_feeds(interface, x, None, str(path))


# The sessions each artifact is timed in, all in one interleaved run: edgelstm's (1 thread, no spinning: latency_ms)
# and two plain ones (ORT's defaults: its thread pool, spinning on; and the same at 1 thread).
TIMED_SESSIONS = (SessionSettings(intra_op_threads=1), SessionSettings.ort_defaults(0), SessionSettings.ort_defaults(1))


def measure_latencies(
    candidates: list[Candidate],
    data: SequenceData | None,
    hints: InterfaceHints | None = None,
    rounds: int = 7,
    calls: int = 10,
) -> None:
    """Batch-1 latency of each artifact in each of TIMED_SESSIONS, interleaved round by round so machine noise hits
    all alike; median."""
    workloads, busy = [], []
    for candidate in candidates:
        assert candidate.result is not None and candidate.result.path is not None
        feeds = _batch1_feeds(candidate.result.path, data, hints)
        for settings in TIMED_SESSIONS:
            session = session_from_onnx(candidate.result.path, settings)
            names = {i.name for i in session.get_inputs()}
            own = {k: v for k, v in feeds.items() if k in names}
            workloads.append(lambda s=session, f=own: s.run(None, f))
            busy.append(settings.allow_spinning and settings.intra_op_threads != 1)  # ORT's pool spins after a run
    timings = time_interleaved(workloads, TimerSettings(rounds=rounds, calls_per_round=calls, warmup_calls=1), busy)
    for index, candidate in enumerate(candidates):
        own_timings = timings[index * len(TIMED_SESSIONS) : (index + 1) * len(TIMED_SESSIONS)]
        candidate.latency_ms, candidate.plain_latency_ms, candidate.plain_1thread_latency_ms = (t.p50_ms for t in own_timings)


def plain_ratio(row: Candidate, fp32: Candidate) -> float | None:
    """The worse of the row's two plain-session latencies over the fp32 graph's in the same session: the speed rule
    holds for a user who loads the file with ORT's defaults, or at 1 thread. None when either was not timed."""
    pairs = [(row.plain_latency_ms, fp32.plain_latency_ms), (row.plain_1thread_latency_ms, fp32.plain_1thread_latency_ms)]
    ratios = []
    for ms, base in pairs:
        if ms is None or not base:
            return None
        ratios.append(ms / base)
    return max(ratios)


# Latencies within this factor of each other count as the same speed when a row's loss is put in words.
EQUAL_SPEED = 1.1


def pick_winner(candidates: list[Candidate], objective: Objective = "size", fp32_ms: float | None = None) -> Candidate | None:
    """The smallest (objective size) or fastest (speed) published passing artifact at most SPEED_LIMIT x slower
    than the fp32 graph; size-at-any-cost: the smallest passing one, whatever its speed. Ties go to the faster
    (size) or the smaller (speed)."""
    passing = [c for c in candidates if c.role == "candidate" and c.passed and c.result is not None and c.latency_ms is not None]
    if objective != "size-at-any-cost" and fp32_ms:
        passing = [c for c in passing if within_speed_rule(c, fp32_ms)]
    if not passing:
        return None
    if objective == "speed":
        return min(passing, key=lambda c: (c.latency_ms or 0.0, c.size_bytes))
    return min(passing, key=lambda c: (c.size_bytes, c.latency_ms or 0.0))


def within_speed_rule(row: Candidate, fp32_ms: float | None) -> bool:
    """At most SPEED_LIMIT x the fp32 graph: in a plain ORT session where both were timed there (issue 19: what a
    user's app gets), else in edgelstm's 1-thread session."""
    if row.plain_speed_ratio is not None:
        return row.plain_speed_ratio <= SPEED_LIMIT
    if row.latency_ms is None or not fp32_ms:
        return False
    return row.latency_ms <= SPEED_LIMIT * fp32_ms


def mark_front(rows: list[Candidate]) -> None:
    """On the front: a passing, timed row no other passing row beats on both bytes and latency."""
    timed = [r for r in rows if r.passed and r.result is not None and r.latency_ms is not None]
    for row in timed:
        row.on_front = not any(_dominates(other, row) for other in timed if other is not row)


def _dominates(a: Candidate, b: Candidate) -> bool:
    assert a.latency_ms is not None and b.latency_ms is not None
    no_worse = a.size_bytes <= b.size_bytes and a.latency_ms <= b.latency_ms
    return no_worse and (a.size_bytes < b.size_bytes or a.latency_ms < b.latency_ms)


def loss_reason(row: Candidate, winner: Candidate | None, objective: Objective) -> str:
    """Why `row` is not the winner, in words a user can act on."""
    if row.refused:
        return "refused: " + row.refused.split(" refused: ", 1)[-1]
    if not was_gated(row.summary):
        return f"not gated: {row.summary[NOT_GATED]}"
    if not row.passed:
        failures = row.summary.get("failures") or []
        # the data could not resolve a budget: not the artifact's failure, and not a pass either
        first = failures[0] if failures else "see its parity summary"
        if row.summary.get("verdict") == "inconclusive":
            return "gate inconclusive: " + first.removeprefix("inconclusive: ")
        return "failed the gate: " + first
    prefix = "ORT's default quantize_dynamic, shown for comparison; " if row.role == "contender" else ""
    if winner is None:
        return prefix + (
            "the float graph: no quantized artifact met the budget and the speed rule"
            if row.role == "reference"
            else "not picked"
        )
    if winner.result is None or row.latency_ms is None or winner.latency_ms is None:
        return prefix + f"not picked ({winner.scheme} won)"
    times = row.size_bytes / winner.size_bytes if winner.size_bytes else 0.0
    speed = row.latency_ms / winner.latency_ms if winner.latency_ms else 0.0
    if row.role == "reference":
        return f"the float graph: {winner.scheme} is {times:.2f}x smaller" + (
            "" if objective == "size-at-any-cost" else f" within {SPEED_LIMIT:g}x of its speed"
        )
    if objective == "speed":
        if speed > 1.0:
            return prefix + f"{speed:.2f}x the latency of {winner.scheme}"
        return prefix + f"as fast as {winner.scheme} but {times:.2f}x its bytes"
    if times > 1.0:
        if speed > EQUAL_SPEED:
            return prefix + f"larger ({times:.2f}x the bytes) and {speed:.2f}x slower than {winner.scheme}"
        if speed >= 1 / EQUAL_SPEED:
            return prefix + f"larger than {winner.scheme} ({times:.2f}x the bytes) at equal speed"
        return (
            prefix
            + f"larger than {winner.scheme} ({times:.2f}x the bytes); faster ({speed:.2f}x its latency), but the objective is size"
        )
    return prefix + f"as small as {winner.scheme} but {speed:.2f}x its latency"
