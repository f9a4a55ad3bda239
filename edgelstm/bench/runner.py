"""`run_bench`: latency, cold start, streaming cost and size of artifacts, with baselines in the same run.

Variants are interleaved in a shuffled order every round (machine noise here is about +-30 %); every figure
carries the provider, thread count, spinning and call mode it was measured with. ORT sessions do not spin unless
`spinning` asks to measure it: on small machines the default spinning thread pool made small recurrent graphs ~3x
slower, but with several threads at large batches it can pay; the report's `policy` says which setting won.
"""

from __future__ import annotations

import copy
import gzip
import tempfile
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgelstm.artifact.child import cold_start
from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.feeds import data_for_graph, data_shape, sequence_feeds
from edgelstm.artifact.file import ArtifactInfo, open_artifact
from edgelstm.artifact.hints import InterfaceHints
from edgelstm.artifact.layout import caller_shape, graph_feeds
from edgelstm.artifact.metadata import ArtifactMetadata, attach_metadata
from edgelstm.artifact.session import EXECUTION_MODES, STREAMING_SESSION, SessionSettings, session_from_onnx
from edgelstm.artifact.walk import graphs
from edgelstm.bench.floor import FloorSessions, fed_back_run, stepped
from edgelstm.bench.litert_rows import litert_calls, litert_streaming
from edgelstm.bench.memory import ensure_fits, estimate
from edgelstm.bench.results import BenchReport, ColdStartResult, FedInterface, SizeResult, StreamingCostResult
from edgelstm.bench.roofline import add_roofline
from edgelstm.bench.rows import LatencyResult
from edgelstm.errors import ConfigError
from edgelstm.export.api import build_onnx
from edgelstm.loading import LoadedModel
from edgelstm.timing import Call, TimerSettings, Timing, time_interleaved
from edgelstm.versions import environment_record


@dataclass(frozen=True)
class BenchConfig:
    """What `bench` times: batches, lengths, threads, rounds and providers."""

    batches: tuple[int, ...] = (1, 32)
    steps: tuple[int, ...] = (100,)
    threads: tuple[int, ...] = (1,)
    spinning: tuple[bool, ...] = (False,)  # ORT intra-op spinning values to sweep
    rounds: int = 15
    calls_per_round: int = 5
    streaming_chunks: tuple[int, ...] = (1, 4, 16)  # the streaming targets are at chunks of 1 and 16
    baselines: bool = True
    cold_start: bool = True
    roofline: bool = True  # MACs and weight bytes per step beside GEMM ceilings measured in the same run
    seed: int = 0
    settle_ms: float = 50.0  # untimed pause after a workload whose threads keep spinning (edgelstm.timing)
    execution_modes: tuple[str, ...] = ("sequential",)  # ORT execution modes to sweep ("parallel": see SessionSettings)
    # Also time each artifact in a plain session (ORT's defaults, no session entry: what `InferenceSession(path)` in
    # a user's app gets), at ORT's default threads and at 1 thread: rows with mode "plain" (issue 19).
    plain: bool = True

    def __post_init__(self) -> None:
        for name in ("batches", "steps", "threads", "streaming_chunks"):
            values = getattr(self, name)
            if not values or any(v < 1 for v in values):
                raise ConfigError(f"{name} must be positive integers, got {values}")
        if self.rounds < 3:
            raise ConfigError("rounds must be at least 3 for a median to mean anything")
        if not self.spinning or len(set(self.spinning)) != len(self.spinning):
            raise ConfigError(f"spinning must list distinct on/off values, got {self.spinning}")
        modes = self.execution_modes
        if not modes or len(set(modes)) != len(modes) or not set(modes) <= set(EXECUTION_MODES):
            raise ConfigError(f"execution_modes must list distinct values of {', '.join(EXECUTION_MODES)}, got {modes}")
        if modes == ("parallel",) and max(self.threads) == 1:
            # parallel mode is measured above one thread only: timing sequential instead would be a silent swap
            raise ConfigError("execution mode parallel needs --threads above 1 (one thread runs one node at a time)")

    def ort_settings(self) -> list[tuple[int, bool, str]]:
        """Every (threads, spinning, execution mode) to measure. One thread has no pool threads to spin and no
        second node to run beside the first, so spinning on and parallel mode are not measured there (they would
        time the same session twice)."""
        pairs = [(t, s) for t in self.threads for s in self.spinning if not (s and t == 1)] or [(t, False) for t in self.threads]
        return [(t, s, m) for t, s in pairs for m in self.execution_modes if not (m == "parallel" and t == 1)]


@dataclass
class _Variant:
    """One thing timed: an artifact in one session setting at one batch and length."""

    name: str
    kind: str
    provider: str
    batch: int
    steps: int
    threads: int
    mode: str
    call: Call
    allow_spinning: bool | None = None
    timing: Timing | None = None
    # Its pool may still spin after a call (an ORT session with spinning, ORT's default session, torch's OpenMP pool
    # above one thread): the timer pauses after it so the next workload is not billed for its spinning threads.
    leaves_threads_busy: bool = False
    execution_mode: str = "sequential"


def run_bench(
    artifacts: list[Path], reference: LoadedModel | None, config: BenchConfig | None = None, hints: InterfaceHints | None = None
) -> BenchReport:
    """`hints` (--const/--state/--chunk/--context) describe ONNX files made elsewhere; such a streaming graph is
    timed per call of one chunk (its confirmed length plus context), with its constants and zero state."""
    config = config or BenchConfig()
    infos = [_with_context(open_artifact(Path(p), hints), hints) for p in artifacts]
    # Every variant's inputs exist at once (they are interleaved): one per ORT setting, and with baselines two torch
    # variants per thread count plus the default path.
    copies = len(config.ort_settings()) + len(PLAIN_THREADS) * config.plain
    copies += len(config.threads) * 2 + 1 if config.baselines and reference is not None else 0
    ensure_fits(estimate(infos, config.batches, config.steps, copies), config.batches, config.steps)
    rng = np.random.default_rng(config.seed)
    report = BenchReport(settings={**asdict(config), "graph_optimization": "all"}, versions=environment_record())
    variants = [
        _Variant(c.name, "artifact", "litert", c.batch, c.steps, c.threads, "run", c.call)
        for info in infos
        if info.format == "tflite"
        for c in litert_calls(info, config.threads, rng)
    ]
    tflite = [info for info in infos if info.format == "tflite"]
    infos = [info for info in infos if info.format != "tflite"]  # the ONNX/ORT files: sessions, cold start, roofline
    for info in infos:
        for threads, spinning, execution in config.ort_settings():
            session = session_from_onnx(info.path, SessionSettings.for_threads(threads, spinning, execution))
            for batch in _batches_for(info, config.batches):
                for steps in _steps_for(info, config.steps):
                    feeds = _feeds(info, batch, steps, rng)
                    call = _ort_call(session, feeds)
                    busy = spinning and threads != 1  # ORT's pool keeps spinning after the run returns
                    variants.append(
                        _Variant(
                            info.name,
                            "artifact",
                            "cpu",
                            batch,
                            steps,
                            threads,
                            "run",
                            call,
                            spinning,
                            leaves_threads_busy=busy,
                            execution_mode=execution,
                        )
                    )
        if config.plain:
            variants += _plain_variants(info, config, rng)
    if config.baselines and reference is not None and reference.is_native:
        variants += _baseline_variants(reference, config, rng)
    _measure(variants, config)
    report.latencies = [_latency(v) for v in variants]
    # Every streaming artifact gets its per-step cost and floor; a graph confirmed at one chunk length (a foreign
    # one) only at that length and without a one-call baseline (it takes no longer input).
    report.streaming = [r for info in infos if info.interface.form == "streaming" for r in _streaming_costs(info, config, rng)]
    report.streaming += litert_streaming(report.latencies, tflite)
    if config.cold_start:
        report.cold_starts = [_cold_start(info) for info in infos]
    report.sizes = _sizes(infos, reference) + _sizes(tflite, reference)
    report.interfaces = [_fed(info) for info in [*infos, *tflite]]
    if config.roofline:
        add_roofline(report, infos)
    return report


def _fed(info: ArtifactInfo) -> FedInterface:
    """The interface the bench feeds, with the artifact's fixed dims resolved."""
    interface = info.interface
    return FedInterface(
        info.name,
        interface.data_input.name,
        list(interface.data_input.shape),
        [f"{s.input_name} -> {s.output_name}" for s in interface.states],
        dict(interface.constants),
    )


def _with_context(info: ArtifactInfo, hints: InterfaceHints | None) -> ArtifactInfo:
    """The artifact with --context applied when given (it wins over the metadata)."""
    if hints is None or not hints.context or info.interface.context == hints.context:
        return info
    return replace(info, interface=replace(info.interface, context=hints.context))


def _batches_for(info: ArtifactInfo, batches: tuple[int, ...]) -> tuple[int, ...]:
    """A graph with a fixed batch (static-int8 --fixed-batch) runs at that batch only: feeding it the requested
    batch is impossible, and labelling its batch-1 time as batch 32 would claim 32x the throughput."""
    fixed = _fixed_batch(info)
    return (fixed,) if fixed is not None else batches


def _fixed_batch(info: ArtifactInfo) -> int | None:
    """The one batch a graph takes (frames-first graphs: 1), or None."""
    if info.interface.fixed_batch is not None:  # frames-first: axis 0 is frames, the batch is 1
        return info.interface.fixed_batch
    shape = caller_shape(info.interface, info.interface.data_input)
    if "batch" in shape or info.interface.impl in ("foreign", "unknown"):
        return None
    # edgelstm's own graph with no named batch axis: its first axis is the batch, fixed at export
    return shape[0] if shape and isinstance(shape[0], int) else None


def _steps_for(info: ArtifactInfo, steps: tuple[int, ...]) -> tuple[int, ...]:
    """The lengths a graph can be timed at (a fixed-length graph: its own T only)."""
    interface = info.interface
    if interface.chunk is not None:  # a foreign graph confirmed at one chunk length: one call = one chunk
        return (interface.chunk + interface.context,)
    shape = caller_shape(interface, interface.data_input)  # batch-first, whatever the graph's layout
    fixed = shape[1] if len(shape) > 1 else None
    return (fixed,) if isinstance(fixed, int) else steps


def _feeds(info: ArtifactInfo, batch: int, steps: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """`_caller_feeds` in the graph's own layout (edgelstm.artifact.layout), ready to time: nothing is turned per call."""
    return graph_feeds(info.interface, _caller_feeds(info, batch, steps, rng))


def _caller_feeds(info: ArtifactInfo, batch: int, steps: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random data (token ids 0/1 for int64 inputs) at this batch and length; the rest from the one feed builder.
    Batch-first."""
    spec = info.interface.data_input
    dims = data_shape(info.interface, batch, steps)
    if spec.dtype == "int64":
        x = rng.integers(0, 2, size=dims, dtype=np.int64)
    else:  # standard normal as the model sees it: raw features at the training statistics for a raw-input graph
        x = data_for_graph(info.interface, rng.standard_normal(dims).astype(np.float32))
    return sequence_feeds(info.interface, x, None, str(info.path))


# A plain session's thread counts: 0 = ORT's default pool (all cores, spinning), as `InferenceSession(path)` gives;
# 1 = the same defaults at one intra-op thread.
PLAIN_THREADS = (0, 1)


def _plain_variants(info: ArtifactInfo, config: BenchConfig, rng: np.random.Generator) -> list[_Variant]:
    """The artifact in a plain ORT session (SessionSettings.ort_defaults), at each batch and length: mode "plain"."""
    variants = []
    for threads in PLAIN_THREADS:
        session = session_from_onnx(info.path, SessionSettings.ort_defaults(threads))
        for batch in _batches_for(info, config.batches):
            for steps in _steps_for(info, config.steps):
                call = _ort_call(session, _feeds(info, batch, steps, rng))
                # ORT's default pool spins after a run (above one thread): the timer pauses after it
                busy = threads != 1
                variants.append(
                    _Variant(info.name, "artifact", "cpu", batch, steps, threads, "plain", call, True, leaves_threads_busy=busy)
                )
    return variants


def _ort_call(session: Any, feeds: dict[str, np.ndarray]) -> Call:
    """A call of `session` on `feeds`, for the interleaved timer."""
    return lambda: session.run(None, feeds)


def _measure(variants: list[_Variant], config: BenchConfig) -> None:
    """Time every variant interleaved (machine noise hits all alike) and keep each timing."""
    timings = time_interleaved([v.call for v in variants], _timer(config), [v.leaves_threads_busy for v in variants])
    for v, timing in zip(variants, timings, strict=True):
        v.timing = timing


def _timer(config: BenchConfig, calls_per_round: int | None = None) -> TimerSettings:
    """The timer settings for this bench (rounds, calls per round)."""
    return TimerSettings(config.rounds, calls_per_round or config.calls_per_round, seed=config.seed, settle_ms=config.settle_ms)


def _latency(v: _Variant) -> LatencyResult:
    """The latency row of a timed variant."""
    assert v.timing is not None, "every variant is timed before its row is built"
    return LatencyResult.from_timing(
        v.name, v.kind, v.provider, v.batch, v.steps, v.threads, v.mode, v.timing, v.allow_spinning, v.execution_mode
    )


def _baseline_variants(reference: LoadedModel, config: BenchConfig, rng: np.random.Generator) -> list[_Variant]:
    """torch eager fp32, torch dynamic int8, and the default path without edgelstm (torch.onnx.export +
    quantize_dynamic with default settings, run with a default SessionOptions)."""
    import torch

    model = reference.module.eval()
    sig = reference.signature
    with warnings.catch_warnings():  # torch deprecates its eager int8 API; it is still the baseline users have
        warnings.simplefilter("ignore")
        int8 = torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(model), {torch.nn.LSTM, torch.nn.GRU, torch.nn.Linear}, dtype=torch.qint8
        )
    default_path = _default_path_onnx(model, sig.size if sig.kind == "features" else 0)
    default_session = session_from_onnx(default_path, SessionSettings.ort_defaults())  # ORT's defaults on purpose
    variants = []
    default_name = "default path: torch.onnx + quantize_dynamic, ORT defaults"
    for batch in config.batches:
        for steps in config.steps:
            if sig.kind == "tokens":
                x = torch.from_numpy(rng.integers(0, sig.size, size=(batch, steps)))
            else:
                x = torch.from_numpy(rng.standard_normal((batch, steps, sig.size)).astype(np.float32))
            for threads in config.threads:

                def eager(m: Any = model, t: int = threads, inp: Any = x) -> object:
                    torch.set_num_threads(t)
                    with torch.no_grad():
                        return m(inp)

                def dynamic(m: Any = int8, t: int = threads, inp: Any = x) -> object:
                    torch.set_num_threads(t)
                    with torch.no_grad():
                        return m(inp)

                busy = threads != 1  # OpenMP workers spin-wait after a parallel region
                variants.append(
                    _Variant(
                        "torch eager fp32", "baseline", "torch", batch, steps, threads, "torch", eager, leaves_threads_busy=busy
                    )
                )
                variants.append(
                    _Variant(
                        "torch dynamic int8",
                        "baseline",
                        "torch",
                        batch,
                        steps,
                        threads,
                        "torch",
                        dynamic,
                        leaves_threads_busy=busy,
                    )
                )
            # Once per shape, not per thread count: threads 0 = ORT's default pool (all cores, spinning), what a
            # user gets without choosing. (It used to be added once per --threads value: duplicate rows.)
            call = _ort_call(default_session, {default_session.get_inputs()[0].name: x.numpy()})
            variants.append(
                _Variant(default_name, "baseline", "cpu", batch, steps, 0, "run", call, True, leaves_threads_busy=True)
            )
    return variants


_DEFAULT_PATH_CACHE: dict[str, Path] = {}


def _model_key(model: Any, features: int) -> str:
    """What the default path's graph depends on: the module's class, its weights and the feature count. Not
    id(model): a freed model's id is reused by the next one, which then got the first one's graph."""
    import hashlib

    digest = hashlib.sha256(f"{type(model).__module__}.{type(model).__qualname__}:{features}".encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _default_path_onnx(model: Any, features: int) -> Path:
    """What a user without edgelstm gets: the TorchScript exporter's graph, quantized with default settings."""
    import warnings

    import torch
    from onnxruntime.quantization import quantize_dynamic

    key = _model_key(model, features)
    if key in _DEFAULT_PATH_CACHE:
        return _DEFAULT_PATH_CACHE[key]
    tmp = Path(tempfile.mkdtemp(prefix="edgelstm-default-path-"))
    example = torch.randn(2, 16, features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(tmp / "model.onnx"),
            dynamo=False,
            input_names=["x"],
            dynamic_axes={"x": {0: "batch", 1: "time"}},
        )
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(tmp / "model.onnx"), str(tmp / "model.int8.onnx"))
    finally:
        root.setLevel(level)
    _DEFAULT_PATH_CACHE[key] = tmp / "model.int8.onnx"
    return _DEFAULT_PATH_CACHE[key]


def _streaming_costs(info: ArtifactInfo, config: BenchConfig, rng: np.random.Generator) -> list[StreamingCostResult]:
    """Per-step cost of one call on a chunk, two ways an app calls the graph: "run" (session.run with a feed dict
    from the one feed builder, each state output put back in it as a numpy array; 1 thread, no spinning) and
    "helper" (edgelstm.artifact.streaming.StreamingSession at STREAMING_SESSION, the settings it opens with: states
    in bound ORT values, the stream going on from call to call), against one call over the whole sequence, and
    (issue 21) each against its floor: a pass-through graph with the same inputs and outputs called the same way.

    Each sample is one call, interleaved with the others: on a loaded machine a timed pass over the whole sequence
    in chunks of 1 (a hundred calls) is preempted more often than not, and its median then measures the load."""
    session = session_from_onnx(info.path, SessionSettings(intra_op_threads=1))
    streamed = session_from_onnx(info.path, STREAMING_SESSION)  # what StreamingSession opens with
    floor = FloorSessions.open(info.interface)
    interface, context = info.interface, info.interface.context
    confirmed = interface.chunk is not None  # one call = one chunk of that length (plus context): no baseline
    chunks = (interface.chunk,) if interface.chunk is not None else config.streaming_chunks
    steps = _steps_for(info, (max(config.steps),))[0]
    caller = _caller_feeds(info, 1, steps, rng)
    x, feeds = caller[interface.data_input.name], graph_feeds(interface, caller)
    workloads: list[tuple[int, str, Call]] = []
    for chunk in chunks:
        call_data = np.ascontiguousarray(x[:, : context + chunk])  # a plain run feeds the context itself
        new_steps = np.ascontiguousarray(call_data[:, context:])  # StreamingSession puts the context in front
        chunk_feeds = graph_feeds(interface, sequence_feeds(interface, call_data, None, str(info.path)))
        plain, helped = fed_back_run(session, interface, chunk_feeds), stepped(streamed, interface, new_steps, str(info.path))
        floor_plain, floor_helped = floor.calls(new_steps, chunk_feeds)
        workloads += [(chunk, "run", plain), (chunk, "helper", helped), (chunk, "run floor", floor_plain)]
        workloads.append((chunk, "helper floor", floor_helped))
    # The one-call baseline is interleaved with the chunked variants: their ratio is the figure that matters.
    baseline = [] if confirmed else [lambda: session.run(None, feeds)]
    timings = time_interleaved(baseline + [call for _, _, call in workloads], _timer(config))
    whole_us = 0.0 if confirmed else timings[0].p50_ms * 1e3 / steps
    per_call = {(chunk, mode): t.p50_ms * 1e3 for (chunk, mode, _), t in zip(workloads, timings[len(baseline) :], strict=True)}
    return [
        StreamingCostResult(info.name, chunk, steps, mode, us / chunk, whole_us, per_call[(chunk, f"{mode} floor")])
        for (chunk, mode), us in per_call.items()
        if not mode.endswith("floor")
    ]


def _cold_start(info: ArtifactInfo) -> ColdStartResult:
    """Session creation and first run in a fresh process, for one artifact."""
    feeds = _feeds(info, 1, _steps_for(info, (100,))[0], np.random.default_rng(0))
    measured = cold_start(info.path, feeds)
    if measured is None:
        return ColdStartResult(info.name, float("nan"), float("nan"), float("nan"))
    return ColdStartResult(info.name, measured["session_ms"], measured["first_run_ms"], measured["peak_rss_mb"])


def _sizes(infos: list[ArtifactInfo], reference: LoadedModel | None) -> list[SizeResult]:
    """File and weight bytes of each artifact (and the checkpoint's, when given)."""
    import onnx

    parameters = sum(p.numel() for p in reference.module.parameters()) if reference is not None else 0
    fp32_bytes = None
    if reference is not None and reference.is_native:
        # The fp32 teacher as `edgelstm export` writes it (metadata included), so ratios compare like with like.
        export_config = ExportConfig(impl="auto")
        graph, interface = build_onnx(reference, export_config)
        attach_metadata(
            graph, ArtifactMetadata(interface, export_config, reference.config, reference.preprocessing, reference.source)
        )
        fp32_bytes = len(graph.SerializeToString())
    results = []
    for info in infos:
        data = info.path.read_bytes()
        stored = 0 if info.format == "tflite" else _stored_elements(onnx.load(str(info.path), load_external_data=False).graph)
        count = parameters or stored  # a .tflite without its model beside it: parameters not counted
        ratio = (fp32_bytes / len(data)) if fp32_bytes else 0.0
        results.append(SizeResult(info.name, len(data), len(gzip.compress(data, 9)), count, ratio))
    return results


def _stored_elements(graph: Any) -> int:
    """Elements of every stored tensor -- initializers and Constant values, in If/Loop/Scan bodies too (silero-vad
    keeps all its weights in If branches as Constants): the parameter count of a graph with no model beside it."""
    count = 0
    for each in graphs(graph):
        count += sum(int(np.prod(t.dims)) for t in each.initializer)
        constants = (a.t for n in each.node if n.op_type == "Constant" for a in n.attribute if a.HasField("t"))
        count += sum(int(np.prod(t.dims)) for t in constants)
    return count
