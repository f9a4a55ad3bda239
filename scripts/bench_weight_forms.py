"""How weight-only weights should be expanded (issue 19): DequantizeLinear vs Cast + Mul vs the fp32 graph.

    python scripts/bench_weight_forms.py [--rounds 15] [--calls 10] [--skip-lstm] [--skip-silero]

The same quantized values and scales (quantize/weight_only.py), expanded two ways by `expand_stored_weight`:
- dequantize: DequantizeLinear (per axis; int4 with block_size), the form published before issue 19;
- cast: Cast(q) * scale (int4 blocks: scales spread by Expand + Reshape), the form published now.
Each is timed in a PLAIN session (`SessionSettings.ort_defaults`: ORT's default options, no session config entry:
what `InferenceSession(path)` gives) at ORT's default threads and at 1 thread, and the dequantize form also in
edgelstm's own session (1 thread, `session.disable_quant_qdq=1`, the entry the file cannot carry). Every variant of
one model is interleaved in one run (edgelstm.timing.time_interleaved), batch 1, median. Also printed: the .onnx
bytes and the bytes of the ORT-format file the bundle writes (edgelstm.artifact.runners.convert_to_ort).

Models: a 2x128 LSTM edgelstm export (random weights, 6 features, 7 classes, T=100; latency does not depend on
the values), silero-vad 6.2.3's silero_vad_16k_op15.onnx and silero_vad.onnx (weights inside If branches), one
512-sample chunk + 64 of context, sr=16000.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--skip-lstm", action="store_true")
    parser.add_argument("--skip-silero", action="store_true")
    args = parser.parse_args(argv)

    import onnxruntime as ort

    print(
        f"# onnxruntime {ort.__version__}, {os.cpu_count()} CPUs; plain = ORT's default options and no session entry "
        f"(its thread pool, spinning on), at ORT's default threads and at 1 thread; {args.rounds} interleaved rounds x "
        f"{args.calls} calls, batch 1, median ms"
    )
    print(
        "| model | variant | .onnx bytes | .ort bytes | plain p50 | vs fp32 | plain 1 thread p50 | vs fp32 | edgelstm session p50 |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="bench-weight-forms-") as tmp:
        root = Path(tmp)
        models: list[tuple[str, Path, object]] = []
        if not args.skip_lstm:
            models.append(("lstm 2x128", _lstm(root), None))
        if not args.skip_silero:
            import silero_vad

            from edgelstm.artifact.hints import InterfaceHints

            hints = InterfaceHints({"sr": 16_000}, (), 512, 64)
            for name in ("silero_vad_16k_op15.onnx", "silero_vad.onnx"):
                models.append((name, Path(silero_vad.__file__).parent / "data" / name, hints))
        for label, path, hints in models:
            for line in _table(label, path, hints, root, args.rounds, args.calls):
                print(line)
    return 0


def _lstm(root: Path) -> Path:
    import torch

    from edgelstm.artifact.export_config import ExportConfig
    from edgelstm.checkpoint import save_checkpoint
    from edgelstm.config import HeadConfig, ModelConfig
    from edgelstm.export.api import export_model
    from edgelstm.loading import load_model
    from edgelstm.model import SequenceModel

    torch.manual_seed(0)
    config = ModelConfig(input_size=6, hidden_size=128, num_layers=2, head=HeadConfig("classify", 7))
    save_checkpoint(SequenceModel(config).eval(), root / "lstm" / "ckpt")
    return export_model(load_model(str(root / "lstm" / "ckpt")), root / "lstm" / "fp32", ExportConfig(impl="fused")).path


def _table(label: str, source: Path, hints, root: Path, rounds: int, calls: int) -> list[str]:
    import onnx

    from edgelstm.artifact.feeds import data_shape, sequence_feeds
    from edgelstm.artifact.file import open_artifact
    from edgelstm.artifact.runners import convert_to_ort
    from edgelstm.artifact.session import SessionSettings, session_from_onnx
    from edgelstm.quantize.config import WeightOnlyInt4Config, WeightOnlyInt8Config
    from edgelstm.quantize.stored_weight import CAST, DEQUANTIZE
    from edgelstm.quantize.weight_only import quantize_weights
    from edgelstm.timing import TimerSettings, time_interleaved

    out = root / source.stem
    out.mkdir(parents=True, exist_ok=True)
    variants = {"fp32": source}
    for config in (WeightOnlyInt8Config(), WeightOnlyInt4Config()):
        for form in (DEQUANTIZE, CAST):
            quantized, _ = quantize_weights(onnx.load(str(source)), config, form=form)
            variants[f"{config.storage} {form}"] = out / f"{config.storage}-{form}.onnx"
            onnx.save(quantized, str(variants[f"{config.storage} {form}"]))
    info = open_artifact(source, hints)
    x = (
        np.random.default_rng(0).standard_normal(data_shape(info.interface, 1, None if info.interface.chunk else 100)) * 0.1
    ).astype(np.float32)
    sessions = {
        "plain": SessionSettings.ort_defaults(0),
        "plain 1": SessionSettings.ort_defaults(1),
        "edgelstm": SessionSettings(),
    }
    workloads, busy, keys = [], [], []
    for name, path in variants.items():
        feeds = sequence_feeds(open_artifact(path, hints).interface, x, None, path.name)
        for kind, settings in sessions.items():
            if kind == "edgelstm" and DEQUANTIZE not in name:
                continue  # edgelstm's own session adds disable_quant_qdq only to DequantizeLinear graphs
            session = session_from_onnx(path, settings)
            names = {i.name for i in session.get_inputs()}
            own = {k: v for k, v in feeds.items() if k in names}
            workloads.append(lambda s=session, f=own: s.run(None, f))
            busy.append(settings.plain and settings.intra_op_threads != 1)
            keys.append((name, kind))
    timings = dict(zip(keys, time_interleaved(workloads, TimerSettings(rounds, calls, 3), busy), strict=True))
    lines = []
    for name, path in variants.items():
        ort_bytes = convert_to_ort(path, out).stat().st_size
        plain, one = timings[(name, "plain")].p50_ms, timings[(name, "plain 1")].p50_ms
        ours = timings.get((name, "edgelstm"))
        lines.append(
            f"| {label} | {name} | {path.stat().st_size:,} | {ort_bytes:,} | {plain:.3f} | "
            f"{plain / timings[('fp32', 'plain')].p50_ms:.2f}x | {one:.3f} | {one / timings[('fp32', 'plain 1')].p50_ms:.2f}x | "
            f"{f'{ours.p50_ms:.3f}' if ours else '-'} |"
        )
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
