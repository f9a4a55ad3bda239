"""How long the parity gate takes: 1,000 real sequences of 100 steps, 3 artifacts, on CPU.

    python scripts/bench_check.py runs/watch-lstm [--sequences 1000] [--repeats 3]

Exports the sequence (fused), sequence (loop) and streaming (fused) graphs of the model, then times
`run_check` end to end (float64 torch reference, stress inputs, time profiles, chunked streaming, determinism)
for several provider sets. Median of the repeats, variants interleaved; ORT 1 intra-op thread, spinning off.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="an edgelstm checkpoint with heldout.npz (scripts/train_reference.py)")
    parser.add_argument("--sequences", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import numpy as np
    import onnxruntime as ort
    import torch

    from edgelstm.artifact.export_config import ExportConfig
    from edgelstm.export.api import export_model
    from edgelstm.loading import load_model
    from edgelstm.parity import CheckConfig, run_check
    from edgelstm.parity.data import SequenceData

    torch.set_num_threads(1)
    loaded = load_model(str(args.model))
    with np.load(args.model / "heldout.npz") as archive:
        x, y = archive["x"], archive["y"]
    reps = -(-args.sequences // len(x))
    data = SequenceData(
        np.concatenate([x] * reps)[: args.sequences], None, np.concatenate([y] * reps)[: args.sequences], "heldout.npz"
    )
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = []
        for form, impl in (("sequence", "fused"), ("sequence", "loop"), ("streaming", "fused")):
            result = export_model(loaded, Path(tmp), ExportConfig(form=form, impl=impl))
            artifacts.append(result.path)
        variants = {
            "cpu": CheckConfig(providers=("cpu",)),
            "cpu + mobile": CheckConfig(providers=("cpu", "mobile")),
            "cpu + mobile + reference": CheckConfig(providers=("cpu", "mobile", "reference")),
        }
        samples: dict[str, list[float]] = {name: [] for name in variants}
        verdicts: dict[str, bool] = {}
        for _ in range(args.repeats):
            for name, config in variants.items():
                start = time.perf_counter()
                report = run_check(artifacts, loaded, data, config)
                samples[name].append(time.perf_counter() - start)
                verdicts[name] = report.passed
    print(
        f"model: {args.model} ({loaded.config.cell if loaded.config else '?'}); data: {args.sequences} sequences x {x.shape[1]} steps; "
        "artifacts: sequence_fused, sequence_loop, streaming_fused"
    )
    print(
        f"machine: {platform.machine()}, 1 torch thread; onnxruntime {ort.__version__} CPU EP, intra_op_threads=1, spinning off"
    )
    print(
        f"checks per run: data + 5 stress inputs, time profile on a {10 * x.shape[1]}-step input, chunked streaming (1, 7, 32), determinism\n"
    )
    print("| providers | median seconds | runs | verdict |")
    print("|---|---:|---|---|")
    for name, values in samples.items():
        print(
            f"| {name} | {statistics.median(values):.1f} | {', '.join(f'{v:.1f}' for v in values)} | {'pass' if verdicts[name] else 'FAIL'} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
