"""`quantize --scheme auto`'s Pareto table on five models: every scheme, per-layer mixed precision, the fp32 graph
and (for graphs made elsewhere) ONNX Runtime's default `quantize_dynamic` beside, with why each loser lost.

    python scripts/bench_mixed.py [--reference runs/watch-lstm] [--only silero_vad.onnx,gru,...] [--work DIR]

Models: silero-vad 6.2.3's silero_vad.onnx and silero_vad_16k_op15.onnx (streaming gate: <= 1 % of decisions
flipped at 0.5 and max |dp| <= 0.1 over 10 s of edgelstm's synthetic speech, 512-sample chunks + 64 of context,
sr=16000); a 2x128 GRU edgelstm model (random init, 6 features, 7 classes; parity gate at its default tolerances on
64 random sequences of T=100); issue 10's Conv1d+BiGRU+attention user module (random weights x 0.3 as in
tests/user_modules.py, its torch.onnx export quantized as it is, 24 random sequences of T=20); the README's
reference LSTM (scripts/train_reference.py, held-out smartwatch windows) when --reference is given.

Latency: batch 1, ORT CPU EP, 1 intra-op thread, spinning off, graph optimization all, every row of one model
interleaved round by round by edgelstm.timing.time_interleaved (7 rounds x 10 calls, median): the ratios to fp32
come from one run. Sizes are file bytes; x smaller is against the fp32 row.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

# the repository root, so that tests/ (which holds issue 10's user module, one copy for the tests and this script)
# imports when the script runs from a fresh clone
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.user_modules import CONV_BIGRU_ATTENTION as USER_MODULE

MODELS = ("silero_vad.onnx", "silero_vad_16k_op15.onnx", "gru", "user", "reference")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, help="the README's reference LSTM (scripts/train_reference.py --out)")
    parser.add_argument("--only", default=",".join(MODELS), help="comma-separated subset of " + ", ".join(MODELS))
    parser.add_argument("--work", type=Path, help="keep the artifacts here (default: a temporary directory)")
    args = parser.parse_args(argv)
    import onnxruntime as ort

    print(f"# {platform.processor() or platform.machine()}, Python {sys.version.split()[0]}, onnxruntime {ort.__version__}")
    print("# latency: batch 1, 1 intra-op thread, spinning off, 7 interleaved rounds x 10 calls, median")
    with tempfile.TemporaryDirectory(prefix="bench-mixed-") as tmp:
        work = args.work or Path(tmp)
        for name in args.only.split(","):
            if name.startswith("silero"):
                print_table(name, silero(name, work / name))
            elif name == "gru":
                print_table("2x128 GRU (edgelstm, fused fp32)", gru(work / name))
            elif name == "user":
                print_table("Conv1d+BiGRU+attention user module (torch.onnx export)", user_module(work / name))
            elif name == "reference" and args.reference is not None:
                print_table(f"reference LSTM ({args.reference})", reference_lstm(args.reference, work / name))
    return 0


def silero(name: str, out: Path):
    import silero_vad

    from edgelstm.artifact.hints import InterfaceHints
    from edgelstm.parity.reference import OnnxReference
    from edgelstm.parity.stream_check import StreamGate
    from edgelstm.parity.stream_data import synthetic_speech
    from edgelstm.parity.stream_verdict import StreamCheckConfig
    from edgelstm.quantize.selection import select_foreign_scheme

    source = Path(silero_vad.__file__).parent / "data" / name
    gate = StreamGate(OnnxReference(source), synthetic_speech(10.0, 16_000, chunk=512), StreamCheckConfig())
    return select_foreign_scheme(source, InterfaceHints({"sr": 16_000}, (), 512, 64), gate, out, overwrite=True)


def gru(out: Path):
    import torch

    from edgelstm.checkpoint import save_checkpoint
    from edgelstm.config import HeadConfig, ModelConfig
    from edgelstm.loading import load_model
    from edgelstm.model import SequenceModel
    from edgelstm.parity import TolerancePolicy
    from edgelstm.parity.data import SequenceData
    from edgelstm.quantize.selection import select_scheme

    torch.manual_seed(0)
    model = SequenceModel(ModelConfig(input_size=6, hidden_size=128, num_layers=2, cell="gru", head=HeadConfig("classify", 7)))
    save_checkpoint(model, out / "ckpt")
    rng = np.random.default_rng(0)
    data = SequenceData(rng.standard_normal((64, 100, 6)).astype(np.float32), None, None, "64 random sequences, T=100")
    return select_scheme(load_model(str(out / "ckpt")), data, out / "q", TolerancePolicy.defaults(), overwrite=True)


def user_module(out: Path):
    import torch
    from safetensors.torch import save_file

    from edgelstm.artifact.export_config import ExportConfig
    from edgelstm.export.api import export_model
    from edgelstm.loading import load_model
    from edgelstm.parity import TolerancePolicy
    from edgelstm.parity.data import SequenceData
    from edgelstm.quantize.selection import select_scheme

    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_user_module.py").write_text(USER_MODULE)
    sys.path.insert(0, str(out))
    torch.manual_seed(1)
    state = {k: torch.randn_like(v) * 0.3 for k, v in load_model("bench_user_module:build").user_module.state_dict().items()}
    save_file(state, str(out / "weights.safetensors"))
    loaded = load_model("bench_user_module:build", out / "weights.safetensors")
    fp32 = export_model(loaded, out / "fp32", ExportConfig()).path
    rng = np.random.default_rng(0)
    data = SequenceData(rng.standard_normal((24, 20, 12)).astype(np.float32), None, None, "24 random sequences, T=20")
    return select_scheme(loaded, data, out / "q", TolerancePolicy.defaults(), overwrite=True, source=fp32)


def reference_lstm(checkpoint: Path, out: Path):
    from edgelstm.loading import load_model
    from edgelstm.parity import TolerancePolicy
    from edgelstm.parity.data import load_sequence_data
    from edgelstm.quantize.selection import select_scheme

    data = load_sequence_data(checkpoint / "heldout.npz", False, 6)
    return select_scheme(load_model(str(checkpoint)), data, out, TolerancePolicy.defaults(), overwrite=True)


def print_table(title: str, selection) -> None:
    print(f"\n## {title}: objective {selection.objective}, winner {selection.winner.scheme if selection.winner else 'none'}")
    print("| scheme | form | bytes | x smaller | ms b=1 | vs fp32 | gate | front | why not |")
    print("|---|---|---:|---:|---:|---:|---|---|---|")
    for c in selection.candidates:
        s = c.summary
        if "flips" in s:
            gate = f"{s['flips']}/{s.get('decisions')} flipped, max dp {s.get('max_abs_delta', 0):.3f}"
        elif s:
            gate = ", ".join(
                f"{k} {s[k]:.4g}" for k in ("top1_agreement", "accuracy_delta", "max_rel_error") if s.get(k) is not None
            )
        else:
            gate = "reference" if c.role == "reference" else "-"
        ms = f"{c.latency_ms:.3f}" if c.latency_ms is not None else "-"
        ratio = f"{c.speed_ratio:.2f}" if c.speed_ratio is not None else "-"
        size = f"{c.size_bytes}" if c.result is not None else "-"
        smaller = f"{c.size_ratio:.2f}" if c.size_ratio else "-"
        why = "**winner**" if c is selection.winner else c.lost
        print(
            f"| {c.scheme} | {c.result.impl if c.result else '-'} | {size} | {smaller} | {ms} | {ratio} | {gate} | {'yes' if c.on_front else 'no'} | {why} |"
        )
    for c in selection.candidates:
        if layers := c.details.get("layers"):
            chosen = ", ".join(
                f"{la['name'].split('/')[-2] if '/' in la['name'] else la['name']}={la['chosen']}" for la in layers
            )
            costs = "; ".join(
                f"{la['name'][-28:]}: int8 {la['cost'].get('int8', 0):.2f} int4 {la['cost'].get('int4', 0):.2f}" for la in layers
            )
            print(f"\nmixed, per layer (cost = share of the budget spent by that layer alone): {costs}\nchosen: {chosen}")


if __name__ == "__main__":
    raise SystemExit(main())
