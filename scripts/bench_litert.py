"""Issue 20's done-when table: LiteRT streaming .tflite files (fp32 and int8) exported, checked, timed, bundled.

    python scripts/bench_litert.py [--checkpoint runs/watch-lstm] [--chunks 1,16] [--rounds 15]

Needs the converter: pip install "edgelstm[litert-convert]". Models: the README's reference LSTM (1 layer, 64 hidden,
6 IMU features, 7 classes; its checkpoint and held-out data when --checkpoint names a trained one, else the same
architecture with random weights) and a 2x128 GRU (6 features, 7 classes, random weights). For each, at batch 1 and
each chunk length:

- `export --target litert` (streaming form): the .tflite's max |error| against float64 torch, at its shape from
  random states and streamed chunk by chunk against one whole-sequence run (the larger of the two);
- `quantize --target litert --scheme dynamic-int8` (ai-edge-quantizer), gated on the litert provider;
- `check --providers litert` on the fp32 file (the int8 file's verdict is its quantize gate's);
- `bench`: per-step cost of one call (state fed back) at 1 and 2 interpreter threads, interleaved in the same run
  with ORT's streaming graph of the same model, which is timed at the same chunk (its streaming table, 1 thread);
- `bundle --target android` + `bundle verify`.

Timings are medians of interleaved rounds on this machine; on a loaded machine they are indicative only.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="the trained reference LSTM (train_reference.py)")
    parser.add_argument("--chunks", default="1,16", help="chunk lengths, one .tflite each")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    chunks = tuple(int(c) for c in args.chunks.split(","))

    from edgelstm.export.litert_convert import converter_versions

    versions = ", ".join(f"{k} {v or 'missing'}" for k, v in converter_versions().items())
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores; {versions}")
    print(f"# batch 1, chunks {args.chunks}; bench: {args.rounds} interleaved rounds, medians; per step = per call / chunk")
    print(
        "\n| model | artifact | bytes | max abs err vs torch f64 | gate on litert | us/step 1 thr | us/step 2 thr | ORT stream us/step (1 thr, same chunk) | bundle + verify |"
    )
    print("|---|---|---:|---:|---|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory(prefix="bench-litert-") as tmp:
        for label, checkpoint, data in _models(Path(tmp), args.checkpoint):
            for row in _rows(label, checkpoint, data, Path(tmp) / label.split()[0], chunks, args.rounds):
                print("| " + " | ".join(row) + " |")
    return 0


def _models(root: Path, checkpoint: Path | None) -> list[tuple[str, Path, Path | None]]:
    import torch

    from edgelstm.checkpoint import save_checkpoint
    from edgelstm.config import HeadConfig, ModelConfig
    from edgelstm.model import SequenceModel

    def random(name: str, cell: str, hidden: int, layers: int) -> Path:
        torch.manual_seed(0)
        config = ModelConfig(
            input_size=6, hidden_size=hidden, cell=cell, num_layers=layers, head=HeadConfig("classify", 7, "last")
        )
        save_checkpoint(SequenceModel(config).eval(), root / name)
        return root / name

    trained = checkpoint is not None and (checkpoint / "config.json").exists()
    reference = checkpoint if trained and checkpoint else random("reference", "lstm", 64, 1)
    heldout = reference / "heldout.npz" if trained else None
    source = f"checkpoint {checkpoint}" if trained else "random weights"
    return [
        (f"reference LSTM 1x64 ({source})", reference, heldout if heldout and heldout.exists() else None),
        ("GRU 2x128 (random weights)", random("gru", "gru", 128, 2), None),
    ]


def _rows(label: str, checkpoint: Path, data: Path | None, root: Path, chunks: tuple[int, ...], rounds: int) -> list[list[str]]:
    from edgelstm.api import BundleOptions, CheckOptions, ExportOptions, QuantizeOptions, bundle, check, export, quantize, verify
    from edgelstm.bench import BenchConfig, run_bench
    from edgelstm.loading import load_model
    from edgelstm.model_source import ModelSource

    model = load_model(str(checkpoint))
    exported = export(model, root / "tflite", ExportOptions(form="streaming", target="litert", chunks=chunks))
    onnx_file = export(model, root / "onnx", ExportOptions(form="streaming")).path
    files = []
    for artifact in exported.artifacts:
        fp32_verdict = check([artifact.path], model, CheckOptions(data=data, providers=("litert",))).verdict
        options = QuantizeOptions(scheme="dynamic-int8", target="litert", reference=str(checkpoint), data=data, keep_failed=True)
        int8 = quantize(ModelSource(str(artifact.path)), root / "int8", options).litert
        assert int8 is not None
        files += [(artifact.path, artifact.verification.max_abs_error, fp32_verdict, artifact.shape.chunk)]
        files += [(int8.path, None, f"{int8.parity.get('verdict')} (quantize gate)", artifact.shape.chunk)]
    config = BenchConfig(
        batches=(1,), steps=(max(chunks),), threads=(1, 2), rounds=rounds, calls_per_round=3, streaming_chunks=chunks,
        baselines=False, cold_start=False, roofline=False, plain=False,
    )  # fmt: skip
    report = run_bench([p for p, *_ in files] + [onnx_file], None, config)
    per_call = {(r.name, r.threads): r.p50_ms * 1e3 / r.steps for r in report.latencies if r.provider == "litert"}
    ort = {c.chunk: c.per_step_us for c in report.streaming if c.name == onnx_file.name and c.mode == "run"}
    rows = []
    for path, error, verdict, chunk in files:
        bundled = bundle(path, root / f"bundle-{path.stem}", BundleOptions(target="android"))
        checked = verify(bundled.directory)
        rows.append(
            [
                label, path.name, f"{path.stat().st_size:,}", "-" if error is None else f"{error:.2g}", verdict,
                f"{per_call[(path.name, 1)]:.1f}", f"{per_call[(path.name, 2)]:.1f}", f"{ort.get(chunk, float('nan')):.1f}",
                f"ok ({checked.files_checked} files, ran {checked.ran})",
            ]
        )  # fmt: skip
    return rows


if __name__ == "__main__":
    sys.exit(main())
