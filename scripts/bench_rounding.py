"""Weight-only int8/int4 on silero-vad 6.2.3: round-to-nearest per channel vs blocks vs GPTQ, judged on a stream
that calibration never saw.

Calibration: synthetic speech (seed 7). Gate: a different stream -- synthetic speech of another seed, resampled to a
lower, slower voice (x0.8) -- so a number here is not measured on the data that tuned the rounding. Prints flips at 0.5, max |dp|, artifact bytes and the shipped file's size ratio.

    python scripts/bench_rounding.py [--seconds 10] [--models silero_vad_16k_op15.onnx ...]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import silero_vad

from edgelstm.onnx_interface import InterfaceHints
from edgelstm.parity.reference import open_file_reference
from edgelstm.parity.stream_check import StreamCheckConfig, StreamGate
from edgelstm.parity.stream_data import StreamData, synthetic_speech
from edgelstm.quantize import quantize
from edgelstm.quantize.api import SchemeRefused
from edgelstm.quantize.config import WeightOnlyConfig, WeightOnlyInt4Config, WeightOnlyInt8Config

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
    args = parser.parse_args()
    hints = InterfaceHints({"sr": 16_000}, (), 512, 64)
    calibration = synthetic_speech(args.seconds, 16_000, seed=7, chunk=512)
    gate_data = unseen_stream(args.seconds)
    print(f"calibration: {calibration.source}\ngate: {gate_data.source}\n(loaded machine, indicative only)\n")
    print(f"{'model':<30} {'variant':<34} {'flips':>9} {'max|dp|':>8} {'bytes':>9} {'ratio':>6}")
    for name in args.models:
        path = DATA / name
        gate = StreamGate(open_file_reference(path), gate_data, StreamCheckConfig())
        shipped = path.stat().st_size
        for config in VARIANTS:
            granularity = "block" if config.storage == "int4" else config.granularity  # int4 is always blockwise
            size = f"/b{config.block_size}" if granularity == "block" else ""  # type: ignore[attr-defined]
            label = f"{config.scheme} {config.rounding}/{granularity}{size}"
            with tempfile.TemporaryDirectory() as out:
                try:
                    result = quantize(
                        path, config, Path(out), foreign=hints, gate=gate, keep_failed=True, calibration_stream=calibration
                    )
                except SchemeRefused as exc:
                    print(f"{name:<30} {label:<34} refused: {exc}")
                    continue
            parity = result.parity or {}
            notes = [n for n in result.notes if n.startswith(("rounding:", "rounded to nearest", "bias correction"))]
            flips = f"{parity.get('flips')}/{parity.get('decisions')}"
            print(
                f"{name:<30} {label:<34} {flips:>9} {parity.get('max_abs_delta', float('nan')):>8.4f} "
                f"{result.size_bytes:>9,} {shipped / result.size_bytes:>6.2f}  {'; '.join(notes)}"
            )


if __name__ == "__main__":
    main()
