"""Our best artifact against every baseline, in one run, each contender at its best measured setting.

    python scripts/bench_targets.py runs/watch-lstm [--threads 1,2] [--spinning both] [--rounds 15]

Best artifact = dynamic int8 of the reference model (the `quantize --scheme auto` winner on it). Baselines in the
same interleaved run: torch eager fp32 and torch dynamic int8 at every thread count, and the default path
(torch.onnx.export + quantize_dynamic with default settings, run with ORT's default session options). Every
contender is compared at its own best measured setting per batch size (threads, and spinning for our sessions),
printed next to the figure. Accuracy on the held-out windows is measured for our artifact and the default path,
since a speed ratio means little at lower accuracy. The issue's targets are printed as met or missed; nothing
here is asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

BATCHES = (1, 32)
STEPS = 100


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--threads", default="1,2", help="thread counts swept for every contender")
    parser.add_argument("--spinning", choices=["off", "on", "both"], default="both", help="ORT spinning for our sessions")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)

    import numpy as np
    import onnxruntime as ort

    from edgelstm.bench import BenchConfig, run_bench
    from edgelstm.bench.best import BestSetting, best_settings, best_vs_best
    from edgelstm.bench.runner import _default_path_onnx
    from edgelstm.export.api import export_model
    from edgelstm.export.config import ExportConfig
    from edgelstm.loading import load_model
    from edgelstm.parity.data import load_sequence_data
    from edgelstm.quantize import DynamicInt8Config, quantize
    from edgelstm.runtime import session_from_onnx

    threads = tuple(int(t) for t in args.threads.split(","))
    spinning = {"off": (False,), "on": (True,), "both": (False, True)}[args.spinning]
    loaded = load_model(str(args.model))
    data = load_sequence_data(args.model / "heldout.npz", feature_size=loaded.signature.size)
    with tempfile.TemporaryDirectory() as tmp:
        best_path = quantize(loaded, DynamicInt8Config(), Path(tmp), calibration=data).path
        streaming = export_model(loaded, Path(tmp) / "s", ExportConfig(form="streaming")).path
        if best_path is None:
            print("dynamic int8 failed its parity gate: nothing to compare")
            return 1
        config = BenchConfig(
            batches=BATCHES,
            steps=(STEPS,),
            threads=threads,
            spinning=spinning,
            rounds=args.rounds,
            streaming_chunks=(1, 4, 16),
            cold_start=False,
        )
        report = run_bench([best_path, streaming], loaded, config)
        ours = session_from_onnx(best_path)
        lengths = np.full(data.count, data.x.shape[1], np.int64)
        ours_acc = float(np.mean(ours.run(["output"], {"x": data.x, "lengths": lengths})[0].argmax(-1) == data.y))
        default = ort.InferenceSession(
            str(_default_path_onnx(loaded.module, loaded.signature.size)), providers=["CPUExecutionProvider"]
        )
        default_acc = float(np.mean(default.run(None, {default.get_inputs()[0].name: data.x})[0].argmax(-1) == data.y))

    best = best_settings(report.latencies)
    at = {(b.name, b.batch): b for b in best}
    default_name = next(b.name for b in best if b.name.startswith("default path"))

    def setting(b: BestSetting) -> str:
        if b.intra_op_threads == 0:
            return "ORT defaults"
        spin = "" if b.allow_spinning is None else f", spinning {'on' if b.allow_spinning else 'off'}"
        return f"{b.intra_op_threads} thread(s){spin}"

    print(
        f"model: {args.model}; T={STEPS}; ORT CPU EP; swept threads {threads} (torch and ours), spinning "
        f"{args.spinning} (ours; one thread is never timed with spinning: no pool threads); the default path uses "
        f"ORT's default session options; {args.rounds} interleaved rounds x {config.calls_per_round} calls; p50 at "
        "each contender's best setting\n"
    )
    print(
        "| batch | ours (dynamic int8) | torch eager fp32 | torch dynamic int8 | default path | ours vs eager | vs torch int8 | vs default |"
    )
    print("|---:|---|---|---|---|---:|---:|---:|")
    ratios: dict[tuple[str, int], float] = {}
    for batch in BATCHES:
        mine = at[(best_path.name, batch)]
        cells = [at[(name, batch)] for name in ("torch eager fp32", "torch dynamic int8", default_name)]
        for name in ("torch eager fp32", "torch dynamic int8", default_name):
            ratios[(name, batch)] = best_vs_best(best, mine, name)[STEPS]
        print(
            f"| {batch} | {mine.p50_ms[STEPS]:.3f} ms ({setting(mine)}) | "
            + " | ".join(f"{c.p50_ms[STEPS]:.3f} ms ({setting(c)})" for c in cells)
            + " | "
            + " | ".join(f"{ratios[(n, batch)]:.2f}x" for n in ("torch eager fp32", "torch dynamic int8", default_name))
            + " |"
        )
    print(f"\nheld-out accuracy: ours {ours_acc:.2%}, default path {default_acc:.2%}")
    stream: dict[tuple[int, str], float] = {}
    for cost in report.streaming:
        stream[(cost.chunk, cost.mode)] = cost.per_step_us / cost.whole_sequence_per_step_us
        print(
            f"streaming chunk {cost.chunk} ({cost.mode}, 1 thread): {cost.per_step_us:.1f} us/step vs "
            f"{cost.whole_sequence_per_step_us:.1f} us/step in one call -> {stream[(cost.chunk, cost.mode)]:.2f}x"
        )

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    accurate = ours_acc >= default_acc
    print("\ntargets (issue 13; each contender at its best measured setting):")
    for batch, eager_target, default_target in ((1, 5.0, 1.5), (32, 2.5, 1.2)):
        eager = ratios[("torch eager fp32", batch)]
        dflt = ratios[(default_name, batch)]
        print(f"  batch {batch}: >= {eager_target}x torch eager fp32: {verdict(eager >= eager_target)} ({eager:.2f}x)")
        print(
            f"  batch {batch}: >= {default_target}x default path at equal or better accuracy: "
            f"{verdict(dflt >= default_target and accurate)} ({dflt:.2f}x)"
        )
    for chunk, limit in ((1, 2.5), (16, 1.2)):
        best_mode = min((v, mode) for (c, mode), v in stream.items() if c == chunk)
        print(
            f"  streaming chunk {chunk} <= {limit}x one-call per-step: {verdict(best_mode[0] <= limit)} "
            f"({best_mode[0]:.2f}x, best mode: {best_mode[1]}; 'helper' is edgelstm.runtime.StreamingSession)"
        )
    print("  GRU 2x128 >= 4x torch eager at batch 1: not measured by this script (run it on a GRU checkpoint)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
