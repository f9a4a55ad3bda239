"""Weight-only int8/int4 against fp32 and dynamic int8: size, latency, and silero-vad's decisions over a stream.

    python scripts/bench_weight_only.py [--rounds 15] [--skip-rnn] [--skip-silero]

Part 1: 2x128 GRU and 2x128 LSTM edgelstm models (random init: latency and size do not depend on the values),
6 features, 7-class head. fp32 fused graph vs weight-only-int8 (fused) vs dynamic-int8 (fused DynamicQuantizeLSTM
for the LSTM, Loop form for the GRU). Latency from edgelstm's bench runner: ORT CPU EP, 1 intra-op thread,
spinning off, graph optimization all, every variant interleaved round by round, median (p50) of the rounds.

Part 2: silero-vad 6.2.3's shipped silero_vad.onnx and silero_vad_16k_op15.onnx: file size fp32 vs weight-only
int8 / int4, and over a 10 s synthetic 16 kHz stream (edgelstm.parity.stream_data.synthetic_speech: formant-shaped harmonics, syllables, pauses, noise),
512-sample chunks (plus 64 samples of context, as silero's own wrapper feeds them) with the state carried and sr=16000, the max |delta p| of the speech probability and the number
of decisions flipped at 0.5.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--skip-rnn", action="store_true")
    parser.add_argument("--skip-silero", action="store_true")
    args = parser.parse_args(argv)

    import onnxruntime as ort

    print(f"# {platform.processor() or platform.machine()}, Python {sys.version.split()[0]}, onnxruntime {ort.__version__}")
    with tempfile.TemporaryDirectory(prefix="bench-weight-only-") as tmp:
        if not args.skip_rnn:
            recurrent_table(Path(tmp), args.rounds)
        if not args.skip_silero:
            silero_table(Path(tmp))
    return 0


def recurrent_table(tmp: Path, rounds: int) -> None:
    import torch

    from edgelstm.bench.runner import BenchConfig, run_bench
    from edgelstm.checkpoint import save_checkpoint
    from edgelstm.config import HeadConfig, ModelConfig
    from edgelstm.export.api import export_model
    from edgelstm.export.config import ExportConfig
    from edgelstm.loading import load_model
    from edgelstm.model import SequenceModel
    from edgelstm.quantize import DynamicInt8Config, quantize
    from edgelstm.quantize.config import WeightOnlyInt8Config

    config = BenchConfig(batches=(1, 32), steps=(100,), threads=(1,), rounds=rounds, baselines=False, cold_start=False)
    print(f"\n## 2x128 recurrent models (random init), T=100, 1 intra-op thread, spinning off, {rounds} interleaved rounds")
    print("| cell | variant | form | bytes | x smaller | p50 ms b=1 | vs fp32 | p50 ms b=32 | vs fp32 |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for cell in ("gru", "lstm"):
        torch.manual_seed(0)
        model = SequenceModel(ModelConfig(input_size=6, hidden_size=128, num_layers=2, cell=cell, head=HeadConfig("classify", 7)))
        save_checkpoint(model, tmp / cell)
        loaded = load_model(str(tmp / cell))
        fp32 = export_model(loaded, tmp / f"{cell}-fp32", ExportConfig(impl="fused")).path
        variants = {"fp32": fp32}
        for scheme in (WeightOnlyInt8Config(), DynamicInt8Config()):
            variants[scheme.scheme] = quantize(loaded, scheme, tmp / f"{cell}-{scheme.scheme}").path  # type: ignore[assignment]
        report = run_bench(list(variants.values()), None, config)
        p50 = {(r.name, r.batch): r.p50_ms for r in report.latencies}
        base_size = fp32.stat().st_size
        for name, path in variants.items():
            form = "loop" if "loop" in path.name else "fused"
            b1, b32 = p50[(path.name, 1)], p50[(path.name, 32)]
            print(
                f"| {cell} | {name} | {form} | {path.stat().st_size} | {base_size / path.stat().st_size:.2f} | {b1:.3f} | "
                f"{b1 / p50[(fp32.name, 1)]:.2f} | {b32:.3f} | {b32 / p50[(fp32.name, 32)]:.2f} |"
            )


def speech_probabilities(path: Path, audio: np.ndarray) -> np.ndarray:
    """Per-chunk speech probability of a silero-style graph, state carried, through edgelstm's chunked runner."""
    from edgelstm.onnx_interface import describe_onnx
    from edgelstm.parity.artifacts import sequence_feeds
    from edgelstm.parity.chunked import run_in_chunks
    from edgelstm.runtime import SessionSettings, session_from_onnx

    # silero 5+ sees the last 64 samples of the previous chunk before each one (its OnnxWrapper does so).
    interface = describe_onnx(path, constants={"sr": 16000}, chunk=512).to_graph_interface(context=64)
    session = session_from_onnx(path, SessionSettings(intra_op_threads=1))
    x = audio[: len(audio) // 512 * 512][None, :]
    feeds = sequence_feeds(interface, x, None, path.name)
    outputs = run_in_chunks(lambda f: session.run(None, f), interface, feeds, 512)
    names = [o.name for o in interface.outputs]
    return np.asarray(outputs[names.index("output")]).reshape(-1)


def silero_table(tmp: Path) -> None:
    import onnx
    import silero_vad

    from edgelstm.parity.stream_data import synthetic_speech
    from edgelstm.quantize.config import WeightOnlyInt4Config, WeightOnlyInt8Config
    from edgelstm.quantize.weight_only import quantize_weights

    audio = synthetic_speech(10.0, 16000, chunk=512).x[0]  # the audio `edgelstm check` streams without --data
    print(f"\n## silero-vad {getattr(silero_vad, '__version__', '6.2.3')}: 10 s synthetic stream, 512-sample chunks, sr=16000")
    print(
        "| graph | variant | bytes | x smaller | max abs dp | decisions flipped at 0.5 | fp32: speech chunks, within 0.1 of 0.5 |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in ("silero_vad.onnx", "silero_vad_16k_op15.onnx"):
        source = Path(silero_vad.__file__).parent / "data" / name
        reference = speech_probabilities(source, audio)
        speech = f"{int((reference > 0.5).sum())}, {int((np.abs(reference - 0.5) < 0.1).sum())}"
        print(f"| {name} | fp32 | {source.stat().st_size} | 1.00 | 0 | 0 of {len(reference)} | {speech} |")
        for config in (WeightOnlyInt8Config(), WeightOnlyInt4Config()):
            quantized, _report = quantize_weights(onnx.load(str(source)), config)
            path = tmp / f"{config.scheme}-{name}"
            onnx.save(quantized, str(path))
            probs = speech_probabilities(path, audio)
            flipped = int(((probs > 0.5) != (reference > 0.5)).sum())
            print(
                f"| {name} | {config.scheme} | {path.stat().st_size} | {source.stat().st_size / path.stat().st_size:.2f} | "
                f"{float(np.abs(probs - reference).max()):.4f} | {flipped} of {len(reference)} | {speech} |"
            )


if __name__ == "__main__":
    raise SystemExit(main())
