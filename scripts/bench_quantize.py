"""Every quantization scheme on the reference model: size, accuracy, error at the last step, latency.

    python scripts/bench_quantize.py runs/watch-lstm [--repeats 15]

Per scheme: file bytes and ratio against the fp32 graph of the same form, held-out accuracy against the fp32
graph's, the parity gate's verdict at the scheme's default tolerances, the error at the last step of a
1000-step input, and latency at batch 1 and 32 (T=100). Latency: ORT CPU EP, 1 intra-op thread, spinning off;
edgelstm.timing.time_interleaved (all variants interleaved in a new shuffled order each round, each call timed
alone), medians, measured in the same run. Feeds from the one feed builder (sequence_feeds).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="checkpoint with heldout.npz (scripts/train_reference.py)")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)

    import numpy as np
    import onnx
    import onnxruntime as ort

    from edgelstm.artifact.export_config import ExportConfig
    from edgelstm.artifact.feeds import sequence_feeds
    from edgelstm.artifact.file import open_artifact
    from edgelstm.artifact.session import SessionSettings, session_from_onnx
    from edgelstm.export.api import export_model
    from edgelstm.loading import load_model
    from edgelstm.parity import TolerancePolicy
    from edgelstm.parity.data import load_sequence_data
    from edgelstm.quantize import DynamicInt8Config, Fp16Config, Int4Config, SchemeRefused, StaticInt8Config, quantize
    from edgelstm.quantize.graph_facts import initializer_bytes
    from edgelstm.quantize.selection import check_artifact
    from edgelstm.timing import TimerSettings, time_interleaved

    loaded = load_model(str(args.model))
    data = load_sequence_data(args.model / "heldout.npz", feature_size=loaded.signature.size)
    if data.y is None:
        print(f"error: {args.model / 'heldout.npz'} has no labels (y): accuracy cannot be measured", file=sys.stderr)
        return 2
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        fixed = data.max_steps  # static-int8 unrolls the graph at the data's length
        for impl in ("fused", "loop", "unrolled"):
            config = ExportConfig(form="sequence", impl=impl, fixed_steps=fixed if impl == "unrolled" else None)  # type: ignore[arg-type]
            fp32 = export_model(loaded, out / f"fp32-{impl}", config)
            weights = initializer_bytes(onnx.load(str(fp32.path)))
            rows.append(
                {
                    "scheme": f"fp32 ({impl})",
                    "path": fp32.path,
                    "bytes": fp32.size_bytes,
                    "base": fp32.size_bytes,
                    "impl": impl,
                    "wratio": 1.0,
                    "wbytes": weights,
                }
            )
        base_bytes = {r["impl"]: r["bytes"] for r in rows}
        for config in (DynamicInt8Config(), StaticInt8Config(), Fp16Config(), Int4Config()):
            try:
                result = quantize(loaded, config, out / config.scheme, calibration=data)
            except SchemeRefused as exc:
                rows.append({"scheme": config.scheme, "refused": str(exc)})
                continue
            summary = check_artifact(result, loaded, data, TolerancePolicy.defaults())
            rows.append(
                {
                    "scheme": config.scheme,
                    "path": result.path,
                    "bytes": result.size_bytes,
                    "base": base_bytes[result.impl],
                    "impl": result.impl,
                    "passed": summary["passed"],
                    "last": summary.get("last_step_error"),
                    "wratio": result.weight_compression,
                    "wbytes": result.weight_bytes,
                }
            )
        calls = []
        for row in rows:
            if "path" not in row:
                continue
            interface = open_artifact(row["path"]).interface
            session = session_from_onnx(row["path"], SessionSettings(intra_op_threads=1, allow_spinning=False))
            feeds = sequence_feeds(interface, data.x, None, row["scheme"])
            row["accuracy"] = float(np.mean(session.run(["output"], feeds)[0].argmax(-1) == data.y))
            for b in (1, 32):
                batch = sequence_feeds(interface, data.x[:b], None, row["scheme"])
                calls.append((row, b, lambda s=session, f=batch: s.run(None, f)))
        timings = time_interleaved([c for _, _, c in calls], TimerSettings(args.repeats, 5))
        for (row, b, _), timing in zip(calls, timings, strict=True):
            row.setdefault("lat", {})[b] = timing.p50_ms
    fp32_acc = {r["impl"]: r["accuracy"] for r in rows if r["scheme"].startswith("fp32")}
    fp32_lat = {r["impl"]: r["lat"][1] for r in rows if r["scheme"].startswith("fp32")}
    print(
        f"model: {args.model} ({loaded.config.cell if loaded.config else '?'}, {sum(p.numel() for p in loaded.module.parameters()):,} parameters); "
        f"held-out: {data.count} windows x {data.x.shape[1]} steps"
    )
    print(
        f"machine: {platform.machine()}; onnxruntime {ort.__version__} CPU EP, intra_op_threads=1, spinning off; "
        f"median of {args.repeats} interleaved rounds x 5 calls (edgelstm.timing.time_interleaved)\n"
    )
    print(
        "| scheme | form | file bytes | vs fp32 | weight bytes | vs fp32 | held-out accuracy | vs fp32 | parity gate | error at step 1000 | ms b=1 | ms b=32 | b=1 speed-up |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    for r in rows:
        if "refused" in r:
            print(f"| {r['scheme']} | - | - | - | - | - | - | - | refused: {r['refused']} | - | - | - | - |")
            continue
        lat1, lat32 = r["lat"][1], r["lat"][32]
        gate = "reference" if r["scheme"].startswith("fp32") else ("pass" if r["passed"] else "FAIL")
        last = "-" if r.get("last") is None else f"{r['last']:.2g}"
        print(
            f"| {r['scheme']} | {r['impl']} | {r['bytes']:,} | {r['base'] / r['bytes']:.2f}x | {r['wbytes']:,} | {r['wratio']:.2f}x | {r['accuracy']:.2%} | "
            f"{(r['accuracy'] - fp32_acc[r['impl']]) * 100:+.2f} pt | {gate} | {last} | {lat1:.3f} | {lat32:.3f} | "
            f"{fp32_lat[r['impl']] / lat1:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
