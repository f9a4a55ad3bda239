"""Latency of the exported forms against torch eager, measured in one interleaved run.

    python scripts/bench_export_forms.py runs/watch-lstm [--steps 100] [--batch 1] [--repeats 15]

Every variant runs on the same input; the variants are interleaved in a shuffled order each repeat (machine
noise here is about +-30 %), and the table reports medians and ratios against torch eager measured in the
same run. ONNX Runtime: 1 intra-op thread, spinning off; torch: 1 thread. Figures are printed with these
settings; nothing is asserted.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="checkpoint dir (or anything `edgelstm export` accepts)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=15, help="interleaved rounds; the median is reported")
    parser.add_argument("--calls", type=int, default=20, help="calls per variant per round")
    args = parser.parse_args(argv)

    import numpy as np
    import onnxruntime as ort
    import torch

    from edgelstm.export.config import ExportConfig
    from edgelstm.export.native import build_native_onnx
    from edgelstm.loading import load_model
    from edgelstm.runtime import SessionSettings, session_from_onnx

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
        graph, _ = build_native_onnx(model, ExportConfig(form="sequence", impl=impl, with_lengths=False))
        session = session_from_onnx(graph.SerializeToString(), settings)
        variants[f"onnx sequence {impl}"] = lambda s=session: s.run(None, {"x": x})
    streaming = not model.config.bidirectional
    if streaming:
        for impl in ("fused", "loop"):
            graph, interface = build_native_onnx(model, ExportConfig(form="streaming", impl=impl))
            session = session_from_onnx(graph.SerializeToString(), settings)
            zeros = {
                s.input_name: np.zeros([args.batch if d == "batch" else d for d in s.shape], np.float32) for s in interface.states
            }
            outputs = [o.name for o in interface.outputs]

            def step_by_step(s=session, z=zeros, names=outputs, states=interface.states) -> object:
                carried = dict(z)
                for t in range(args.steps):  # one call per step, carrying the state: what a live app does
                    result = dict(zip(names, s.run(names, {"x": x[:, t : t + 1], **carried}), strict=False))
                    carried = {st.input_name: result[st.output_name] for st in states}
                return carried

            variants[f"onnx streaming {impl}, 1 step/call"] = step_by_step

    for fn in variants.values():  # warm-up
        fn()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for _ in range(args.repeats):
        random.shuffle(order)
        for name in order:
            start = time.perf_counter()
            for _ in range(args.calls):
                variants[name]()
            samples[name].append((time.perf_counter() - start) / args.calls)

    base = statistics.median(samples["torch eager fp32"])
    cfg = model.config
    print(
        f"model: {args.model} ({cfg.cell} x{cfg.num_layers}, hidden {cfg.hidden_size}); input batch {args.batch}, T={args.steps}"
    )
    print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}; torch {torch.__version__} (1 thread), "
        f"onnxruntime {ort.__version__} (CPU EP, intra_op_threads=1, spinning off, ORT_ENABLE_ALL)"
    )
    print(f"median of {args.repeats} interleaved rounds x {args.calls} calls\n")
    print("| variant | ms per sequence | us per step | speed-up vs torch eager |")
    print("|---|---:|---:|---:|")
    for name in variants:
        median = statistics.median(samples[name])
        print(f"| {name} | {median * 1e3:.3f} | {median * 1e6 / args.steps:.1f} | {base / median:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
