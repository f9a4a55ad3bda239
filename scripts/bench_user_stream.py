"""A user module's streaming graph at chunk 1 through StreamingSession: batch-first (before) against time-major (after).

    python scripts/bench_user_stream.py [--quick] [--rounds 21] [--steps 100]

Model: a user's `nn.Module` (not an edgelstm SequenceModel): 2x128 `nn.LSTM(batch_first=True)`, 40 features, a
per-step `nn.Linear(128, 7)`, random weights (the cost does not depend on the values), exported with
`export pkg.mod:build --form streaming` (`edgelstm.export.api.export_model`) twice: as written before issue 21's
time-major pass (the Transposes torch.onnx traces around batch_first=True kept: the pass switched off in this
process only) and as `export` writes it now (export/time_major.py: data and output `[chunk, batch, ...]`, no
Transpose). Both passed the export verification against the module before they were written.

Per step, thread CPU time and wall time (medians of interleaved rounds, edgelstm.timing.time_batches): one call over
--steps steps (feed dict: the per-step cost of a step inside a long call), and chunks of 1 and 16 through
StreamingSession at STREAMING_SESSION with `step()` and `step(copy=False)`; the ratio is per-step cost / one-call
per-step cost. Then streaming parity: chunks of 1 and 7 through StreamingSession against one call. Nothing is
asserted; --quick is a sanity run whose figures are not the ones to quote.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

FEATURES, HIDDEN, LAYERS, CLASSES = 40, 128, 2, 7
PARITY_STEPS = 23  # not a multiple of 7: the last chunk is a short one
USER_CODE = textwrap.dedent(
    f"""
    import torch
    from torch import nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM({FEATURES}, {HIDDEN}, num_layers={LAYERS}, batch_first=True)
            self.head = nn.Linear({HIDDEN}, {CLASSES})

        def forward(self, x):
            return self.head(self.lstm(x)[0])


    def build():
        torch.manual_seed(0)
        return Net().eval()
    """
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds, fewer calls: a sanity run")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args(argv)
    rounds, calls = (5, 50) if args.quick else (args.rounds, 200)

    import onnxruntime as ort

    from edgelstm.artifact.session import STREAMING_SESSION

    s = STREAMING_SESSION
    print(f"# {platform.machine()}, {os.cpu_count()} cores, onnxruntime {ort.__version__} CPU EP, batch 1")
    print(f"# load average at start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"# {rounds} interleaved rounds x {calls} calls (one-call baseline: {max(calls // 20, 2)}); medians; us")
    print(
        f"# STREAMING_SESSION: {s.intra_op_threads} intra-op thread(s), spinning {s.allow_spinning}, "
        f"memory pattern {s.memory_pattern}, CPU arena {s.cpu_arena}"
    )
    print(f"# model: user nn.Module, {LAYERS}x{HIDDEN} LSTM batch_first, {FEATURES} features, per-step Linear -> {CLASSES}")
    with tempfile.TemporaryDirectory(prefix="bench-user-stream-") as tmp:
        graphs = _artifacts(Path(tmp))
        per_step_table(graphs, rounds, calls, args.steps)
        parity_table(graphs)
    return 0


def _artifacts(root: Path) -> dict[str, Path]:
    """The user module's streaming graph before (batch-first, Transposes kept) and after the time-major pass."""
    import edgelstm.export.foreign as foreign
    from edgelstm.artifact.export_config import ExportConfig
    from edgelstm.export.api import export_model
    from edgelstm.export.time_major import TimeMajorRewrite
    from edgelstm.loading import load_model

    (root / "bench_user_net.py").write_text(USER_CODE)
    sys.path.insert(0, str(root))
    loaded = load_model("bench_user_net:build")
    after = export_model(loaded, root / "after", ExportConfig(form="streaming"))
    pass_on = foreign.time_major_model
    foreign.time_major_model = lambda model, interface: (model, interface, TimeMajorRewrite(False, reason="off"))  # type: ignore[assignment]
    try:
        before = export_model(loaded, root / "before", ExportConfig(form="streaming"))
    finally:
        foreign.time_major_model = pass_on
    for name, result in (("before", before), ("after", after)):
        print(
            f"# {name}: {result.path.name}, layout {result.interface.layout}, verification passed: {result.passed}, "
            f"{_nodes(result.path)}"
        )
    return {"before (batch-first)": before.path, "after (time-major)": after.path}


def _nodes(path: Path) -> str:
    import onnx

    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    return f"{len(ops)} nodes ({', '.join(ops)})"


def _stepper(path: Path, chunk: int, copy: bool = True):  # type: ignore[no-untyped-def]
    from edgelstm.artifact.session import STREAMING_SESSION
    from edgelstm.artifact.streaming import StreamingSession

    stream = StreamingSession.open(path, STREAMING_SESSION)
    piece = np.random.default_rng(chunk).standard_normal((1, chunk, FEATURES)).astype(np.float32)
    return lambda: stream.step(piece, copy=copy)


def per_step_table(graphs: dict[str, Path], rounds: int, calls: int, steps: int) -> None:
    from edgelstm.artifact.feeds import sequence_feeds
    from edgelstm.artifact.file import open_artifact
    from edgelstm.artifact.layout import graph_feeds
    from edgelstm.artifact.session import SessionSettings, session_from_onnx
    from edgelstm.timing import time_batches

    after = graphs["after (time-major)"]
    info = open_artifact(after)
    x = np.random.default_rng(0).standard_normal((1, steps, FEATURES)).astype(np.float32)
    whole = session_from_onnx(after, SessionSettings())
    feeds = graph_feeds(info.interface, sequence_feeds(info.interface, x, None, str(after)))
    rows = [("one call (feed dict)", steps, lambda: whole.run(None, feeds))]
    for chunk in (1, 16):
        for name, path in graphs.items():
            rows.append((f"{name}, step()", chunk, _stepper(path, chunk)))
            rows.append((f"{name}, step(copy=False)", chunk, _stepper(path, chunk, copy=False)))
    counts = [max(calls // 20, 2)] + [calls] * (len(rows) - 1)
    timings = time_batches([call for _, _, call in rows], rounds, counts)
    one_cpu, one_wall = timings[0].cpu_us / steps, timings[0].wall_us / steps
    print(f"\n## per step: one call over {steps} steps vs StreamingSession chunks (us per step)\n")
    print("| contender | chunk | cpu us/step | wall us/step | ÷ one-call step (cpu) | ÷ one-call step (wall) |")
    print("|---|---:|---:|---:|---:|---:|")
    for (name, chunk, _), t in zip(rows, timings, strict=True):
        cpu, wall = t.cpu_us / chunk, t.wall_us / chunk
        print(f"| {name} | {chunk} | {cpu:.2f} | {wall:.2f} | {cpu / one_cpu:.2f}x | {wall / one_wall:.2f}x |")


def parity_table(graphs: dict[str, Path]) -> None:
    from edgelstm.artifact.streaming import StreamingSession

    x = np.random.default_rng(1).standard_normal((1, PARITY_STEPS, FEATURES)).astype(np.float32)
    print(f"\n## streaming parity: StreamingSession chunks vs one call over {PARITY_STEPS} steps (max |error| of output)\n")
    print("| graph | chunks of 1 | chunks of 7 |")
    print("|---|---:|---:|")
    for name, path in graphs.items():
        stream = StreamingSession.open(path)
        whole = stream.step(x)["output"]
        errors = []
        for chunk in (1, 7):
            stream.reset(batch=1)
            pieces = [stream.step(x[:, i : i + chunk])["output"] for i in range(0, PARITY_STEPS, chunk)]
            errors.append(float(np.max(np.abs(np.concatenate(pieces, axis=1) - whole))))
        print(f"| {name} | {errors[0]:.3g} | {errors[1]:.3g} |")


if __name__ == "__main__":
    raise SystemExit(main())
