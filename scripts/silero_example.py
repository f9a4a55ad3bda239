"""The README's silero-vad table: each shipped fp32 ONNX file and what `edgelstm quantize` publishes from it.

For both `silero_vad.onnx` (weights inside If branches) and `silero_vad_16k_op15.onnx`: size, ratio vs the fp32
file, speech decisions flipped at 0.5 over a 10 s synthetic speech-like stream in 512-sample chunks (+ 64 samples
of context, state carried), max |delta p|, and per-chunk latency p50 at batch 1 and 1 intra-op thread (spinning
off, variants interleaved in shuffled order, 15 rounds x 5 calls), through the same library calls the CLI makes.
ORT's default `quantize_dynamic` is shown beside them, gated the same way but never published.

    python scripts/silero_example.py [--rounds 15] [--seconds 10] [--signal corpus|single-voice]

--signal corpus (the default, what `check`/`quantize` stream without --data): the built-in gate stream, one row
per synthetic voice, `--seconds` each; single-voice: the older one-voice signal the README's first table used.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from edgelstm.artifact.file import open_artifact
from edgelstm.artifact.hints import InterfaceHints
from edgelstm.bench import BenchConfig, run_bench
from edgelstm.parity.reference import OnnxReference
from edgelstm.parity.speech_corpus import builtin_speech
from edgelstm.parity.stream_check import StreamGate, run_stream_check
from edgelstm.parity.stream_data import synthetic_speech
from edgelstm.quantize.api import quantize
from edgelstm.quantize.registry import SchemeRefused
from edgelstm.quantize.selection import foreign_schemes

FILES = ("silero_vad.onnx", "silero_vad_16k_op15.onnx")
HINTS = InterfaceHints({"sr": 16000}, (), 512, 64)


def ort_default_dynamic(model: Path, target: Path) -> Path:
    """What a user gets without edgelstm: quantize_dynamic with its defaults (all op types it knows)."""
    from onnxruntime.quantization import quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)
    quantize_dynamic(str(model), str(target))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--signal", choices=("corpus", "single-voice"), default="corpus")
    args = parser.parse_args()
    import silero_vad

    data_dir = Path(silero_vad.__file__).parent / "data"
    # GPTQ's statistics come from the calibration role's audio, never the gate's
    calibration = builtin_speech("calibration", args.seconds, 16_000, chunk=512)
    if args.signal == "corpus":
        audio = builtin_speech("gate", args.seconds, 16_000, chunk=512)  # 5 voices x >= 10 s in whole chunks: 5 x 313
    else:
        audio = synthetic_speech(args.seconds, 16_000, chunk=512)  # >= 10 s in whole chunks: 313
    rows = []
    with tempfile.TemporaryDirectory(prefix="silero-example-") as tmp:
        for name in FILES:
            model = data_dir / name
            reference = OnnxReference(model)
            gate = StreamGate(reference, audio)
            variants: list[tuple[str, Path, str]] = [("fp32 (shipped)", model, "reference")]
            for config in foreign_schemes():
                try:
                    result = quantize(model, config, Path(tmp) / name, gate=gate, foreign=HINTS, calibration_stream=calibration)
                except SchemeRefused as exc:
                    rows.append((name, config.tag, "-", "-", "-", "-", "-", f"refused: {str(exc)[:70]}"))
                    continue
                if result.path is None:
                    rows.append((name, config.tag, f"{result.size_bytes:,}", "-", "-", "-", "-", "failed the gate"))
                    continue
                variants.append((config.tag, result.path, "published"))
            default = ort_default_dynamic(model, Path(tmp) / f"{model.stem}.ort-default-dynamic.onnx")
            variants.append(("ORT quantize_dynamic defaults", default, "not published"))
            bench = run_bench(
                [path for _, path, _ in variants],
                None,
                BenchConfig(
                    batches=(1,), rounds=args.rounds, cold_start=False, baselines=False, plain=False
                ),  # edgelstm's row only
                HINTS,
            )
            latency = {r.name: r.p50_ms for r in bench.latencies}
            fp32_bytes = model.stat().st_size
            for label, path, status in variants:
                checked = run_stream_check(open_artifact(path, HINTS), reference, audio) if path != model else None
                candidate = checked.candidates[0] if checked is not None else None
                flips = f"{candidate.flips} / {candidate.decisions}" if candidate is not None else "-"
                delta = f"{candidate.max_abs_delta:.3f}" if candidate is not None else "-"
                verdict = status if checked is None or checked.passed else f"{status}; gate FAIL"
                size = path.stat().st_size
                rows.append(
                    (
                        name,
                        label,
                        f"{size:,}",
                        f"{fp32_bytes / size:.2f}x",
                        flips,
                        delta,
                        f"{latency[path.name]:.3f}",
                        verdict,
                    )
                )
    header = ("model", "artifact", "bytes", "vs fp32", "flipped", "max |dp|", "p50 ms/chunk", "")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    print(
        f"\nsettings: {audio.source}; chunks of 512 (+64 context), threshold 0.5, the budget on every row;"
        f" ORT CPU EP, 1 intra-op thread, spinning off, batch 1, {args.rounds} interleaved rounds x 5 calls, p50"
    )


if __name__ == "__main__":
    main()
