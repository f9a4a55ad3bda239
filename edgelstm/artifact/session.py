"""ONNX Runtime sessions with deliberate settings and strict execution providers: the one place that builds one.

Every `onnxruntime.InferenceSession` in edgelstm is made here (`session_from_onnx`, `write_optimized`), so settings,
provider strictness and ORT's refusals are handled once. onnxruntime itself is imported inside the functions that
make a session: it is heavy, and `edgelstm --help` must stay instant.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import onnx

from edgelstm.artifact.metadata import load_onnx_file
from edgelstm.artifact.walk import nodes
from edgelstm.errors import ConfigError, EdgelstmError, GraphRuntimeError, ort_message

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "nnapi": "NnapiExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
}


EXECUTION_MODES = ("sequential", "parallel")


class ProviderError(EdgelstmError):
    """An execution provider is unknown or not available in this onnxruntime build."""


class OrtRefusal(RuntimeError):
    """ONNX Runtime refused to build a session for a graph; the message names the file and carries ORT's own line.

    Not an EdgelstmError on purpose: a graph edgelstm wrote itself that ORT cannot load is a bug (exit 3). Where a
    command opens a graph the user handed over, `handed_over` turns it into a GraphRuntimeError (exit 2).
    """


@dataclass(frozen=True)
class SessionSettings:
    """Recorded with every figure: small recurrent graphs are very sensitive to threading.

    Defaults are one intra-op thread without spinning: on small machines ORT's default spinning pool made
    small per-step graphs about 3x slower and starved other processes. A spinning pool keeps spinning after a run
    returns, which is what makes it fast back to back (batch 32, 1x64 int8 LSTM: 1.10 ms, against 1.29 ms with
    `session.force_spinning_stop`); benchmarks therefore pause after it before timing anything else.
    """

    provider: str = "cpu"
    intra_op_threads: int = 1
    inter_op_threads: int = 1
    allow_spinning: bool = False
    graph_optimization: str = "all"  # "disable" | "basic" | "extended" | "all"
    # "parallel": ORT_PARALLEL, nodes that do not depend on each other run at once on the inter-op threads. Measured
    # slower than sequential on every recurrent graph tried here (chains of nodes; even a bidirectional Loop graph's
    # two directions gained nothing), so it is opt-in and bench measures it only when asked.
    execution_mode: str = "sequential"
    # True: what a user's `onnxruntime.InferenceSession(path)` gets -- ORT's default options (its thread pool and
    # spinning, full optimization, no session config entry, not even edgelstm's weight-only one); only the provider
    # and, when intra_op_threads > 0, the thread count are set. Issue 19: artifacts are timed this way too.
    plain: bool = False
    # ORT's memory pattern (plans a call's buffers from the previous call of the same shape) and CPU arena (pools
    # allocations). Both on is ORT's default and right for long calls; for one-chunk streaming calls the arena off
    # measured ~1-2 us a call faster (issue 21; see STREAMING_SESSION below).
    memory_pattern: bool = True
    cpu_arena: bool = True

    def __post_init__(self) -> None:
        if self.execution_mode not in EXECUTION_MODES:
            raise ConfigError(f"execution_mode {self.execution_mode!r}: choose {' or '.join(EXECUTION_MODES)}")
        if self.intra_op_threads < 0:
            raise ConfigError(f"intra_op_threads must be >= 0 (0: ORT's default pool), got {self.intra_op_threads}")

    @classmethod
    def ort_defaults(cls, threads: int = 0, graph_optimization: str = "all") -> SessionSettings:
        """A plain session: ORT's defaults (threads 0) or ORT's defaults at `threads` intra-op threads; a
        `graph_optimization` other than ORT's default "all" is set too (calibration reads unoptimised values)."""
        return cls(intra_op_threads=threads, allow_spinning=True, graph_optimization=graph_optimization, plain=True)

    @classmethod
    def for_threads(cls, threads: int, allow_spinning: bool, execution_mode: str = "sequential") -> SessionSettings:
        """A bench row's setting (its thread count, spinning, execution mode) as session settings: `threads` are
        intra-op threads in sequential mode; in parallel mode that many inter-op threads, each node on one intra-op
        thread (the same number of cores, spent across nodes instead of inside one)."""
        if execution_mode == "parallel":
            return cls(intra_op_threads=1, inter_op_threads=threads, allow_spinning=allow_spinning, execution_mode="parallel")
        return cls(intra_op_threads=threads, allow_spinning=allow_spinning, execution_mode=execution_mode)


# What a streaming app's one-chunk calls run fastest with (issue 21), measured by scripts/bench_slim_step.py's
# settings table over threads (1, 2), spinning, memory pattern and CPU arena on the 2x128 LSTM and GRU at chunk 1
# (thread CPU time, two runs on a loaded 2-core machine): 1 intra-op thread, no spinning and the CPU arena off won
# every time (~1-2 us a call); the memory pattern on or off was within the noise (on won 3 of 4), so ORT's default
# stays. StreamingSession opens with it; the session policy and the bundle carry it (session_policy.StreamingPolicy).
STREAMING_SESSION = SessionSettings(intra_op_threads=1, allow_spinning=False, memory_pattern=True, cpu_arena=False)


def resolve_provider(name: str) -> str:
    """Forgiving name ("cpu", "CUDA", "CUDAExecutionProvider") -> ORT provider name, or a listing error."""
    import onnxruntime as ort

    key = name.strip()
    full = PROVIDER_ALIASES.get(key.lower(), key)
    available = ort.get_available_providers()
    if full not in available:
        known = ", ".join(f"{alias} ({p})" for alias, p in PROVIDER_ALIASES.items() if p in available)
        raise ProviderError(f"execution provider {name!r} is not available in this onnxruntime build; available: {known}")
    return full


def session_from_onnx(
    model: str | Path | bytes, settings: SessionSettings | None = None, graph: onnx.ModelProto | None = None
) -> Any:
    """An InferenceSession that runs on exactly the requested provider (no silent CPU fallback). `graph`: the file's
    graph when the caller already parsed it (`ArtifactInfo.model`), read for its ops instead of the file."""
    import onnxruntime as ort

    settings = settings or SessionSettings()
    provider = resolve_provider(settings.provider)
    options = ort.SessionOptions()
    # Fatal only: graphs made elsewhere trip ORT's shape-annotation warnings on every call (silero's If branches
    # declare {1,-1,128} and return {1,1,128,2}), and an error ORT logs is also raised, which edgelstm reports once
    # (a logged copy would be a second, coloured stderr line before the one `error:` line).
    options.log_severity_level = 4
    if settings.plain:
        if settings.intra_op_threads:
            options.intra_op_num_threads = settings.intra_op_threads
        if settings.graph_optimization != "all":  # "all" is ORT's default: a plain session leaves it unset
            options.graph_optimization_level = _optimization_level(ort, settings.graph_optimization)
        return _started(_inference_session(model, options, provider), provider)
    options.intra_op_num_threads = settings.intra_op_threads
    options.inter_op_num_threads = settings.inter_op_threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if settings.allow_spinning else "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "1" if settings.allow_spinning else "0")
    options.execution_mode = (
        ort.ExecutionMode.ORT_PARALLEL if settings.execution_mode == "parallel" else ort.ExecutionMode.ORT_SEQUENTIAL
    )
    options.graph_optimization_level = _optimization_level(ort, settings.graph_optimization)
    options.enable_mem_pattern = settings.memory_pattern
    options.enable_cpu_mem_arena = settings.cpu_arena
    if provider != "CPUExecutionProvider":
        # Fail instead of quietly running nodes on the CPU when the accelerator cannot take them.
        options.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
    for key, value in weight_only_session_config(model, graph).items():
        options.add_session_config_entry(key, value)
    return _started(_inference_session(model, options, provider), provider)


def _optimization_level(ort: Any, name: str) -> Any:
    """SessionSettings.graph_optimization's name -> ORT's level."""
    levels = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    return levels[name]


def write_optimized(
    model: str | Path, target: Path, level: str, ort_format: bool = False, disabled_optimizers: list[str] | None = None
) -> Path:
    """ORT's optimised graph at `level` ("basic", "extended", ...) written to `target` (ORT format when asked), as a
    CPU session writes it when it starts: what ORT will run, read back by callers that inspect it or ship it."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = _optimization_level(ort, level)
    options.optimized_model_filepath = str(target)
    options.log_severity_level = 3
    if ort_format:
        options.add_session_config_entry("session.save_model_format", "ORT")
    # ORT's own exception on refusal (not OrtRefusal): callers report its last line as their finding
    ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"], disabled_optimizers=disabled_optimizers or [])
    return target


def _source(model: str | Path | bytes) -> str | bytes:
    return str(model) if isinstance(model, Path) else model


def _inference_session(model: str | Path | bytes, options: Any, provider: str) -> Any:
    """ORT's session, or OrtRefusal naming the file with ORT's own words when ORT will not load it."""
    import onnxruntime as ort

    try:
        return ort.InferenceSession(_source(model), sess_options=options, providers=[provider])
    except _ort_errors() as exc:
        name = str(model) if isinstance(model, (str, Path)) else "the graph"
        raise OrtRefusal(f"{name}: onnxruntime cannot load it: {ort_message(exc)}") from exc


def _started(session: Any, provider: str) -> Any:
    if session.get_providers()[0] != provider:
        raise ProviderError(f"onnxruntime did not start {provider} (got {session.get_providers()}); refusing a silent fallback")
    return session


def ort_binding() -> ModuleType:
    """ONNX Runtime's compiled binding module, home of the exception types its calls raise (Fail, InvalidGraph, ...)."""
    # A compiled extension without stubs: imported by name, so type checkers read its attributes as Any instead of
    # reporting a symbol they cannot see. Loaded on first use, like onnxruntime itself, so `edgelstm --help` stays fast.
    return importlib.import_module("onnxruntime.capi.onnxruntime_pybind11_state")


def _ort_errors() -> tuple[type[BaseException], ...]:
    """The exception types ONNX Runtime's Python binding raises (Fail, InvalidGraph, InvalidArgument, ...)."""
    return tuple(v for v in vars(ort_binding()).values() if isinstance(v, type) and issubclass(v, Exception))


@contextlib.contextmanager
def handed_over(*paths: str | Path) -> Iterator[None]:
    """Inside, ONNX Runtime failing to load or run a graph is the user's graph's problem: one GraphRuntimeError line.

    Used where a command opens graphs the user handed over (check, bench, inspect, bundle; quantize's source), never
    around graphs edgelstm wrote itself: their failures stay internal errors.
    """
    try:
        yield
    except OrtRefusal as exc:
        raise GraphRuntimeError(str(exc)) from None
    except _ort_errors() as exc:
        names = ", ".join(str(p) for p in paths) or "the graph"
        raise GraphRuntimeError(f"{names}: onnxruntime failed running it: {ort_message(exc)}") from None


def weight_only_session_config(model: str | Path | bytes, graph: onnx.ModelProto | None = None) -> dict[str, str]:
    """Session config entries a weight-only quantized graph written before issue 19 needs to run at float speed.

    Its DequantizeLinear nodes read stored int8/int4 weights and nothing else (no QuantizeLinear anywhere): with
    QDQ handling off, ORT folds them into float weights once at load instead of dequantizing on every call (measured
    1.2-1.6x slower per call otherwise). Static-int8 QDQ graphs quantize activations and keep the default.
    Weight-only graphs written now expand their weights by Cast + Mul, which ORT folds in a default session: they
    need no entry (this returns {} for them), so the `.onnx` runs at its measured speed wherever it is loaded.
    """
    if graph is not None:  # already parsed: its ops are all this reads
        return _weight_only_entries_of_graph(graph)
    if isinstance(model, bytes):
        return _weight_only_entries(model)
    path = Path(model)
    if path.suffix != ".onnx" or not path.is_file():
        return {}
    stat = path.stat()
    return dict(_weight_only_entries_of_file(str(path.resolve()), stat.st_mtime_ns, stat.st_size))  # a copy: callers may keep it


@functools.lru_cache(maxsize=64)
def _weight_only_entries_of_file(path: str, mtime_ns: int, size: int) -> dict[str, str]:
    # Keyed by the file's identity: a check opens one artifact once per provider and case, reading it once suffices.
    return _weight_only_entries(Path(path).read_bytes())


def _weight_only_entries(serialized: bytes) -> dict[str, str]:
    try:
        graph = onnx.load_from_string(serialized)
    except Exception:  # unreadable here means ORT will say why in a moment; this is only a speed setting
        return {}
    return _weight_only_entries_of_graph(graph)


def _weight_only_entries_of_graph(graph: onnx.ModelProto) -> dict[str, str]:
    ops = {node.op_type for node in nodes(graph.graph)}
    return {"session.disable_quant_qdq": "1"} if "DequantizeLinear" in ops and "QuantizeLinear" not in ops else {}


def admit_user_graph(path: Path) -> None:
    """A graph the user handed over, refused in one line when it cannot be loaded: the checks above, then ONNX
    Runtime's own load (its refusal carried as a GraphRuntimeError with ORT's first line). For commands that go on to
    write and run graphs of their own (quantize), whose failures must stay internal errors."""
    load_onnx_file(path)
    with handed_over(path):
        # Unoptimised: loading resolves every op and type, which is what is checked here, while the optimisers are
        # where ORT has crashed the process on some graphs (see crash_probe); the commands' own sessions come later.
        session_from_onnx(path, SessionSettings(graph_optimization="disable"))
