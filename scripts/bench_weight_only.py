"""Weight-only int8/int4 against fp32 and dynamic int8: size, latency, and silero-vad's decisions over a stream.

    python scripts/bench_weight_only.py [--rounds 15] [--skip-rnn] [--skip-user] [--skip-silero]

Part 1: 2x128 GRU and 2x128 LSTM edgelstm models (random init: latency and size do not depend on the values),
6 features, 7-class head. fp32 fused graph vs weight-only-int8 (fused) vs dynamic-int8 (fused DynamicQuantizeLSTM
for the LSTM, Loop form for the GRU). Latency from edgelstm's bench runner: ORT CPU EP, 1 intra-op thread,
spinning off, graph optimization all, every variant interleaved round by round, median (p50) of the rounds.

Part 2: issue 10's Conv1d+BiGRU+attention user module (scripts/bench_mixed.py's, random weights x 0.3), its
torch.onnx graph as `export` writes it: fp32 vs weight-only int8 as it was published before artifacts were compacted
(tensors under 1024 elements left float, torch's names, Constants and zero-state builders kept: the pass applied by
hand, metadata as the fp32 graph's) vs weight-only int8 and mixed as `quantize` publishes them now (compacted, small
weights and GRU biases quantized where that saves bytes). Each is judged by the default parity gate (24 random
sequences, T=20, plus the gate's stress inputs); latency at batch 1, T=100, through the one timer
(edgelstm.timing.time_interleaved), ORT CPU EP, 1 intra-op thread, spinning off, every variant interleaved.

Part 3: silero-vad 6.2.3's shipped silero_vad.onnx and silero_vad_16k_op15.onnx: file size fp32 vs weight-only
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
    parser.add_argument("--skip-user", action="store_true")
    parser.add_argument("--skip-silero", action="store_true")
    args = parser.parse_args(argv)

    import onnxruntime as ort

    print(f"# {platform.processor() or platform.machine()}, Python {sys.version.split()[0]}, onnxruntime {ort.__version__}")
    with tempfile.TemporaryDirectory(prefix="bench-weight-only-") as tmp:
        if not args.skip_rnn:
            recurrent_table(Path(tmp), args.rounds)
        if not args.skip_user:
            user_module_table(Path(tmp), args.rounds)
        if not args.skip_silero:
            silero_table(Path(tmp))
    return 0


def recurrent_table(tmp: Path, rounds: int) -> None:
    import torch

    from edgelstm.artifact.export_config import ExportConfig
    from edgelstm.bench.runner import BenchConfig, run_bench
    from edgelstm.checkpoint import save_checkpoint
    from edgelstm.config import HeadConfig, ModelConfig
    from edgelstm.export.api import export_model
    from edgelstm.loading import load_model
    from edgelstm.model import SequenceModel
    from edgelstm.quantize import DynamicInt8Config, quantize
    from edgelstm.quantize.config import WeightOnlyInt8Config

    # plain=False: the rows below are keyed by name and batch; plain-session rows would overwrite them
    config = BenchConfig(
        batches=(1, 32), steps=(100,), threads=(1,), rounds=rounds, baselines=False, cold_start=False, plain=False
    )
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


def user_module_table(tmp: Path, rounds: int) -> None:
    import warnings

    import onnx
    import torch
    from bench_mixed import USER_MODULE  # scripts/ is on sys.path when a script runs: one copy of the module
    from safetensors.torch import save_file

    from edgelstm.artifact.export_config import ExportConfig
    from edgelstm.artifact.session import SessionSettings, session_from_onnx
    from edgelstm.export.api import export_model
    from edgelstm.loading import load_model
    from edgelstm.parity.data import SequenceData
    from edgelstm.quantize import quantize
    from edgelstm.quantize.config import WeightOnlyInt8Config
    from edgelstm.quantize.gate import ParityGate
    from edgelstm.quantize.mixed import search_mixed
    from edgelstm.quantize.weight_only import quantize_weights
    from edgelstm.timing import TimerSettings, time_interleaved

    out = tmp / "user"
    out.mkdir()
    (out / "bench_user_module.py").write_text(USER_MODULE)
    sys.path.insert(0, str(out))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its random init, replaced below
        module = load_model("bench_user_module:build").user_module
    torch.manual_seed(1)
    save_file({k: torch.randn_like(v) * 0.3 for k, v in module.state_dict().items()}, str(out / "weights.safetensors"))
    loaded = load_model("bench_user_module:build", out / "weights.safetensors")
    fp32 = export_model(loaded, out / "fp32", ExportConfig()).path
    rng = np.random.default_rng(0)
    data = SequenceData(rng.standard_normal((24, 20, 12)).astype(np.float32), None, None, "24 random sequences, T=20")
    gate = ParityGate(loaded, data)

    before, _ = quantize_weights(onnx.load(str(fp32)), WeightOnlyInt8Config(min_elements=1024))
    variants: dict[str, Path] = {"fp32": fp32, "weight-only-int8, before": out / "before.onnx"}
    onnx.save(before, str(variants["weight-only-int8, before"]))
    verdicts = {"fp32": "reference", "weight-only-int8, before": _verdict(gate.run(variants["weight-only-int8, before"]))}
    now = quantize(loaded, WeightOnlyInt8Config(), out / "int8", calibration=data, gate=gate, keep_failed=True)
    mixed = search_mixed(loaded, gate, out / "mixed", data).result
    for name, result in (("weight-only-int8, now", now), ("mixed, now", mixed)):
        if result is not None and result.path is not None:
            variants[name], verdicts[name] = result.path, _verdict(result.parity or {})

    settings = SessionSettings(intra_op_threads=1, allow_spinning=False)
    x = rng.standard_normal((1, 100, 12)).astype(np.float32)
    sessions = {name: session_from_onnx(path, settings) for name, path in variants.items()}
    calls = [lambda s=s: s.run(None, {"x": x}) for s in sessions.values()]
    timings = dict(zip(variants, time_interleaved(calls, TimerSettings(rounds=rounds, calls_per_round=10)), strict=True))
    base_size, base_ms = fp32.stat().st_size, timings["fp32"].p50_ms
    print(
        f"\n## Conv1d+BiGRU+attention user module (torch.onnx export), b=1 T=100, 1 intra-op thread, spinning off, {rounds} interleaved rounds x 10 calls"
    )
    print("| variant | bytes | x smaller | graph nodes | p50 ms b=1 | vs fp32 | default gate |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, path in variants.items():
        size, ms = path.stat().st_size, timings[name].p50_ms
        nodes = len(onnx.load(str(path), load_external_data=False).graph.node)
        print(f"| {name} | {size} | {base_size / size:.2f} | {nodes} | {ms:.3f} | {ms / base_ms:.2f} | {verdicts[name]} |")
    if mixed is not None:
        print(f"\nmixed: {'; '.join(mixed.notes)}")


def _verdict(summary: dict) -> str:
    figures = ", ".join(
        f"{k} {summary[k]:.4g}" for k in ("max_rel_error", "snr_db", "top1_agreement") if isinstance(summary.get(k), float)
    )
    return f"{'pass' if summary.get('passed') else 'FAIL'} ({figures})"


def speech_probabilities(path: Path, audio: np.ndarray) -> np.ndarray:
    """Per-chunk speech probability of a silero-style graph, state carried, through edgelstm's chunked runner."""
    from edgelstm.artifact.chunks import run_in_chunks
    from edgelstm.artifact.feeds import sequence_feeds
    from edgelstm.artifact.foreign import describe_onnx
    from edgelstm.artifact.session import SessionSettings, session_from_onnx

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

    from edgelstm.artifact.hints import InterfaceHints
    from edgelstm.parity.stream_data import synthetic_speech
    from edgelstm.quantize import quantize
    from edgelstm.quantize.config import WeightOnlyInt4Config, WeightOnlyInt8Config
    from edgelstm.quantize.weight_only import quantize_weights

    hints = InterfaceHints({"sr": 16_000}, (), 512, 64)  # what `quantize --const sr=16000 --chunk 512 --context 64` passes

    audio = synthetic_speech(10.0, 16000, chunk=512).x[0]  # the older single voice (`check` now streams builtin_speech)
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
            # before: the pass alone as artifacts were published before compaction (1024-element floor, names kept)
            quantized, _report = quantize_weights(onnx.load(str(source)), type(config)(min_elements=1024))
            before = tmp / f"{config.scheme}-before-{name}"
            onnx.save(quantized, str(before))
            now = quantize(source, config, tmp / f"{config.scheme}-{Path(name).stem}", foreign=hints).path
            for label, path in ((f"{config.scheme}, before", before), (f"{config.scheme}, now", now)):
                probs = speech_probabilities(path, audio)
                flipped = int(((probs > 0.5) != (reference > 0.5)).sum())
                print(
                    f"| {name} | {label} | {path.stat().st_size} | {source.stat().st_size / path.stat().st_size:.2f} | "
                    f"{float(np.abs(probs - reference).max()):.4f} | {flipped} of {len(reference)} | {speech} |"
                )


if __name__ == "__main__":
    raise SystemExit(main())
