"""Load a graph in a child process first: some quantized graphs crash ONNX Runtime outright (SIGSEGV).

Seen here with onnxruntime 1.32: fp16 graphs with a per-step head crash at session creation with
ORT_ENABLE_ALL (the transpose optimiser around the fp16<->fp32 casts), and fp16 Loop bodies crash at run time.
A crash must become a refusal with a reason, never a dead process in the user's app or in CI.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

_LOAD_AND_RUN = """
import sys, numpy as np, onnxruntime as ort
session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
inputs = session.get_inputs()
first = inputs[0]
# symbolic axes: batch 2, time 3; fixed axes (an unrolled graph's time) as declared
x_shape = [d if isinstance(d, int) else (2 if axis == 0 else 3) for axis, d in enumerate(first.shape)]
feeds = {first.name: np.zeros(x_shape, np.int64 if "int" in first.type else np.float32)}
for i in inputs[1:]:
    shape = [d if isinstance(d, int) else 2 for d in i.shape]
    if i.name == "lengths":
        feeds[i.name] = np.full(shape, x_shape[1], np.int64)
    else:
        feeds[i.name] = np.zeros(shape, np.int64 if "int" in i.type else np.float32)
if len(sys.argv) > 2:  # the caller's own feeds (a foreign graph's constants and chunk length)
    with np.load(sys.argv[2], allow_pickle=False) as archive:
        feeds = {k: archive[k] for k in archive.files}
session.run(None, feeds)
"""


def crash_reason(path: Path, timeout_s: float = 120.0, feeds: Path | None = None) -> str | None:
    """None if ONNX Runtime (default optimisation, CPU) loads and runs the graph once; else what happened.
    `feeds`: an .npz of inputs to run it on instead of zeros (a foreign graph may need its constants)."""
    args = [sys.executable, "-c", _LOAD_AND_RUN, str(path), *([str(feeds)] if feeds is not None else [])]
    try:
        completed = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return f"ONNX Runtime did not finish loading and running the graph within {timeout_s:.0f} s"
    if completed.returncode == 0:
        return None
    if completed.returncode < 0:
        name = signal.Signals(-completed.returncode).name
        return f"ONNX Runtime crashed ({name}) loading or running this graph"
    lines = [line for line in completed.stderr.strip().splitlines() if line.strip()]
    return f"ONNX Runtime failed on this graph: {lines[-1][:200] if lines else 'exit ' + str(completed.returncode)}"
