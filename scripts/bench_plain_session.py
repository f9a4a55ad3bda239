"""Issue 19's "Done when" table: every published artifact against its float graph in a PLAIN ONNX Runtime session.

    python scripts/bench_plain_session.py [--rounds 15] [--skip-reference] [--skip-silero] [--skip-user]
        [--checkpoint runs/watch-lstm] [--pair FLOAT.onnx ARTIFACT.onnx ...] [--const sr=16000 --chunk 512 --context 64]

A plain session is what `onnxruntime.InferenceSession(path)` gives a user: ORT's default options, no session config
entry at all (not edgelstm's spinning or `session.disable_quant_qdq`). Each artifact is opened that way, at ORT's
default threads and at 1 intra-op thread (`SessionSettings.ort_defaults`, through the one session constructor),
and timed against its float graph in ONE interleaved run (edgelstm.timing.time_interleaved): float and artifact,
both thread settings, shuffled round by round. Target: every artifact within 1.1x of its float graph.

Artifacts, published by edgelstm's own `quantize` (the same code as the CLI):
(a) the README example chain: `--checkpoint` (a trained reference, scripts/train_reference.py) or, by default, a
    1x64 LSTM of the same shape (6 features, 7 classes) with random weights, and a 2x128 LSTM (the issue's
    figure); fp32 fused export vs weight-only-int8 and weight-only-int4. Latency does not depend on the values.
(b) silero-vad 6.2.3's silero_vad.onnx, silero_vad_16k_op15.onnx, silero_vad_op18_ifless.onnx, silero_vad_half.onnx
    quantized weight-only-int8 and weight-only-int4 (sr=16000, 512-sample chunks + 64 of context).
(c) the user-module example (tests/user_modules.py's Conv1d+BiGRU+attention, random weights x 0.3): its
    torch.onnx export vs weight-only-int8.
`--pair FLOAT ARTIFACT` adds any other pair (e.g. what `quantize --scheme auto` published); `--const/--chunk/
--context` describe a foreign pair's graph as the CLI's options do.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TARGET = 1.1


@dataclass(frozen=True)
class Pair:
    group: str
    float_path: Path
    artifact: Path
    foreign: bool = False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=10, help="calls per round")
    parser.add_argument("--checkpoint", type=Path, help="trained reference checkpoint for (a) instead of random weights")
    parser.add_argument("--pair", nargs=2, action="append", default=[], metavar=("FLOAT", "ARTIFACT"))
    parser.add_argument("--const", action="append", default=[], help="NAME=VALUE for --pair graphs (e.g. sr=16000)")
    parser.add_argument("--chunk", type=int, default=None)
    parser.add_argument("--context", type=int, default=0)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--skip-silero", action="store_true")
    parser.add_argument("--skip-user", action="store_true")
    args = parser.parse_args(argv)

    import onnxruntime as ort

    from edgelstm.artifact.hints import InterfaceHints

    pair_hints = None
    if args.const or args.chunk:
        constants = {k: float(v) if "." in v else int(v) for k, v in (c.split("=", 1) for c in args.const)}
        pair_hints = InterfaceHints(constants, (), args.chunk, args.context)
    with tempfile.TemporaryDirectory(prefix="bench-plain-session-") as tmp:
        root = Path(tmp)
        pairs: list[Pair] = [Pair("given", Path(f), Path(a), pair_hints is not None) for f, a in args.pair]
        if not args.skip_reference:
            pairs += reference_pairs(root / "reference", args.checkpoint)
        if not args.skip_silero:
            pairs += silero_pairs(root / "silero")
        if not args.skip_user:
            pairs += user_module_pairs(root / "user")
        rows = [
            time_pair(p, silero_hints(p.float_path) if p.group == "silero-vad" else pair_hints, args.rounds, args.calls)
            for p in pairs
        ]
    print(
        f"\n# plain session (InferenceSession(path): ORT's defaults, no session config entry); onnxruntime {ort.__version__}, "
        f"{os.cpu_count()} CPUs; ORT's default threads = its pool over the cores, spinning on (ORT's default); "
        f"{args.rounds} interleaved rounds x {args.calls} calls, median; batch 1"
    )
    print(
        "| group | artifact | bytes | float bytes | float p50 ms | p50 ms | vs float | 1 thread: float | p50 ms | vs float | within 1.1x |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        ok = "yes" if max(row.ratio_default, row.ratio_one) <= TARGET else "NO"
        print(
            f"| {row.group} | {row.name} | {row.bytes:,} | {row.float_bytes:,} | {row.float_default_ms:.3f} | "
            f"{row.default_ms:.3f} | {row.ratio_default:.2f}x | {row.float_one_ms:.3f} | {row.one_ms:.3f} | "
            f"{row.ratio_one:.2f}x | {ok} |"
        )
    return 0


@dataclass(frozen=True)
class Row:
    group: str
    name: str
    bytes: int
    float_bytes: int
    float_default_ms: float
    default_ms: float
    float_one_ms: float
    one_ms: float

    @property
    def ratio_default(self) -> float:
        return self.default_ms / self.float_default_ms

    @property
    def ratio_one(self) -> float:
        return self.one_ms / self.float_one_ms


def time_pair(pair: Pair, hints, rounds: int, calls: int) -> Row:
    """Float graph and artifact, each at ORT's default threads and at 1 thread, in one interleaved run."""
    from edgelstm.artifact.feeds import data_shape, sequence_feeds
    from edgelstm.artifact.file import open_artifact
    from edgelstm.artifact.session import SessionSettings, session_from_onnx
    from edgelstm.timing import TimerSettings, time_interleaved

    workloads, busy = [], []
    rng = np.random.default_rng(0)
    for threads in (0, 1):
        for path in (pair.float_path, pair.artifact):
            info = open_artifact(path, hints)
            spec = info.interface.data_input
            shape = data_shape(info.interface, 1, None if info.interface.chunk else 100)
            x = (rng.standard_normal(shape) * 0.1).astype(np.dtype(spec.dtype if spec.dtype != "int64" else "float32"))
            feeds = sequence_feeds(info.interface, x, None, str(path))
            session = session_from_onnx(path, SessionSettings.ort_defaults(threads))
            names = {i.name for i in session.get_inputs()}
            own = {k: v for k, v in feeds.items() if k in names}
            workloads.append(lambda s=session, f=own: s.run(None, f))
            busy.append(threads != 1)  # ORT's default pool spins after a run: the timer pauses after it
    timings = time_interleaved(workloads, TimerSettings(rounds=rounds, calls_per_round=calls, warmup_calls=3), busy)
    f0, a0, f1, a1 = (t.p50_ms for t in timings)
    return Row(pair.group, pair.artifact.name, pair.artifact.stat().st_size, pair.float_path.stat().st_size, f0, a0, f1, a1)


def reference_pairs(out: Path, checkpoint: Path | None) -> list[Pair]:
    import torch

    from edgelstm.artifact.export_config import ExportConfig
    from edgelstm.checkpoint import save_checkpoint
    from edgelstm.config import HeadConfig, ModelConfig
    from edgelstm.export.api import export_model
    from edgelstm.loading import load_model
    from edgelstm.model import SequenceModel
    from edgelstm.quantize import quantize
    from edgelstm.quantize.config import WeightOnlyInt4Config, WeightOnlyInt8Config

    sources: dict[str, Path] = {}
    if checkpoint is not None:
        sources["reference"] = checkpoint
    else:
        for name, hidden, layers in (("lstm-1x64", 64, 1), ("lstm-2x128", 128, 2)):
            torch.manual_seed(0)
            config = ModelConfig(input_size=6, hidden_size=hidden, num_layers=layers, head=HeadConfig("classify", 7))
            save_checkpoint(SequenceModel(config).eval(), out / name / "ckpt")
            sources[name] = out / name / "ckpt"
    pairs = []
    for name, ckpt in sources.items():
        loaded = load_model(str(ckpt))
        fp32 = export_model(loaded, out / name / "fp32", ExportConfig(impl="fused")).path
        for config in (WeightOnlyInt8Config(), WeightOnlyInt4Config()):
            published = quantize(loaded, config, out / name / config.scheme).path
            assert published is not None
            pairs.append(Pair(f"README chain ({name})", fp32, _renamed(published, f"{name}-{config.scheme}")))
    return pairs


SILERO = ("silero_vad.onnx", "silero_vad_16k_op15.onnx", "silero_vad_op18_ifless.onnx", "silero_vad_half.onnx")


def silero_hints(path: Path):
    """What `quantize --const sr=16000 --chunk 512 --context 64` passes; silero_vad_half.onnx has no `sr` input."""
    import onnx

    from edgelstm.artifact.hints import InterfaceHints

    inputs = {i.name for i in onnx.load(str(path), load_external_data=False).graph.input}
    return InterfaceHints({"sr": 16_000} if "sr" in inputs else {}, (), 512, 64)


def silero_pairs(out: Path) -> list[Pair]:
    import silero_vad

    from edgelstm.errors import EdgelstmError
    from edgelstm.quantize import quantize
    from edgelstm.quantize.config import WeightOnlyInt4Config, WeightOnlyInt8Config

    pairs = []
    for name in SILERO:
        source = Path(silero_vad.__file__).parent / "data" / name
        for config in (WeightOnlyInt8Config(), WeightOnlyInt4Config()):
            try:
                published = quantize(
                    source, config, out / f"{Path(name).stem}-{config.scheme}", foreign=silero_hints(source)
                ).path
            except EdgelstmError as exc:
                print(f"{name} {config.scheme}: not published ({exc})", file=sys.stderr)
                continue
            if published is None:
                print(f"{name} {config.scheme}: not published (failed its gate)", file=sys.stderr)
                continue
            pairs.append(Pair("silero-vad", source, _renamed(published, f"{Path(name).stem}-{config.scheme}"), True))
    return pairs


def user_module_pairs(out: Path) -> list[Pair]:
    import warnings

    import torch
    from safetensors.torch import save_file

    from edgelstm.artifact.export_config import ExportConfig
    from edgelstm.export.api import export_model
    from edgelstm.loading import load_model
    from edgelstm.quantize import quantize
    from edgelstm.quantize.config import WeightOnlyInt8Config

    sys.path.insert(0, str(REPO))
    from tests.user_modules import CONV_BIGRU_ATTENTION

    out.mkdir(parents=True)
    (out / "plain_user_module.py").write_text(CONV_BIGRU_ATTENTION)
    sys.path.insert(0, str(out))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its random init, replaced below
        module = load_model("plain_user_module:build").user_module
    torch.manual_seed(1)
    save_file({k: torch.randn_like(v) * 0.3 for k, v in module.state_dict().items()}, str(out / "weights.safetensors"))
    loaded = load_model("plain_user_module:build", out / "weights.safetensors")
    fp32 = export_model(loaded, out / "fp32", ExportConfig()).path
    published = quantize(loaded, WeightOnlyInt8Config(), out / "int8").path
    assert published is not None
    return [Pair("user module", fp32, _renamed(published, "conv-bigru-weight-only-int8"))]


def _renamed(path: Path, stem: str) -> Path:
    """The artifact under a name that says what it is (every scheme publishes under its form's name)."""
    target = path.with_name(f"{stem}.onnx")
    path.rename(target)
    return target


if __name__ == "__main__":
    raise SystemExit(main())
