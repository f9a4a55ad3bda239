"""Weight-only int8/int4 on silero-vad 6.2.3: round-to-nearest per channel vs blocks vs GPTQ, judged on streams
that calibration never saw.

Calibration: `--calibration corpus` (default) the built-in calibration stream (edgelstm.parity.speech_corpus, role
"calibration": 5 voices), or `single-voice` (synthetic speech, seed 7). Gates, each apart from calibration: "unseen"
-- synthetic speech of another seed resampled to a lower, slower voice (x0.8) -- and `--gate-corpus` the built-in
gate stream (5 voices, budget over all rows together). Prints flips at 0.5, max |dp|, artifact bytes and the shipped
file's size ratio; the figures are indicative on a loaded machine.

    python scripts/bench_rounding.py [--seconds 10] [--models silero_vad_16k_op15.onnx ...] [--gate-corpus]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import silero_vad

from edgelstm.artifact.hints import InterfaceHints
from edgelstm.parity.reference import open_file_reference
from edgelstm.parity.speech_corpus import builtin_speech
from edgelstm.parity.stream_check import StreamGate
from edgelstm.parity.stream_data import StreamData, synthetic_speech
from edgelstm.parity.stream_verdict import StreamCheckConfig
from edgelstm.quantize import quantize
from edgelstm.quantize.config import WeightOnlyConfig, WeightOnlyInt4Config, WeightOnlyInt8Config
from edgelstm.quantize.registry import SchemeRefused
from edgelstm.quantize.split import stream_split

DATA = Path(silero_vad.__file__).parent / "data"
MODELS = ("silero_vad_16k_op15.onnx", "silero_vad.onnx", "silero_vad_op18_ifless.onnx")
VARIANTS: tuple[WeightOnlyConfig, ...] = (
    WeightOnlyInt8Config(),
    WeightOnlyInt8Config(granularity="block", block_size=32),
    WeightOnlyInt8Config(rounding="gptq"),
    WeightOnlyInt8Config(rounding="gptq", granularity="auto"),
    WeightOnlyInt8Config(rounding="gptq", granularity="block", block_size=16),
    WeightOnlyInt4Config(),
    WeightOnlyInt4Config(rounding="gptq"),
)


def unseen_stream(seconds: float, rate: int = 16_000) -> StreamData:
    """Another voice: seed 23, resampled by 0.8 (pitch and formants 20 % lower, syllables 20 % slower)."""
    base = synthetic_speech(seconds + 1, rate, seed=23).x[0].astype(np.float64)
    n = int(seconds * rate)
    audio = np.interp(np.arange(n) * 0.8, np.arange(base.size), base).astype(np.float32)
    source = f"unseen: synthetic speech seed 23, resampled x0.8 (lower voice, slower), {seconds:g} s"
    return StreamData(audio[None, :], source)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--calibration", choices=("corpus", "single-voice"), default="corpus")
    parser.add_argument("--gate-corpus", action="store_true", help="also gate on the built-in gate stream")
    parser.add_argument("--variants", nargs="*", type=int, help="indices into VARIANTS (default: all)")
    args = parser.parse_args()
    hints = InterfaceHints({"sr": 16_000}, (), 512, 64)
    if args.calibration == "corpus":
        calibration = builtin_speech("calibration", args.seconds, 16_000, chunk=512)
    else:
        calibration = synthetic_speech(args.seconds, 16_000, seed=7, chunk=512)
    gates = {"unseen": unseen_stream(args.seconds)}
    if args.gate_corpus:
        gates["corpus"] = builtin_speech("gate", args.seconds, 16_000, chunk=512)
    stream_split(calibration, gates["unseen"])  # refuses when a gate row is a calibration row
    print(f"calibration: {calibration.source}")
    for label, data in gates.items():
        print(f"gate {label}: {data.source}")
    print("(loaded machine, indicative only)\n")
    print(
        f"{'model':<30} {'variant':<34} "
        + " ".join(f"{g + ' flips':>15} {'max|dp|':>8}" for g in gates)
        + f" {'bytes':>9} {'ratio':>6}"
    )
    variants = [VARIANTS[i] for i in args.variants] if args.variants else list(VARIANTS)
    for name in args.models:
        path = DATA / name
        judges = {label: StreamGate(open_file_reference(path), data, StreamCheckConfig()) for label, data in gates.items()}
        shipped = path.stat().st_size
        for config in variants:
            granularity = "block" if config.storage == "int4" else config.granularity  # int4 is always blockwise
            size = f"/b{config.block_size}" if granularity == "block" else ""  # type: ignore[attr-defined]
            label = f"{config.scheme} {config.rounding}/{granularity}{size}"
            with tempfile.TemporaryDirectory() as out:
                try:
                    result = quantize(path, config, Path(out), foreign=hints, calibration_stream=calibration)
                except SchemeRefused as exc:
                    print(f"{name:<30} {label:<34} refused: {exc}")
                    continue
                assert result.path is not None
                cells = []
                for judge in judges.values():
                    parity = judge.run(result.path)
                    flips = f"{parity.get('flips')}/{parity.get('decisions')}"
                    cells.append(f"{flips:>15} {parity.get('max_abs_delta', float('nan')):>8.4f}")
            notes = [n for n in result.notes if n.startswith(("rounding:", "rounded to nearest", "bias correction"))]
            print(
                f"{name:<30} {label:<34} {' '.join(cells)} {result.size_bytes:>9,} "
                f"{shipped / result.size_bytes:>6.2f}  {'; '.join(notes)}"
            )


if __name__ == "__main__":
    main()
