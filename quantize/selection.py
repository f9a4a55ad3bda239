"""`--scheme auto`: try every applicable scheme, gate each on parity, keep the smallest (then fastest) that passes."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import onnx

from edgelstm.artifact.foreign import source_metadata
from edgelstm.artifact.hints import InterfaceHints
from edgelstm.artifact.metadata import attach_metadata
from edgelstm.errors import ConfigError, first_line
from edgelstm.files import ensure_writable
from edgelstm.jsonio import to_jsonable
from edgelstm.loading import LoadedModel
from edgelstm.parity import TolerancePolicy
from edgelstm.parity.data import SequenceData
from edgelstm.parity.stream_data import StreamData
from edgelstm.quantize.api import Gate, QuantizeResult, _fp32_source, quantize, quiet_onnxruntime_logs
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
from edgelstm.quantize.gate import ParityGate
from edgelstm.quantize.latency import early_speed_ratio, measure_latencies, plain_ratio
from edgelstm.quantize.mixed import search_mixed
from edgelstm.quantize.pareto import loss_reason, mark_front, pick_winner
from edgelstm.quantize.registry import SchemeRefused
from edgelstm.quantize.selection_table import (
    FP32_ROW,
    OBJECTIVES,
    ORT_DEFAULT_ROW,
    SELECTION_FILE,
    SPEED_LIMIT,
    Candidate,
    Objective,
    SelectionResult,
    write_selection,
)
from edgelstm.quantize.split import DataSplit, split_sequences

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
        bounded = CannotWinGate(gate, objective, SPEED_LIMIT, lambda path: early_speed_ratio(fp32, path, data))
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


def _gated_candidate(config: SchemeConfig, run: Callable[[SchemeConfig], Any]) -> Candidate:
    """One scheme tried: refused (with the reason), or quantized and gated (with the gate's summary)."""
    candidate = Candidate(config.tag)
    try:
        result = run(config)
    except SchemeRefused as exc:
        candidate.refused = str(exc)
        return candidate
    candidate.result = result
    candidate.summary = result.parity or {}
    candidate.passed = bool(result.parity_passed)
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
    """The schemes auto tries on a graph made elsewhere, in order, GPTQ-rounded rows after the plain ones."""
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
    candidate.details = to_jsonable(mixed)
    candidate.result = mixed.result
    if mixed.result is None:
        candidate.refused = "mixed refused: no layer survives quantization alone within the budget"
        return candidate
    candidate.summary = mixed.result.parity or {}
    candidate.passed = bool(mixed.result.parity_passed)
    return candidate


def _unquantized_result(source: Path, path: Path, source_bytes: int) -> QuantizeResult:
    """The fp32 row's result: the float graph itself, unquantized."""
    return QuantizeResult(FP32_ROW, {}, str(source), source_bytes, path=path, size_bytes=path.stat().st_size, impl="fp32")


def _fp32_candidate(reference: LoadedModel, data: SequenceData, tmp: Path) -> Candidate:
    """The float graph the weight-only schemes start from (fused where the model allows), built by quantize's own
    fp32 export so the row is the graph a user would otherwise ship."""
    path, metadata = _fp32_source(reference, WeightOnlyInt8Config(), tmp, data)
    result = _unquantized_result(Path(str(reference.origin)), path, path.stat().st_size)
    result.impl = metadata.interface.impl
    return Candidate(FP32_ROW, result, passed=True, role="reference")


def ort_default_contender(model: Path, hints: InterfaceHints, gate: Gate, tmp: Path) -> Candidate:
    """ONNX Runtime's `quantize_dynamic` with its defaults, gated like the rest: shown beside, never published."""
    from onnxruntime.quantization import quantize_dynamic

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
