"""Peak memory and wall time of `edgelstm check` on one very long sequence (issue 12: bounded by design).

    python scripts/check_memory.py [--steps 100000] [--form sequence] [--providers cpu,mobile,reference]

Builds a tiny reference model (LSTM, hidden 8, 2 layers, classifier), exports it, writes a .npz holding ONE
sequence of each requested length, runs the `edgelstm check` CLI in a fresh subprocess per length and prints
steps, wall time, the child's peak RSS (getrusage RUSAGE_CHILDREN ru_maxrss) and the verdict. Target: <= 2 GB.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT_MB = 2048


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="100000", help="comma list of sequence lengths, one run each")
    parser.add_argument("--form", default="sequence", choices=("sequence", "streaming"))
    parser.add_argument("--impl", default="fused", choices=("fused", "loop", "auto"))
    parser.add_argument("--providers", default="cpu,mobile,reference", help="passed to check --providers")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from edgelstm.artifact.export_config import ExportConfig
    from edgelstm.checkpoint import save_checkpoint
    from edgelstm.config import HeadConfig, ModelConfig
    from edgelstm.export.api import export_model
    from edgelstm.loading import load_model
    from edgelstm.model import SequenceModel

    rows = []
    with tempfile.TemporaryDirectory(prefix="edgelstm-check-memory-") as tmp:
        root = Path(tmp)
        torch.manual_seed(0)
        config = ModelConfig(input_size=5, hidden_size=8, num_layers=2, head=HeadConfig("classify", 7, "last"))
        save_checkpoint(SequenceModel(config).eval(), root / "ckpt")
        exported = export_model(load_model(str(root / "ckpt")), root / "onnx", ExportConfig(form=args.form, impl=args.impl))
        rng = np.random.default_rng(0)
        for steps in (int(s) for s in args.steps.split(",") if s.strip()):
            data = root / f"data_{steps}.npz"
            np.savez(data, x=rng.standard_normal((1, steps, 5)).astype(np.float32), y=np.array([3]))
            command = [
                sys.executable, "-m", "edgelstm.cli", "check", str(exported.path),
                "--reference", str(root / "ckpt"), "--data", str(data), "--providers", args.providers,
            ]  # fmt: skip
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            seconds = time.perf_counter() - start
            # ru_maxrss of children is the largest child so far (KiB on Linux): each run is larger than the last.
            peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            verdict = {0: "PASS", 1: "FAIL"}.get(done.returncode, f"exit {done.returncode}")
            if done.returncode not in (0, 1):
                print(done.stderr.strip().splitlines()[-1:] or "", file=sys.stderr)
            note = "" if peak_mb > before / 1024 else " (<= an earlier run)"
            rows.append((steps, seconds, peak_mb, verdict + note))
    print(f"edgelstm check, 1 sequence, {args.form}/{args.impl} graph, providers {args.providers}")
    print(f"{'steps':>9}  {'wall s':>8}  {'peak RSS MB':>11}  verdict")
    for steps, seconds, peak_mb, verdict in rows:
        print(f"{steps:>9}  {seconds:>8.1f}  {peak_mb:>11.0f}  {verdict}")
    worst = max(r[2] for r in rows)
    print(f"peak RSS {'within' if worst <= LIMIT_MB else 'OVER'} the {LIMIT_MB} MB target")
    return 0 if worst <= LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main())
