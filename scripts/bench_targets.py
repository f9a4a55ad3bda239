"""Our best artifact against every baseline, in one run: B=1 and B=32 at T=100, plus the streaming ratio.

    python scripts/bench_targets.py runs/watch-lstm [--threads 1]

Best artifact = dynamic int8 of the reference model (the `quantize --scheme auto` winner on it). Baselines in the
same interleaved run: torch eager fp32, torch dynamic int8, and the default path (torch.onnx.export +
quantize_dynamic with default settings, run with ORT's default session options). Accuracy on the held-out
windows is measured for our artifact and the default path, since a speed ratio means little at lower accuracy.
Targets from the issue are printed as met or missed; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import numpy as np
    import onnxruntime as ort

    from edgelstm.bench import BenchConfig, run_bench
    from edgelstm.bench.runner import _default_path_onnx
    from edgelstm.export.api import export_model
    from edgelstm.export.config import ExportConfig
    from edgelstm.loading import load_model
    from edgelstm.parity.data import load_sequence_data
    from edgelstm.quantize import DynamicInt8Config, quantize
    from edgelstm.runtime import session_from_onnx

    loaded = load_model(str(args.model))
    data = load_sequence_data(args.model / "heldout.npz", feature_size=loaded.signature.size)
    with tempfile.TemporaryDirectory() as tmp:
        best = quantize(loaded, DynamicInt8Config(), Path(tmp), calibration=data).path
        streaming = export_model(loaded, Path(tmp) / "s", ExportConfig(form="streaming")).path
        assert best is not None
        config = BenchConfig(batches=(1, 32), steps=(100,), threads=(args.threads,), streaming_chunks=(1, 16), cold_start=False)
        report = run_bench([best, streaming], loaded, config)
        ours = session_from_onnx(best)
        ours_acc = float(
            np.mean(
                ours.run(["output"], {"x": data.x, "lengths": np.full(data.count, data.x.shape[1], np.int64)})[0].argmax(-1)
                == data.y
            )
        )
        default = ort.InferenceSession(
            str(_default_path_onnx(loaded.module, loaded.signature.size)), providers=["CPUExecutionProvider"]
        )
        default_acc = float(np.mean(default.run(None, {default.get_inputs()[0].name: data.x})[0].argmax(-1) == data.y))

    p50 = {(r.name, r.batch): r.p50_ms for r in report.latencies}
    best_name = best.name
    default_name = next(n for n, _ in p50 if n.startswith("default path"))
    print(
        f"model: {args.model}; T=100; ORT CPU EP, our sessions {args.threads} thread(s) without spinning; the default path "
        f"uses ORT's default session options; 15 interleaved rounds x 5 calls, p50\n"
    )
    print("| batch | ours (dynamic int8) ms | vs torch eager fp32 | vs torch dynamic int8 | vs default path |")
    print("|---:|---:|---:|---:|---:|")
    for batch in (1, 32):
        ours_ms = p50[(best_name, batch)]
        print(
            f"| {batch} | {ours_ms:.3f} | {p50[('torch eager fp32', batch)] / ours_ms:.2f}x | "
            f"{p50[('torch dynamic int8', batch)] / ours_ms:.2f}x | {p50[(default_name, batch)] / ours_ms:.2f}x |"
        )
    print(f"\nheld-out accuracy: ours {ours_acc:.2%}, default path {default_acc:.2%}")
    for cost in report.streaming:
        if cost.mode == "run":
            print(
                f"streaming chunk {cost.chunk}: {cost.per_step_us:.1f} us/step vs {cost.whole_sequence_per_step_us:.1f} us/step "
                f"in one call -> {cost.per_step_us / cost.whole_sequence_per_step_us:.1f}x"
            )
    eager1 = p50[("torch eager fp32", 1)] / p50[(best_name, 1)]
    default1 = p50[(default_name, 1)] / p50[(best_name, 1)]
    stream = min(c.per_step_us / c.whole_sequence_per_step_us for c in report.streaming if c.mode == "run")
    print("\ntargets (batch 1):")
    print(f"  >= 3x torch eager fp32: {'met' if eager1 >= 3 else 'MISSED'} ({eager1:.2f}x)")
    print(
        f"  >= 1.5x default path at equal or better accuracy: {'met' if default1 >= 1.5 and ours_acc >= default_acc else 'MISSED'} "
        f"({default1:.2f}x, accuracy {ours_acc:.2%} vs {default_acc:.2%})"
    )
    print(f"  streaming per-step <= 1.5x full-sequence per-step: {'met' if stream <= 1.5 else 'MISSED'} (best {stream:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
