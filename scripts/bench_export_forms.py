"""Latency of the exported forms against torch eager, measured in one interleaved run.

    python scripts/bench_export_forms.py runs/watch-lstm [--steps 100] [--batch 1] [--repeats 15]

Every variant runs on the same input, timed by edgelstm.timing.time_interleaved (the variants interleaved in a
new shuffled order each round; machine noise here is about +-30 %), and the table reports medians and ratios
against torch eager measured in the same run. Feeds come from the one feed builder (sequence_feeds); the
streaming forms run one step per call two ways: run_in_chunks (a feed dict per call, states through numpy) and
edgelstm.artifact.streaming.StreamingSession (states in bound ORT values). ONNX Runtime: 1 intra-op thread, spinning off;
torch: 1 thread. Figures are printed with these settings; nothing is asserted.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Callable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="checkpoint dir (or anything `edgelstm export` accepts)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=15, help="interleaved rounds; the median is reported")
    parser.add_argument("--calls", type=int, default=5, help="calls per variant per round (each timed alone)")
    args = parser.parse_args(argv)

    import numpy as np
    import onnxruntime as ort
    import torch

    from edgelstm.artifact.chunks import run_in_chunks
    from edgelstm.artifact.export_config import ExportConfig
    from edgelstm.artifact.feeds import sequence_feeds
    from edgelstm.artifact.layout import run_batch_first
    from edgelstm.artifact.session import SessionSettings, session_from_onnx
    from edgelstm.artifact.streaming import StreamingSession
    from edgelstm.export.native import build_native_onnx
    from edgelstm.loading import load_model
    from edgelstm.timing import TimerSettings, time_interleaved

    torch.set_num_threads(1)
    loaded = load_model(args.model)
    if not loaded.is_native:
        print("error: this benchmark compares the native forms; give an edgelstm checkpoint", file=sys.stderr)
        return 2
    model = loaded.module.eval()
    settings = SessionSettings(intra_op_threads=1, allow_spinning=False)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, args.steps, model.config.input_size)).astype(np.float32)
    x_torch = torch.from_numpy(x)

    variants: dict[str, Callable[[], object]] = {}

    def torch_eager() -> object:
        with torch.no_grad():
            return model(x_torch)

    variants["torch eager fp32"] = torch_eager
    for impl in ("fused", "loop"):
        graph, interface = build_native_onnx(model, ExportConfig(form="sequence", impl=impl, with_lengths=False))
        session = session_from_onnx(graph.SerializeToString(), settings)
        feeds = sequence_feeds(interface, x, None, f"sequence {impl}")
        variants[f"onnx sequence {impl}"] = lambda s=session, f=feeds: s.run(None, f)
    if not model.config.bidirectional:
        for impl in ("fused", "loop"):
            graph, interface = build_native_onnx(model, ExportConfig(form="streaming", impl=impl))
            session = session_from_onnx(graph.SerializeToString(), settings)
            feeds = sequence_feeds(interface, x, None, f"streaming {impl}")

            # One call per step, carrying the state: what a live app does (feed dicts, states through numpy); the
            # slim streaming graph is time-major, fed batch-first data through the layout adapter.
            run, names = run_batch_first(interface, session.run), [o.name for o in interface.outputs]

            def chunked(r=run, n=names, i=interface, f=feeds) -> object:
                return run_in_chunks(lambda step: r(n, step), i, f, chunk=1)

            helper = StreamingSession(session, interface, batch=args.batch, where=f"streaming {impl}")

            def helped(h: StreamingSession = helper) -> object:
                h.reset()
                return [h.step(x[:, t : t + 1]) for t in range(args.steps)]

            variants[f"onnx streaming {impl}, 1 step/call (run_in_chunks)"] = chunked
            variants[f"onnx streaming {impl}, 1 step/call (StreamingSession)"] = helped

    timings = dict(zip(variants, time_interleaved(list(variants.values()), TimerSettings(args.repeats, args.calls)), strict=True))
    base = timings["torch eager fp32"].p50_ms
    cfg = model.config
    print(
        f"model: {args.model} ({cfg.cell} x{cfg.num_layers}, hidden {cfg.hidden_size}); input batch {args.batch}, T={args.steps}"
    )
    print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}; torch {torch.__version__} (1 thread), "
        f"onnxruntime {ort.__version__} (CPU EP, intra_op_threads=1, spinning off, ORT_ENABLE_ALL)"
    )
    print(f"median of {args.repeats} interleaved rounds x {args.calls} calls (edgelstm.timing.time_interleaved)\n")
    print("| variant | ms per sequence | us per step | speed-up vs torch eager |")
    print("|---|---:|---:|---:|")
    for name, timing in timings.items():
        ms = timing.p50_ms
        print(f"| {name} | {ms:.3f} | {ms * 1e3 / args.steps:.1f} | {base / ms:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
