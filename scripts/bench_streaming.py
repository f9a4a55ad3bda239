"""Streaming per-step cost, chunk by chunk with the state carried, against one call over the whole sequence.

    python scripts/bench_streaming.py [--rounds 21] [--steps 100] [--checkpoint runs/watch-lstm] [--skip-silero]

Models: the README example's reference LSTM (1 layer, 64 hidden, 6 IMU features, 7 classes; its checkpoint when
--checkpoint names one, otherwise the same architecture with random weights: the cost does not depend on the
values), a 2x128 GRU (6 features) and issue 13's 2x128 LSTM (40 features), 7 classes, random weights, each
exported in edgelstm's streaming form.
Modes: "run" = session.run with a feed dict, each state output put back in it (numpy), as an app without the helper does;
"helper" = edgelstm.artifact.streaming.StreamingSession (states in two bound ORT buffers per state, swapped ping-pong).
Timed by bench's runner (edgelstm.timing.time_interleaved): ORT CPU EP, 1 intra-op thread, spinning off, graph
optimization all, the one-call baseline and every chunked variant interleaved round by round, medians (p50).
The ratio (per-step cost / one-call per-step cost) is the figure issue 13 targets: <= 2.5x at chunk 1, <= 1.2x at 16.

Each sample is one call on one chunk (the helper's stream goes on from call to call); per-step = p50 / chunk.
"graph nodes": nodes of the streaming graph as written (a count, free of the machine's load): at one step per call
each node is a fixed cost, which is why the streaming form has no node it does not need.

Part 2: silero-vad's shipped silero_vad.onnx per 512-sample chunk (plus 64 of context, sr=16000), "run" vs "helper"
(a foreign graph confirmed at one chunk length has no one-call baseline).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

SETTINGS = "ORT CPU EP, 1 intra-op thread, 1 inter-op thread, spinning off, graph optimization all"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--checkpoint", type=Path, default=None, help="the reference LSTM checkpoint (train_reference.py)")
    parser.add_argument("--skip-silero", action="store_true")
    args = parser.parse_args(argv)

    import onnxruntime as ort

    print(f"# {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores, onnxruntime {ort.__version__}")
    print(f"# {SETTINGS}; {args.rounds} interleaved rounds, medians")
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as tmp:
        recurrent_table(Path(tmp), args)
    if not args.skip_silero:
        silero_table(args.rounds)
    return 0


def _streaming_artifact(
    name: str, root: Path, checkpoint: Path | None, cell: str, hidden: int, layers: int, features: int
) -> Path:
    import torch

    from edgelstm.artifact.export_config import ExportConfig
    from edgelstm.checkpoint import save_checkpoint
    from edgelstm.config import HeadConfig, ModelConfig
    from edgelstm.export.api import export_model
    from edgelstm.loading import load_model
    from edgelstm.model import SequenceModel

    if checkpoint is None:
        torch.manual_seed(0)
        config = ModelConfig(
            input_size=features, hidden_size=hidden, cell=cell, num_layers=layers, head=HeadConfig("classify", 7, "last")
        )
        checkpoint = root / name / "ckpt"
        save_checkpoint(SequenceModel(config).eval(), checkpoint)
    return export_model(load_model(str(checkpoint)), root / name / "onnx", ExportConfig(form="streaming")).path


def recurrent_table(root: Path, args: argparse.Namespace) -> None:
    from edgelstm.bench import BenchConfig, run_bench

    reference = args.checkpoint if args.checkpoint and (args.checkpoint / "config.json").exists() else None
    source = f"checkpoint {reference}" if reference else "random weights"
    models = [  # label, cell, hidden, layers, features, checkpoint
        (f"reference LSTM 1x64 ({source})", "lstm", 64, 1, 6, reference),
        ("GRU 2x128, 6 features (random weights)", "gru", 128, 2, 6, None),
        ("LSTM 2x128, 40 features (issue 13's model, random weights)", "lstm", 128, 2, 40, None),
    ]
    config = BenchConfig(
        batches=(1,), steps=(args.steps,), rounds=args.rounds, calls_per_round=1, baselines=False, cold_start=False
    )
    print(f"\n## streaming graphs, batch 1, {args.steps} steps, chunks {', '.join(map(str, config.streaming_chunks))}\n")
    print("| model | graph nodes | chunk | mode | us per step | one call, us per step | ratio |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for index, (label, cell, hidden, layers, features, checkpoint) in enumerate(models):
        path = _streaming_artifact(f"m{index}", root, checkpoint, cell, hidden, layers, features)
        nodes = _node_count(path)
        for cost in run_bench([path], None, config).streaming:
            ratio = cost.per_step_us / cost.whole_sequence_per_step_us
            print(
                f"| {label} | {nodes} | {cost.chunk} | {cost.mode} | {cost.per_step_us:.1f} | "
                f"{cost.whole_sequence_per_step_us:.1f} | {ratio:.2f}x |"
            )


def _node_count(path: Path) -> int:
    """Nodes of the streaming graph as written: at one step per call each costs ORT a fixed ~0.3-0.7 us."""
    from edgelstm.artifact.metadata import load_onnx_file

    return len(load_onnx_file(path).graph.node)


def silero_table(rounds: int) -> None:
    try:
        import silero_vad
    except ImportError:
        print("\nsilero-vad is not installed (pip install -e '.[examples]'): its table is skipped")
        return
    from dataclasses import replace

    from edgelstm.artifact.feeds import sequence_feeds
    from edgelstm.artifact.file import open_artifact
    from edgelstm.artifact.hints import InterfaceHints
    from edgelstm.artifact.session import SessionSettings, session_from_onnx
    from edgelstm.artifact.streaming import StreamingSession
    from edgelstm.parity.stream_data import synthetic_speech
    from edgelstm.timing import TimerSettings, time_interleaved

    path = Path(silero_vad.__file__).parent / "data" / "silero_vad.onnx"
    hints = InterfaceHints({"sr": 16_000}, (), 512, 64)
    audio = synthetic_speech(576 / 16_000, 16_000, seed=0).x.reshape(1, -1)[:, :576].astype(np.float32)
    info = open_artifact(path, hints)
    interface = replace(info.interface, context=hints.context)
    session = session_from_onnx(path, SessionSettings())
    names = [o.name for o in interface.outputs]
    feeds = sequence_feeds(interface, audio, None, str(path))  # one call: 64 samples of context + 512 new ones
    helper = StreamingSession(session, interface, where=str(path))
    chunk = audio[:, 64:]
    # One call per sample, as bench times streaming rows: a pass over many chunks is preempted on a loaded machine.
    run, bound = time_interleaved(
        [lambda: session.run(names, feeds), lambda: helper.step(chunk)], TimerSettings(rounds=rounds, calls_per_round=5)
    )
    print("\n## silero_vad.onnx, one call = 512 new samples + 64 of context, sr=16000, batch 1\n")
    print("| mode | us per chunk |")
    print("|---|---:|")
    print(f"| run (feed dict, numpy state) | {run.p50_ms * 1e3:.1f} |")
    print(f"| helper (StreamingSession) | {bound.p50_ms * 1e3:.1f} |")


if __name__ == "__main__":
    sys.exit(main())
