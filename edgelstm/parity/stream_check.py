"""The streaming parity gate for a graph that carries state (e.g. silero-vad): the artifact and its reference are
both fed the same signal chunk by chunk, each carrying its own state, and compared on what the app decides.

Gated: decisions flipped at a threshold on the probability output and the largest |delta p|. Reported for every
output: error against chunk index, because a recurrent graph's error can grow with stream length, which a
one-call comparison never shows.
"""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgelstm.artifact.child import crash_reason
from edgelstm.artifact.chunks import run_in_chunks
from edgelstm.artifact.feeds import sequence_feeds
from edgelstm.artifact.file import ArtifactInfo, open_artifact
from edgelstm.artifact.hints import InterfaceHints
from edgelstm.artifact.interface import GraphInterface
from edgelstm.artifact.layout import caller_shape, graph_feeds
from edgelstm.artifact.runners import NotApplicable, OrtFormatError, open_runner
from edgelstm.artifact.session import ProviderError
from edgelstm.errors import ConfigError, InputShapeError, first_line
from edgelstm.jsonio import to_jsonable
from edgelstm.parity.reference import OnnxReference, Reference
from edgelstm.parity.report import TimeProfile
from edgelstm.parity.speech_corpus import DEFAULT_SECONDS, builtin_speech
from edgelstm.parity.stream_data import StreamData, chunk_kinds, load_stream_data
from edgelstm.parity.stream_flips import budget_failures, flip_evidence, flips_and_delta
from edgelstm.parity.stream_verdict import StreamCandidate, StreamCheckConfig, StreamCheckReport, StreamRowResult


def run_stream_check(
    artifact: Path | ArtifactInfo,
    reference: Reference,
    data: StreamData,
    config: StreamCheckConfig | None = None,
) -> StreamCheckReport:
    """Stream the data through artifact and reference chunk by chunk on every provider; the report of flips and errors."""
    config = config or StreamCheckConfig()
    info = artifact if isinstance(artifact, ArtifactInfo) else open_artifact(Path(artifact))
    interface = info.interface
    if not interface.states:
        raise InputShapeError(f"{info.path}: the graph carries no state; a streaming check needs a state pair (--state IN:OUT)")
    _check_same_io(info, reference)
    chunk = config.chunk or interface.chunk
    if chunk is None:
        raise ConfigError(f"{info.path}: no chunk length known for this graph; pass --chunk N")
    output = _probability_output(interface, config.output)
    usable = data.samples - data.samples % chunk  # a graph confirmed at one chunk length gets whole chunks only
    if usable < chunk:
        raise InputShapeError(f"{data.source}: {data.samples} samples, fewer than one chunk of {chunk}")
    x = data.x[:, :usable]
    groups = _row_groups(interface, int(x.shape[0]))
    report = StreamCheckReport(
        str(info.path),
        info.sha256,
        reference.origin,
        reference.sha256,
        data.source,
        data.sha256,
        chunk,
        usable // chunk,
        int(x.shape[0]),
        output,
        config,
        dict(interface.constants),
        [f"{s.input_name} -> {s.output_name}" for s in interface.states],
        interface.context,
        reference.runtime,
        [to_jsonable(r) for r in data.rows] if data.rows else [{"name": n} for n in data.row_names()],
        len(groups) == 1,
    )
    feeds = [sequence_feeds(interface, x[group], None, str(info.path)) for group in groups]
    expected = [_per_chunk(lambda f: reference.run_once(interface, f), interface, f, chunk) for f in feeds]
    rows = _rows_of(data, chunk, usable // chunk)
    with tempfile.TemporaryDirectory(prefix="edgelstm-stream-check-") as workdir:
        # A graph that crashes ONNX Runtime must fail the gate with the reason, not take the gate's process down.
        crash = _crash_reason(info, feeds[0], chunk, Path(workdir))
        for provider in config.providers:
            if crash is not None:
                report.candidates.append(StreamCandidate(provider, status="error", reason=crash))
                continue
            candidate = _candidate(info, provider, interface, feeds, chunk, expected, output, config, Path(workdir), rows)
            report.candidates.append(candidate)
    return report


def _row_groups(interface: GraphInterface, rows: int) -> list[slice]:
    """Rows run as one batch when the graph takes any batch; a graph whose data input has a fixed batch (1, in
    practice) gets the rows in groups of that size, each group streamed from its own initial state."""
    shape = caller_shape(interface, interface.data_input)
    batch = shape[0] if shape else "batch"
    size = batch if isinstance(batch, int) and batch >= 1 else rows
    return [slice(start, min(start + size, rows)) for start in range(0, rows, size)]


def _crash_reason(info: ArtifactInfo, feeds: dict[str, np.ndarray], chunk: int, workdir: Path) -> str | None:
    """One call of the first chunk in a child process (the one crash probe, given this graph's feeds)."""
    if info.format != "onnx":
        return None

    data = info.interface.data_input.name
    # the child runs the graph as it is: the feeds in its layout
    first = graph_feeds(info.interface, {**feeds, data: feeds[data][:, : chunk + info.interface.context]})
    path = workdir / "first_chunk.npz"
    np.savez(path, **first)  # type: ignore[arg-type]  # numpy stubs: a ** dict might bind allow_pickle
    return crash_reason(info.path, feeds=path, sha256=info.sha256, model=info.model)


def _candidate(
    info: ArtifactInfo,
    provider: str,
    interface: GraphInterface,
    feeds: list[dict[str, np.ndarray]],
    chunk: int,
    expected: list[dict[str, list[np.ndarray]]],
    output: str,
    config: StreamCheckConfig,
    workdir: Path,
    rows: _RowsOf,
) -> StreamCandidate:
    """One provider's run of the artifact over every row group, compared with the reference chunk by chunk."""
    result = StreamCandidate(provider)
    try:
        runner = open_runner(info, provider, workdir, config.threads)
    except (NotApplicable, ProviderError, OrtFormatError) as exc:  # ORT Mobile refusing the file is a finding too
        result.status, result.reason = ("skipped" if isinstance(exc, NotApplicable) else "error"), str(exc)
        return result
    result.providers_used = runner.providers_used
    names = [o.name for o in interface.outputs]
    try:
        actual = [_per_chunk(lambda f: runner.run(names, f), interface, f, chunk) for f in feeds]
    except Exception as exc:  # a runtime failure (shape, kernel) is the finding, not a crash of the gate
        result.status, result.reason = "error", f"{type(exc).__name__}: {first_line(exc)}"
        return result
    # Per-chunk outputs of each row group, joined along the batch (axis 0 of the probability output).
    p = np.concatenate([np.stack(a[output], axis=-1) for a in actual], axis=0).astype(np.float64)
    p_ref = np.concatenate([np.stack(e[output], axis=-1) for e in expected], axis=0).astype(np.float64)
    if p.shape != p_ref.shape:
        result.status, result.reason = "error", f"{output}: shape {list(p.shape)} != reference {list(p_ref.shape)}"
        return result
    result.decisions, result.flips, result.max_abs_delta = flips_and_delta(p, p_ref, config.threshold)
    for name in names:
        errors = [
            max(float(np.abs(a[name][k].astype(np.float64) - e[name][k]).max()) for a, e in zip(actual, expected, strict=True))
            for k in range(len(expected[0][name]))
        ]
        result.profiles.append(_profile(name, errors, config.profile_points))
    result.flip_evidence = flip_evidence(result.flips, result.decisions, config.max_flip_fraction, config.strict_evidence)
    result.failures += budget_failures(result.flips, result.decisions, result.flip_evidence, result.max_abs_delta, output, config)
    if p.shape[0] == len(rows.names):
        result.rows = [_row_result(rows, i, p[i], p_ref[i], output, config) for i in range(p.shape[0])]
    if len(result.rows) > 1:  # one row says what the whole does; several must each hold the budget
        result.failures += [f"{row.name}: {failure}" for row in result.rows for failure in row.failures]
    return result


def _per_chunk(run: Any, interface: GraphInterface, feeds: dict[str, np.ndarray], chunk: int) -> dict[str, list[np.ndarray]]:
    """Every output of every call, through the one chunked runner (recorded as it calls: the states between
    chunks are outputs too, and their error against chunk index is the point)."""
    names = [o.name for o in interface.outputs]
    calls: dict[str, list[np.ndarray]] = {n: [] for n in names}

    def recording(f: dict[str, np.ndarray]) -> list[np.ndarray]:
        outputs = run(f)
        for name, value in zip(names, outputs, strict=True):
            calls[name].append(np.asarray(value))
        return outputs

    run_in_chunks(recording, interface, feeds, chunk)
    return calls


def _profile(name: str, errors: list[float], points: int) -> TimeProfile:
    """Max error per window of chunk indices (window ends as the x axis), with a least-squares slope."""
    edges = np.linspace(0, len(errors), min(points, len(errors)) + 1).astype(int)
    ends = [int(e) for e in edges[1:]]
    window = [max(errors[a:b]) for a, b in itertools.pairwise(edges)]
    slope = float(np.polyfit(ends, window, 1)[0] * 1000) if len(ends) > 1 else 0.0
    return TimeProfile("stream", name, ends, window, slope, window[0], window[-1])


def _probability_output(interface: GraphInterface, wanted: str | None) -> str:
    """The output decisions are taken from: the one asked for, else the first that is not a state."""
    state_outputs = {s.output_name for s in interface.states}
    candidates = [o.name for o in interface.outputs if o.name not in state_outputs]
    if wanted is not None:
        if wanted not in candidates:
            raise ConfigError(f"output {wanted!r} is not a non-state output of the graph ({', '.join(candidates)})")
        return wanted
    if not candidates:
        raise InputShapeError("the graph has no output besides its states; nothing to gate on")
    return candidates[0]


def _check_same_io(info: ArtifactInfo, reference: Reference) -> None:
    """Refuse an ONNX reference whose inputs differ from the artifact's (a wrong --reference)."""
    if not isinstance(reference, OnnxReference):
        return  # a torch reference is called with the artifact's inputs, by name
    ours = sorted(t.name for t in info.interface.inputs)
    theirs = sorted(reference.input_names)
    if ours != theirs:
        raise InputShapeError(
            f"{info.path}: takes inputs {ours} but the reference {reference.path.name} takes {theirs}; wrong --reference?"
        )


@dataclass
class StreamGate:
    """The streaming check as a quantization step (quantize's Gate): the artifact is published only if it passes."""

    reference: Reference
    data: StreamData
    config: StreamCheckConfig = field(default_factory=StreamCheckConfig)

    def run(self, path: Path) -> dict[str, Any]:
        """Run the streaming check on the artifact; quantize's gate summary (passed, verdict, flips, failures)."""
        report = run_stream_check(Path(path), self.reference, self.data, self.config)
        summary: dict[str, Any] = {
            "passed": report.passed,
            "reference": report.reference,
            "reference_sha256": report.reference_sha256,
            "data": report.data_source,
            "chunk": report.chunk,
            "chunks": report.chunks,
            "output": report.output,
        }
        summary["verdict"] = report.verdict  # the report's, over every provider: `passed` is derived from it too
        for candidate in report.candidates:
            summary.update(
                flip_evidence=to_jsonable(candidate.flip_evidence) if candidate.flip_evidence else None,
                decisions=candidate.decisions,
                flips=candidate.flips,
                max_abs_delta=candidate.max_abs_delta,
                failures=candidate.failures
                or ([candidate.reason] if candidate.reason else [])
                or (candidate.inconclusive_lines() if candidate.inconclusive else []),
                last_chunk_errors={p.output: p.last_error for p in candidate.profiles},
                rows=[to_jsonable(r) for r in candidate.rows],
            )
        return summary


def stream_check_files(
    artifacts: list[Path],
    reference: Path | Reference,
    hints: InterfaceHints,
    data: Path | None = None,
    config: StreamCheckConfig | None = None,
    seconds: float = DEFAULT_SECONDS,
) -> list[StreamCheckReport]:
    """What `check ARTIFACT --reference ORIGINAL.onnx` runs: every artifact (a derived artifact reads its interface
    from its metadata; a bare foreign graph is described with `hints`) against the ONNX reference, on `data` (.npy
    or .wav) or on the built-in gate stream (`seconds` per voice) at the graph's `sr` constant (16 kHz without one)."""
    from dataclasses import replace as replaced

    config = config or StreamCheckConfig()
    infos = []
    for path in artifacts:
        info = open_artifact(Path(path), hints)
        if hints.context and info.interface.context != hints.context:  # --context given: it wins over metadata
            info = replaced(info, interface=replaced(info.interface, context=hints.context))
        infos.append(info)
    truth = OnnxReference(Path(reference)) if isinstance(reference, (str, Path)) else reference
    interface = infos[0].interface
    sr = interface.constants.get("sr")
    if data is not None:
        signal = load_stream_data(data, int(sr) if sr is not None else None)
    else:
        signal = builtin_speech("gate", seconds, int(sr or 16_000), chunk=config.chunk or interface.chunk or 1)
    return [run_stream_check(info, truth, signal, config) for info in infos]


@dataclass(frozen=True)
class _RowsOf:
    """The names and per-chunk segment kinds of the data's rows, for the per-row verdicts."""

    names: list[str]
    kinds: list[list[str]]  # per row, per chunk; empty where the row is not described


def _rows_of(data: StreamData, chunk: int, chunks: int) -> _RowsOf:
    """Row names and per-chunk segment kinds of the data, for the per-row verdicts."""
    described = len(data.rows) == data.x.shape[0]
    kinds = [chunk_kinds(r, chunk, chunks) for r in data.rows] if described else [[] for _ in range(data.x.shape[0])]
    return _RowsOf(data.row_names(), kinds)


def _row_result(
    rows: _RowsOf, index: int, p: np.ndarray, p_ref: np.ndarray, output: str, config: StreamCheckConfig
) -> StreamRowResult:
    """One row's decisions ([..., chunks]), with its flips counted per segment kind when the row is described."""
    decisions, flips, max_abs_delta = flips_and_delta(p, p_ref, config.threshold)
    row = StreamRowResult(rows.names[index], decisions, flips, max_abs_delta)
    kinds = rows.kinds[index]
    if kinds:
        flipped = ((p >= config.threshold) != (p_ref >= config.threshold)).reshape(-1, p.shape[-1]).sum(axis=0)
        for kind, count in zip(kinds, flipped.tolist(), strict=True):
            if kind:
                row.flips_by_kind[kind] = row.flips_by_kind.get(kind, 0) + int(count)
    row.flip_evidence = flip_evidence(flips, decisions, config.max_flip_fraction, config.strict_evidence)
    row.failures = budget_failures(flips, decisions, row.flip_evidence, max_abs_delta, output, config)
    return row
