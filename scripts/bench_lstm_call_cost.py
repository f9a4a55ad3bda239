"""What one call of ONNX Runtime's fused LSTM costs at one step, whatever its size: the floor under chunk-1 streaming.

    python scripts/bench_lstm_call_cost.py [--rounds 11] [--calls 500]

Graphs: an Identity graph (the cost of a run itself) and single-node `LSTM` graphs (one layer, batch 1, one step,
40 input features, random weights) at hidden sizes 8, 32, 64 and 128, each run through a pre-bound IO binding (no
feed dicts, no allocations per call: what edgelstm's StreamingSession does). ORT CPU EP, 1 intra-op thread, 1
inter-op thread, spinning off, graph optimization all; every graph interleaved round by round through
edgelstm.timing.time_interleaved, per-call medians. Nothing is asserted.

The LSTM column minus the Identity column is the kernel's cost for one step; its value at 8 hidden units, where
the arithmetic is negligible, is the kernel's fixed cost per call. Issue 13's chunk-1 streaming target (a streamed
step at most 2.5x a step inside one long call) has to fit this fixed cost per layer plus the run's own cost into
2.5x of 1-8 us.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

import numpy as np

HIDDEN = (8, 32, 64, 128)
FEATURES = 40


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--calls", type=int, default=500, help="calls per round per graph")
    args = parser.parse_args(argv)

    import onnxruntime as ort

    from edgelstm.artifact.session import SessionSettings, session_from_onnx
    from edgelstm.timing import TimerSettings, time_interleaved

    graphs = {"Identity (a run's own cost)": _identity()} | {f"LSTM, {h} hidden": _lstm(h) for h in HIDDEN}
    calls = []
    keep = []  # the bound numpy buffers must outlive the bindings
    for model in graphs.values():
        session = session_from_onnx(model, SessionSettings())
        binding, buffers = _bind(session)
        keep.append(buffers)
        calls.append(lambda s=session, b=binding: s.run_with_iobinding(b))
    timings = time_interleaved(calls, TimerSettings(rounds=args.rounds, calls_per_round=args.calls))
    floor = timings[0].p50_ms * 1e3
    print(f"# {platform.machine()}, {os.cpu_count()} cores, onnxruntime {ort.__version__} CPU EP, 1 intra-op thread, no spinning")
    print(f"# load average: {', '.join(f'{v:.2f}' for v in os.getloadavg())}; {args.rounds} rounds x {args.calls} calls, p50\n")
    print("| graph | us per call | minus the run's own cost |")
    print("|---|---:|---:|")
    for name, timing in zip(graphs, timings, strict=True):
        us = timing.p50_ms * 1e3
        print(f"| {name} | {us:.2f} | {us - floor:.2f} |")
    return 0


def _identity() -> bytes:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, FEATURES])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, FEATURES])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _lstm(hidden: int) -> bytes:
    """One forward LSTM layer, one step, batch 1, states in and out (as in edgelstm's streaming form)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(hidden)
    weights = [
        numpy_helper.from_array((rng.standard_normal((1, 4 * hidden, FEATURES)) * 0.1).astype(np.float32), "W"),
        numpy_helper.from_array((rng.standard_normal((1, 4 * hidden, hidden)) * 0.1).astype(np.float32), "R"),
        numpy_helper.from_array(np.zeros((1, 8 * hidden), np.float32), "B"),
    ]
    node = helper.make_node("LSTM", ["x", "W", "R", "B", "", "h", "c"], ["y", "h_out", "c_out"], hidden_size=hidden)
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, FEATURES])]
    inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1, hidden]) for n in ("h", "c")]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 1, hidden])]
    outputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1, hidden]) for n in ("h_out", "c_out")]
    graph = helper.make_graph([node], f"lstm{hidden}", inputs, outputs, weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _bind(session: object) -> tuple[object, list[np.ndarray]]:
    """Every input and output bound once to a pre-allocated numpy buffer (zeros in)."""
    binding = session.io_binding()  # type: ignore[attr-defined]
    buffers = []
    for spec, bind in ((session.get_inputs(), binding.bind_input), (session.get_outputs(), binding.bind_output)):  # type: ignore[attr-defined]
        for value in spec:
            array = np.zeros(value.shape, np.float32)
            buffers.append(array)
            bind(value.name, "cpu", 0, np.float32, array.shape, array.ctypes.data)
    return binding, buffers


if __name__ == "__main__":
    sys.exit(main())
