"""Work done in a child process: a graph's crash probe, and its cold start (session creation and first run).

Load a graph in a child process first: some quantized graphs crash ONNX Runtime outright (SIGSEGV).

Seen here with onnxruntime 1.32: fp16 graphs with a per-step head crash at session creation with
ORT_ENABLE_ALL (the transpose optimiser around the fp16<->fp32 casts), and fp16 Loop bodies crash at run time.
A crash must become a refusal with a reason, never a dead process in the user's app or in CI.

The child scripts are the only sessions built outside `session.session_from_onnx`: they run in a fresh interpreter
that imports ONNX Runtime and nothing of edgelstm (isolation from a crash; the cold start a user's app pays).
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import onnx

from edgelstm.artifact.feeds import data_shape, sequence_feeds, zero_state_interface
from edgelstm.artifact.file import generic_interface
from edgelstm.artifact.layout import graph_feeds
from edgelstm.artifact.metadata import load_onnx_file, metadata_of
from edgelstm.errors import LoadError, ort_message

_LOAD_AND_RUN = """
import sys, numpy as np, onnxruntime as ort
session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
with np.load(sys.argv[2], allow_pickle=False) as archive:
    feeds = {k: archive[k] for k in archive.files}
session.run(None, feeds)
"""
PROBE_BATCH, PROBE_STEPS = 2, 3  # symbolic axes of the default probe call (a fixed time axis keeps its size)

# Verdicts by (graph bytes, feeds): `quantize` probes each candidate before the gate, and the gate probes the same
# bytes again with the same default feeds; the second answer comes from here instead of another child process
# (~0.25 s each). Keyed on content, never on the path: a file rewritten in place is probed afresh, and a graph that
# crashed keeps its crash verdict. A timeout is not kept (it may be the machine's load, not the graph).
_VERDICTS: dict[tuple[str, str], str | None] = {}
_VERDICTS_LOCK = threading.Lock()  # the gate probes from a background thread
_VERDICTS_KEPT = 256


def crash_reason(
    path: Path,
    timeout_s: float = 120.0,
    feeds: Path | None = None,
    sha256: str = "",
    model: onnx.ModelProto | None = None,
) -> str | None:
    """None if ONNX Runtime (default optimisation, CPU) loads and runs the graph once; else what happened.
    `feeds`: an .npz of inputs to run it on (a foreign graph's constants and chunk length); by default the one
    feed builder's zero call on the file's interface (its metadata's, or every input but the first a zero state).
    A graph and feeds probed before in this process get the verdict they got then.
    `sha256`, `model`: the file's digest and parsed graph when the caller has them (`open_artifact` read both), so
    the file is neither hashed nor parsed again here."""
    key = (sha256 or _sha256(Path(path).read_bytes()), _feeds_digest(feeds))
    with _VERDICTS_LOCK:
        if key in _VERDICTS:
            return _VERDICTS[key]
    verdict, keep = _probe(Path(path), timeout_s, feeds, model)
    if keep:
        with _VERDICTS_LOCK:
            if len(_VERDICTS) >= _VERDICTS_KEPT:
                _VERDICTS.pop(next(iter(_VERDICTS)))
            _VERDICTS[key] = verdict
    return verdict


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _feeds_digest(feeds: Path | None) -> str:
    """The inputs' names, dtypes, shapes and bytes (not the .npz file's, whose zip headers carry times); "" for the
    default feeds, which follow from the graph's bytes."""
    if feeds is None:
        return ""
    digest = hashlib.sha256()
    with np.load(feeds, allow_pickle=False) as archive:
        for name in sorted(archive.files):
            value = archive[name]
            digest.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
            digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def _probe(path: Path, timeout_s: float, feeds: Path | None, model: onnx.ModelProto | None) -> tuple[str | None, bool]:
    """One child process loads and runs the graph: (verdict, whether the verdict belongs to the graph)."""
    with tempfile.TemporaryDirectory(prefix="edgelstm-crash-probe-") as tmp:
        if feeds is None:
            feeds = Path(tmp) / "feeds.npz"
            np.savez(feeds, **default_feeds(Path(path), model))  # type: ignore[arg-type]  # numpy stubs: ** might bind allow_pickle
        args = [sys.executable, "-c", _LOAD_AND_RUN, str(path), str(feeds)]
        try:
            completed = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return f"ONNX Runtime did not finish loading and running the graph within {timeout_s:.0f} s", False
    if completed.returncode == 0:
        return None, True
    if completed.returncode < 0:
        name = signal.Signals(-completed.returncode).name
        return f"ONNX Runtime crashed ({name}) loading or running this graph", True
    lines = [line for line in completed.stderr.strip().splitlines() if line.strip()]
    if not lines:
        return f"ONNX Runtime failed on this graph: exit {completed.returncode}", True
    # The child's last line is "onnxruntime...Fail: [ONNXRuntimeError] : 1 : FAIL : Load model from ... failed:WHY":
    # WHY is ORT's own wording, kept; the exception's module path and status prefix are not.
    raised = lines[-1].split(": ", 1)[-1] if lines[-1].startswith("onnxruntime.") else lines[-1]
    return f"ONNX Runtime failed on this graph: {ort_message(Exception(raised))[:200]}", True


def default_feeds(path: Path, model: onnx.ModelProto | None = None) -> dict[str, np.ndarray]:
    """Zero data at batch 2 and 3 steps (a foreign graph: its confirmed chunk) with the interface's lengths,
    states and constants; a graph without edgelstm metadata gets a zero for every input after its first.
    `model`: the file's graph when already parsed."""
    model = model if model is not None else load_onnx_file(path)
    try:
        interface = metadata_of(model, path).interface
    except LoadError:  # no metadata: no probe either (this runs in the child that protects the caller from ORT)
        interface = zero_state_interface(generic_interface(model).inputs)
    dims = data_shape(interface, PROBE_BATCH, None if interface.chunk else PROBE_STEPS)
    x = np.zeros(dims, np.dtype(interface.data_input.dtype))
    return graph_feeds(interface, sequence_feeds(interface, x, None, f"{path}: crash probe"))  # as the graph takes them


_COLD_START = """
import json, sys, time
start = time.perf_counter()
import numpy as np, onnxruntime as ort
options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.add_session_config_entry("session.intra_op.allow_spinning", "0")
t0 = time.perf_counter()
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
t1 = time.perf_counter()
with np.load(sys.argv[2], allow_pickle=False) as archive:
    feeds = {k: archive[k] for k in archive.files}
session.run(None, feeds)
t2 = time.perf_counter()
rss = next((int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")), 0)
print(json.dumps({"session_ms": (t1 - t0) * 1e3, "first_run_ms": (t2 - t1) * 1e3, "peak_rss_mb": rss / 1024}))
"""


def cold_start(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, float] | None:
    """session_ms, first_run_ms and peak_rss_mb of the graph in a fresh process (1 thread, no spinning), or None
    when the child failed."""
    # The inputs go through a file: on a command line, large inputs hit "Argument list too long".
    with tempfile.TemporaryDirectory(prefix="edgelstm-cold-start-") as tmp:
        inputs = Path(tmp) / "feeds.npz"
        np.savez(inputs, **feeds)  # type: ignore[arg-type]  # numpy stubs: a ** dict might bind allow_pickle
        out = subprocess.run(
            [sys.executable, "-c", _COLD_START, str(path), str(inputs)], capture_output=True, text=True, timeout=300
        )
    if out.returncode != 0:
        return None
    measured: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return measured
