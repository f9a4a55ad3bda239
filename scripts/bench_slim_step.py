"""Issue 21's acceptance figures: a streamed step through StreamingSession against a step inside one long call.

    python scripts/bench_slim_step.py [--quick] [--rounds 21] [--steps 100] [--skip-settings] [--breakdown]

Models: 2x128 LSTM (40 features) and 2x128 GRU (6 features), 7 classes, last-step head, random weights (the cost
does not depend on the values), each exported in edgelstm's streaming form three ways: the slim layout `export`
writes (time-major data in and out, issue 21), the same graph batch-first (a Transpose at its input and its output:
the slim graph before its data went time-major) and the stacked layout written before issue 21
(edgelstm.export.api.write_stacked_streaming), side by side.

1. settings: the slim graph at chunk 1 through StreamingSession under every combination of intra-op threads (1, 2),
   spinning, ORT's memory pattern and CPU arena; the fastest by thread CPU time (and by wall time: CPU time counts
   the calling thread only) is what STREAMING_SESSION should hold (edgelstm/artifact/session.py).
2. per step: one call over --steps steps (feed dict, 1 thread, no spinning: the per-step cost of a step inside a long
   call) and chunks of 1 and 16 through StreamingSession: the stacked layout at the old default settings (1 thread,
   no spinning), the slim batch-first graph at STREAMING_SESSION with step() copying its outputs (before), the slim
   time-major graph with step() and with step(copy=False) (read-only views of the bound output buffers: no
   allocation per call); the ratio is per-step cost / one-call per-step cost (issue 21's target: <= 3.0x at chunk 1;
   chunk 16 no worse than the old layout). Also the run's floor: the same StreamingSession over a pass-through graph
   with the slim graph's inputs and outputs (edgelstm.bench.floor).
3. parity: chunks of 1 and 7 through StreamingSession against one call over the same steps, max |error| of the
   output, all three graphs.
4. (--breakdown) where a call's time goes, graph by graph, each run through one pre-bound IO binding (no Python
   around it): a pass-through graph, the stacked layout, the slim graph batch-first and time-major, the time-major
   graph without its last Squeeze (the head on [chunk, 1, batch, H]: one node fewer, measured only), and the slim
   graph at ORT's default memory pattern and arena.

Every workload of a table is interleaved round by round (edgelstm.timing.time_batches: a new order each round, a
batch of calls per sample), medians of the rounds, thread CPU time and wall time. Nothing is asserted. --quick:
5 rounds of fewer calls, a sanity run (its figures are not the ones to quote).
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

MODELS = (("LSTM 2x128, 40 features", "lstm", 40), ("GRU 2x128, 6 features", "gru", 6))
PARITY_STEPS = 23  # not a multiple of 7: the last chunk is a short one


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds, fewer calls: a sanity run")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--skip-settings", action="store_true")
    parser.add_argument("--breakdown", action="store_true", help="also time graph variants through a bare IO binding")
    args = parser.parse_args(argv)
    rounds, calls = (5, 50) if args.quick else (args.rounds, 200)

    import onnxruntime as ort

    from edgelstm.artifact.session import STREAMING_SESSION

    print(f"# {platform.machine()}, {os.cpu_count()} cores, onnxruntime {ort.__version__} CPU EP, batch 1")
    print(f"# load average at start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"# {rounds} interleaved rounds x {calls} calls (one-call baseline: {max(calls // 20, 2)}); medians; us")
    print(f"# STREAMING_SESSION: {_describe(STREAMING_SESSION)}")
    with tempfile.TemporaryDirectory(prefix="bench-slim-") as tmp:
        artifacts = {cell: _artifacts(Path(tmp), cell, features) for _, cell, features in MODELS}
        if not args.skip_settings:
            settings_table(artifacts, rounds, calls)
        per_step_table(artifacts, rounds, calls, args.steps)
        parity_table(artifacts)
        if args.breakdown:
            breakdown_table(artifacts, rounds, calls)
    return 0


def _artifacts(root: Path, cell: str, features: int) -> dict[str, Path]:
    """The slim streaming graph (time-major), the same graph batch-first (what the slim form was before its data
    went time-major), and the stacked streaming graph of one random-weight model."""
    import torch

    from edgelstm.artifact.export_config import ExportConfig
    from edgelstm.checkpoint import save_checkpoint
    from edgelstm.config import HeadConfig, ModelConfig
    from edgelstm.export.api import export_model, write_stacked_streaming
    from edgelstm.loading import load_model
    from edgelstm.model import SequenceModel

    torch.manual_seed(0)
    config = ModelConfig(input_size=features, hidden_size=128, cell=cell, num_layers=2, head=HeadConfig("classify", 7, "last"))
    save_checkpoint(SequenceModel(config).eval(), root / cell / "ckpt")
    loaded = load_model(str(root / cell / "ckpt"))
    slim = export_model(loaded, root / cell / "slim", ExportConfig(form="streaming")).path
    old = write_stacked_streaming(loaded, root / cell / "old.onnx")
    return {"new": slim, "batch_first": _batch_first_copy(slim, root / cell / "batch_first.onnx"), "old": old}


def _batch_first_copy(path: Path, target: Path) -> Path:
    """A copy of a time-major slim graph with a Transpose at its data input and one at its output and batch-first
    metadata: the slim graph as it was before its data went time-major (edited here for this measurement only)."""
    import json

    import onnx
    from onnx import helper

    from edgelstm.artifact.metadata import KEY_PREFIX

    model = onnx.load(str(path))
    graph = model.graph
    data, out = graph.input[0].name, "output"
    for node in graph.node:
        node.input[:] = [f"{data}_tm" if i == data else i for i in node.input]
        node.output[:] = [f"{out}_tm" if o == out else o for o in node.output]
    graph.node.insert(0, helper.make_node("Transpose", [data], [f"{data}_tm"], perm=[1, 0, 2]))
    graph.node.append(helper.make_node("Transpose", [f"{out}_tm"], [out], perm=[1, 0, 2]))
    for value in (graph.input[0], next(o for o in graph.output if o.name == out)):
        dims = value.type.tensor_type.shape.dim
        dims[0].dim_param, dims[1].dim_param = dims[1].dim_param, dims[0].dim_param
    for prop in model.metadata_props:
        if prop.key == KEY_PREFIX + "interface":
            interface = json.loads(prop.value)
            interface.pop("layout")
            for spec in interface["inputs"][:1] + interface["outputs"][:1]:
                spec["shape"][0], spec["shape"][1] = spec["shape"][1], spec["shape"][0]
            prop.value = json.dumps(interface, sort_keys=True)
    onnx.save(model, str(target))
    return target


def _describe(settings: object) -> str:
    s = settings
    return (
        f"{s.intra_op_threads} intra-op thread(s), spinning {'on' if s.allow_spinning else 'off'}, "  # type: ignore[attr-defined]
        f"memory pattern {'on' if s.memory_pattern else 'off'}, CPU arena {'on' if s.cpu_arena else 'off'}"  # type: ignore[attr-defined]
    )


def _stepper(path: Path, settings: object, chunk: int, features: int, copy: bool = True):  # type: ignore[no-untyped-def]
    """A StreamingSession on `path` and a call that steps it on `chunk` steps of zeros-free random data (`copy`:
    step's outputs copied out, or read-only views of the bound buffers)."""
    from edgelstm.artifact.file import open_artifact
    from edgelstm.artifact.session import session_from_onnx
    from edgelstm.artifact.streaming import StreamingSession

    info = open_artifact(path)
    stream = StreamingSession(session_from_onnx(path, settings), info.interface, 1, str(path))  # type: ignore[arg-type]
    piece = np.random.default_rng(chunk).standard_normal((1, chunk, features)).astype(np.float32)
    return lambda: stream.step(piece, copy=copy)


def settings_table(artifacts: dict[str, dict[str, Path]], rounds: int, calls: int) -> None:
    from edgelstm.artifact.session import SessionSettings
    from edgelstm.timing import time_batches

    grid = list(itertools.product((1, 2), (False, True), (True, False), (True, False)))
    print("\n## 1. session settings: slim graph, chunk 1, StreamingSession, per call (thread CPU / wall)\n")
    print("| model | threads | spinning | memory pattern | CPU arena | cpu us | wall us |")
    print("|---|---:|---|---|---|---:|---:|")
    for label, cell, features in MODELS:
        variants = [SessionSettings(intra_op_threads=t, allow_spinning=s, memory_pattern=m, cpu_arena=a) for t, s, m, a in grid]
        steps = [_stepper(artifacts[cell]["new"], v, 1, features) for v in variants]
        timings = time_batches(steps, rounds, calls)
        best = min(range(len(variants)), key=lambda i: timings[i].cpu_us)
        # thread CPU time counts the calling thread only: a second intra-op thread's work is not in it, so the
        # fastest by wall time (what an app waits, on a quiet machine) is printed too
        best_wall = min(range(len(variants)), key=lambda i: timings[i].wall_us)
        for i, (v, t) in enumerate(zip(variants, timings, strict=True)):
            mark = (" **fastest (cpu)**" if i == best else "") + (" **fastest (wall)**" if i == best_wall else "")
            on = {True: "on", False: "off"}
            print(
                f"| {label}{mark} | {v.intra_op_threads} | {on[v.allow_spinning]} | {on[v.memory_pattern]} | "
                f"{on[v.cpu_arena]} | {t.cpu_us:.2f} | {t.wall_us:.2f} |"
            )
        print(f"\nfastest for {label} by thread CPU time: {_describe(variants[best])}")
        print(f"fastest for {label} by wall time: {_describe(variants[best_wall])}\n")


def per_step_table(artifacts: dict[str, dict[str, Path]], rounds: int, calls: int, steps: int) -> None:
    from edgelstm.artifact.feeds import sequence_feeds
    from edgelstm.artifact.file import open_artifact
    from edgelstm.artifact.layout import graph_feeds
    from edgelstm.artifact.session import STREAMING_SESSION, SessionSettings, session_from_onnx
    from edgelstm.bench.floor import FloorSessions
    from edgelstm.timing import time_batches

    old_settings = SessionSettings()  # what StreamingSession opened with before issue 21
    print(f"\n## 2. per step: one call over {steps} steps vs StreamingSession chunks (thread CPU / wall, us per step)\n")
    print("| model | contender | chunk | cpu us/step | wall us/step | ÷ one-call step (cpu) | ÷ one-call step (wall) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for label, cell, features in MODELS:
        new, old = artifacts[cell]["new"], artifacts[cell]["old"]
        info = open_artifact(new)
        x = np.random.default_rng(0).standard_normal((1, steps, features)).astype(np.float32)
        whole = session_from_onnx(new, SessionSettings())
        feeds = graph_feeds(info.interface, sequence_feeds(info.interface, x, None, str(new)))  # time-major
        one_piece = np.ascontiguousarray(x[:, :1])
        floor_feeds = graph_feeds(info.interface, sequence_feeds(info.interface, one_piece, None, "floor"))
        floor = FloorSessions.open(info.interface).calls(one_piece, floor_feeds)[1]
        rows = [("one call (feed dict)", steps, lambda s=whole, f=feeds: s.run(None, f))]
        for chunk in (1, 16):
            rows += [
                (
                    f"old layout, old settings ({old_settings.intra_op_threads} thread, arena+pattern on)",
                    chunk,
                    _stepper(old, old_settings, chunk, features),
                ),
                (
                    "slim batch-first (before: Transposes in and out), STREAMING_SESSION",
                    chunk,
                    _stepper(artifacts[cell]["batch_first"], STREAMING_SESSION, chunk, features),
                ),
                ("new layout (slim time-major), STREAMING_SESSION", chunk, _stepper(new, STREAMING_SESSION, chunk, features)),
                (
                    "new layout (slim time-major), STREAMING_SESSION, step(copy=False)",
                    chunk,
                    _stepper(new, STREAMING_SESSION, chunk, features, copy=False),
                ),
            ]
        rows.append(("floor: pass-through graph, STREAMING_SESSION", 1, floor))
        counts = [max(calls // 20, 2)] + [calls] * (len(rows) - 1)
        timings = time_batches([call for _, _, call in rows], rounds, counts)
        one_cpu, one_wall = timings[0].cpu_us / steps, timings[0].wall_us / steps
        for (name, chunk, _), t in zip(rows, timings, strict=True):
            cpu, wall = t.cpu_us / chunk, t.wall_us / chunk
            print(f"| {label} | {name} | {chunk} | {cpu:.2f} | {wall:.2f} | {cpu / one_cpu:.2f}x | {wall / one_wall:.2f}x |")


def parity_table(artifacts: dict[str, dict[str, Path]]) -> None:
    from edgelstm.artifact.feeds import sequence_feeds
    from edgelstm.artifact.file import open_artifact
    from edgelstm.artifact.layout import run_batch_first
    from edgelstm.artifact.session import session_from_onnx
    from edgelstm.artifact.streaming import StreamingSession

    print(f"\n## 3. streaming parity: chunks through StreamingSession vs one call, {PARITY_STEPS} steps, batch 2\n")
    print("| model | layout | chunk | max abs error of `output` |")
    print("|---|---|---:|---:|")
    for label, cell, features in MODELS:
        x = np.random.default_rng(3).standard_normal((2, PARITY_STEPS, features)).astype(np.float32)
        for layout in ("old", "batch_first", "new"):
            path = artifacts[cell][layout]
            info = open_artifact(path)
            run = run_batch_first(info.interface, session_from_onnx(path).run)
            whole = run(["output"], sequence_feeds(info.interface, x, None, str(path)))[0]
            for chunk in (1, 7):
                stream = StreamingSession.open(info, batch=2)
                pieces = [stream.step(x[:, start : start + chunk])["output"] for start in range(0, PARITY_STEPS, chunk)]
                error = float(np.max(np.abs(np.concatenate(pieces, axis=1) - whole)))
                print(f"| {label} | {layout} | {chunk} | {error:.3g} |")


def breakdown_table(artifacts: dict[str, dict[str, Path]], rounds: int, calls: int) -> None:
    import onnx

    from edgelstm.artifact.file import open_artifact
    from edgelstm.artifact.session import STREAMING_SESSION, SessionSettings, session_from_onnx
    from edgelstm.bench.floor import passthrough_graph
    from edgelstm.timing import time_batches

    print("\n## 4. breakdown: one call at chunk 1 through a bare pre-bound IO binding (thread CPU / wall, us per call)\n")
    print("| model | graph | nodes | cpu us | wall us |")
    print("|---|---|---:|---:|---:|")
    for label, cell, _ in MODELS:
        new, old = artifacts[cell]["new"], artifacts[cell]["old"]
        slim, batch_first = onnx.load(str(new)), onnx.load(str(artifacts[cell]["batch_first"]))
        variants = [
            ("pass-through (floor)", passthrough_graph(open_artifact(new).interface), STREAMING_SESSION),
            ("old layout", onnx.load(str(old)), STREAMING_SESSION),
            ("slim, batch-first data in and out (Transposes)", batch_first, STREAMING_SESSION),
            ("slim, time-major data in and out (export's)", slim, STREAMING_SESSION),
            (
                "slim, time-major, last Squeeze left out (output [chunk, 1, batch, C])",
                _without_last_squeeze(slim),
                STREAMING_SESSION,
            ),
            ("slim, time-major, ORT's default memory pattern and arena", slim, SessionSettings()),
        ]
        bound = [_bare_binding(session_from_onnx(g.SerializeToString(), settings)) for _, g, settings in variants]
        timings = time_batches([lambda s=s, b=b: s.run_with_iobinding(b) for s, b, _ in bound], rounds, calls)
        for (name, graph, _), t in zip(variants, timings, strict=True):
            print(f"| {label} | {name} | {len(graph.graph.node)} | {t.cpu_us:.2f} | {t.wall_us:.2f} |")


def _without_last_squeeze(model):  # type: ignore[no-untyped-def]
    """A copy of a time-major slim graph whose head reads the top layer's [chunk, 1, batch, H] output as it is (no
    Squeeze of the direction axis), so its output is [chunk, 1, batch, C]: what one node fewer would save, measured
    only (an output with the direction axis in it is not a layout edgelstm writes)."""
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    graph = copy.graph
    node = [n for n in graph.node if n.op_type == "Squeeze"][-1]
    source, target = node.input[0], node.output[0]
    graph.node.remove(node)
    for other in graph.node:
        other.input[:] = [source if i == target else i for i in other.input]
    output = graph.output[0].type.tensor_type.shape
    output.dim.insert(1, onnx.TensorShapeProto.Dimension(dim_value=1))
    return copy


def _bare_binding(session):  # type: ignore[no-untyped-def]
    """Every input and output of `session` bound once to a pre-allocated buffer at batch 1, chunk 1."""
    binding = session.io_binding()
    buffers = []
    for values, bind in ((session.get_inputs(), binding.bind_input), (session.get_outputs(), binding.bind_output)):
        for value in values:
            array = np.zeros([d if isinstance(d, int) else 1 for d in value.shape], np.float32)
            buffers.append(array)
            bind(value.name, "cpu", 0, np.float32, array.shape, array.ctypes.data)
    return session, binding, buffers


if __name__ == "__main__":
    sys.exit(main())
