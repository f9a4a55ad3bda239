"""Does silero-vad hear speech in edgelstm's built-in corpus? fp32 speech probability per voice and per segment kind.

A voice the detector scores ~0 everywhere tests nothing: each voice's speech segments should score high, its
silence and noise low. Streams both roles (gate, calibration) through silero's shipped fp32 ONNX in 512-sample
chunks (+ 64 of context, state carried); a chunk belongs to the segment that covers most of it.

    python scripts/speech_corpus_realism.py [--model silero_vad.onnx] [--seconds 10] [--seed 0]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from edgelstm.artifact.chunks import run_in_chunks
from edgelstm.artifact.feeds import sequence_feeds
from edgelstm.artifact.foreign import source_metadata
from edgelstm.artifact.hints import InterfaceHints
from edgelstm.parity.reference import OnnxReference
from edgelstm.parity.speech_corpus import builtin_speech
from edgelstm.parity.stream_data import StreamData, chunk_kinds, synthetic_speech

HINTS = InterfaceHints({"sr": 16000}, (), 512, 64)


def probabilities(model: Path, data: StreamData) -> np.ndarray:
    interface = source_metadata(model, HINTS).interface
    reference = OnnxReference(model)
    feeds = sequence_feeds(interface, data.x, None, "realism")
    return run_in_chunks(lambda f: reference.run_once(interface, f), interface, feeds, 512)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="silero_vad.onnx")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import silero_vad

    model = Path(silero_vad.__file__).parent / "data" / args.model
    old = synthetic_speech(args.seconds, 16_000, chunk=512)
    p = probabilities(model, old)[0]
    print(f"old single voice: p mean {p.mean():.2f}, share of chunks >= 0.5: {np.mean(p >= 0.5):.2f}")
    print("role        voice     kind       chunks  p mean  p10   p50   p90   share >= 0.5")
    for role in ("gate", "calibration"):
        data = builtin_speech(role, args.seconds, 16_000, chunk=512, seed=args.seed)  # type: ignore[arg-type]
        p = probabilities(model, data)
        totals: dict[str, list[float]] = defaultdict(list)
        for row, described in enumerate(data.rows):
            kinds = chunk_kinds(described, 512, p.shape[1])
            for kind in ("speech", "silence", "noise", "nonspeech"):
                values = p[row][np.array(kinds) == kind]
                totals[kind] += values.tolist()
                if len(values):
                    q = np.percentile(values, [10, 50, 90])
                    print(f"{role:11s} {described.name[6:]:9s} {kind:10s} {len(values):6d}  {values.mean():.2f}  "
                          f"{q[0]:.2f}  {q[1]:.2f}  {q[2]:.2f}  {np.mean(values >= 0.5):.2f}")  # fmt: skip
        for kind, values in totals.items():
            v = np.array(values)
            print(f"{role:11s} {'(all)':9s} {kind:10s} {len(v):6d}  {v.mean():.2f}  share >= 0.5: {np.mean(v >= 0.5):.2f}")


if __name__ == "__main__":
    main()
