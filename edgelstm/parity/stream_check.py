"""The streaming parity gate for a graph that carries state (e.g. silero-vad): the artifact and its reference are
both fed the same signal chunk by chunk, each carrying its own state, and compared on what the app decides.

Gated: decisions flipped at a threshold on the probability output and the largest |delta p|. Reported for every
output: error against chunk index, because a recurrent graph's error can grow with stream length, which a
one-call comparison never shows.
"""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgelstm.errors import ConfigError, InputShapeError
from edgelstm.export.config import GraphInterface
from edgelstm.parity.artifacts import PROVIDERS, ArtifactInfo, NotApplicable, open_artifact, open_runner, sequence_feeds
from edgelstm.parity.chunked import run_in_chunks
from edgelstm.parity.reference import OnnxReference, Reference
from edgelstm.parity.report import TimeProfile
from edgelstm.parity.stream_data import StreamData
from edgelstm.runtime import ProviderError

if TYPE_CHECKING:
    from edgelstm.onnx_interface import InterfaceHints


STREAM_CHECK_KIND = "streaming-check"


@dataclass(frozen=True)
class StreamCheckConfig:
    chunk: int | None = None  # samples per call; None: the chunk the artifact's interface was confirmed at
    threshold: float = 0.5  # a decision is `p >= threshold`
    max_flip_fraction: float = 0.01  # of all chunks (x batch rows)
    max_abs_delta: float = 0.1  # largest |p - p_ref| over the stream
    output: str | None = None  # the probability output; None: the first output that is not a state
    providers: tuple[str, ...] = ("cpu",)
    profile_points: int = 10  # windows of the error-vs-chunk-index profile
    threads: int = 1

    def __post_init__(self) -> None:
        if self.chunk is not None and self.chunk < 1:
            raise ConfigError(f"--chunk must be a positive number of samples, got {self.chunk}")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"the decision threshold must be in (0, 1), got {self.threshold}")
        if not 0.0 <= self.max_flip_fraction <= 1.0 or self.max_abs_delta < 0:
            raise ConfigError("the flip budget is a fraction in 0..1 and the |delta p| budget is >= 0")
        unknown = [p for p in self.providers if p not in PROVIDERS]
        if not self.providers or unknown:
            raise ConfigError(f"unknown provider(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(PROVIDERS)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StreamCandidate:
    """One artifact on one provider against the reference, over the whole stream."""

    provider: str
    providers_used: list[str] = field(default_factory=list)
    status: str = "ran"  # ran | skipped | error
    reason: str = ""
    decisions: int = 0  # chunks x rows compared
    flips: int = 0
    max_abs_delta: float = 0.0
    profiles: list[TimeProfile] = field(default_factory=list)  # per output: max error per window of chunk indices
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "skipped" or (self.status == "ran" and not self.failures)

    @property
    def verdict(self) -> str:
        """In the words of `check --report`'s candidates, so bundle and report read either kind of verdict."""
        return self.status if self.status in ("skipped", "error") else "pass" if self.passed else "FAIL"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["profiles"] = [p.to_dict() for p in self.profiles]
        data["passed"] = self.passed
        data["verdict"] = self.verdict
        return data


@dataclass
class StreamCheckReport:
    """The verdict: what was compared with what (both sha256s, the data, the chunking), and per provider."""

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
    candidates: list[StreamCandidate] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        ran = [c for c in self.candidates if c.status != "skipped"]
        return bool(ran) and all(c.passed for c in self.candidates)

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k not in ("config", "candidates")}
        data["config"] = self.config.to_dict()
        # Each candidate names the artifact and its sha256, as `check --report` candidates do.
        data["candidates"] = [
            {"artifact": self.artifact, "artifact_sha256": self.artifact_sha256, **c.to_dict()} for c in self.candidates
        ]
        data["reference_dtype"] = "float32"
        data["kind"] = STREAM_CHECK_KIND  # tells `edgelstm report` which verdict this is
        data["passed"] = self.passed
        return data


def run_stream_check(
    artifact: Path | ArtifactInfo,
    reference: Reference,
    data: StreamData,
    config: StreamCheckConfig | None = None,
) -> StreamCheckReport:
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
    )
    feeds = sequence_feeds(interface, x, None, str(info.path))
    expected = _per_chunk(lambda f: reference.run_once(interface, f), interface, feeds, chunk)
    with tempfile.TemporaryDirectory(prefix="edgelstm-stream-check-") as workdir:
        # A graph that crashes ONNX Runtime must fail the gate with the reason, not take the gate's process down.
        crash = _crash_reason(info, feeds, chunk, Path(workdir))
        for provider in config.providers:
            if crash is not None:
                report.candidates.append(StreamCandidate(provider, status="error", reason=crash))
                continue
            report.candidates.append(_candidate(info, provider, interface, feeds, chunk, expected, output, config, Path(workdir)))
    return report


def _crash_reason(info: ArtifactInfo, feeds: dict[str, np.ndarray], chunk: int, workdir: Path) -> str | None:
    """One call of the first chunk in a child process (the one crash probe, given this graph's feeds)."""
    if info.format != "onnx":
        return None
    from edgelstm.crash_probe import crash_reason

    data = info.interface.data_input.name
    first = {**feeds, data: feeds[data][:, : chunk + info.interface.context]}
    path = workdir / "first_chunk.npz"
    np.savez(path, **first)  # type: ignore[arg-type]  # numpy stubs: a ** dict might bind allow_pickle
    return crash_reason(info.path, feeds=path)


def _candidate(
    info: ArtifactInfo,
    provider: str,
    interface: GraphInterface,
    feeds: dict[str, np.ndarray],
    chunk: int,
    expected: dict[str, list[np.ndarray]],
    output: str,
    config: StreamCheckConfig,
    workdir: Path,
) -> StreamCandidate:
    result = StreamCandidate(provider)
    try:
        runner = open_runner(info, provider, workdir, config.threads)
    except (NotApplicable, ProviderError) as exc:
        result.status, result.reason = ("skipped" if isinstance(exc, NotApplicable) else "error"), str(exc)
        return result
    result.providers_used = runner.providers_used
    names = [o.name for o in interface.outputs]
    try:
        actual = _per_chunk(lambda f: runner.run(names, f), interface, feeds, chunk)
    except Exception as exc:  # a runtime failure (shape, kernel) is the finding, not a crash of the gate
        from edgelstm.errors import first_line

        result.status, result.reason = "error", f"{type(exc).__name__}: {first_line(exc)}"
        return result
    p = np.stack(actual[output], axis=-1).astype(np.float64)
    p_ref = np.stack(expected[output], axis=-1).astype(np.float64)
    if p.shape != p_ref.shape:
        result.status, result.reason = "error", f"{output}: shape {list(p.shape)} != reference {list(p_ref.shape)}"
        return result
    delta = np.abs(p - p_ref)
    result.decisions = int(p.size)
    result.flips = int(np.count_nonzero((p >= config.threshold) != (p_ref >= config.threshold)))
    result.max_abs_delta = float(delta.max()) if np.isfinite(delta).all() else float("inf")
    for name in names:
        errors = [float(np.abs(a.astype(np.float64) - e).max()) for a, e in zip(actual[name], expected[name], strict=True)]
        result.profiles.append(_profile(name, errors, config.profile_points))
    budget = int(np.floor(config.max_flip_fraction * result.decisions))
    if result.flips > budget:
        result.failures.append(
            f"{result.flips} of {result.decisions} decisions flipped at {config.threshold:g} "
            f"(budget {config.max_flip_fraction:.2%} = {budget})"
        )
    if not result.max_abs_delta <= config.max_abs_delta:
        result.failures.append(f"max |delta {output}| {result.max_abs_delta:.4g} > {config.max_abs_delta:g}")
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
        for candidate in report.candidates:
            summary.update(
                decisions=candidate.decisions,
                flips=candidate.flips,
                max_abs_delta=candidate.max_abs_delta,
                failures=candidate.failures or ([candidate.reason] if candidate.reason else []),
                last_chunk_errors={p.output: p.last_error for p in candidate.profiles},
            )
        return summary


def stream_check_files(
    artifacts: list[Path],
    reference: Path | Reference,
    hints: InterfaceHints,
    data: Path | None = None,
    config: StreamCheckConfig | None = None,
    seconds: float = 10.0,
) -> list[StreamCheckReport]:
    """What `check ARTIFACT --reference ORIGINAL.onnx` runs: every artifact (a derived artifact reads its interface
    from its metadata; a bare foreign graph is described with `hints`) against the ONNX reference, on `data` or on
    `seconds` of synthetic speech-like audio at the graph's `sr` constant (16 kHz when it has none)."""
    from dataclasses import replace as replaced

    from edgelstm.parity.stream_data import load_stream_data, synthetic_speech

    config = config or StreamCheckConfig()
    infos = []
    for path in artifacts:
        info = open_artifact(Path(path), hints)
        if hints.context and info.interface.context != hints.context:  # --context given: it wins over metadata
            info = replaced(info, interface=replaced(info.interface, context=hints.context))
        infos.append(info)
    truth = OnnxReference(Path(reference)) if isinstance(reference, (str, Path)) else reference
    if data is not None:
        signal = load_stream_data(data)
    else:
        interface = infos[0].interface
        rate = int(interface.constants.get("sr", 16_000))
        signal = synthetic_speech(seconds, rate, chunk=config.chunk or interface.chunk or 1)
    return [run_stream_check(info, truth, signal, config) for info in infos]
