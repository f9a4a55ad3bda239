"""Issue 13's Done-when table: edgelstm's artifacts against every baseline, each contender at its best measured setting.

    python scripts/bench_targets.py runs/watch-lstm [runs/watch-gru ...] [--issue13-random] [--threads 1,2]
        [--spinning both] [--rounds 15] [--out docs/bench_targets.txt]

Models: each checkpoint directory given (its heldout.npz, when present, gives held-out accuracy and the calibration
data), and with --issue13-random issue 13's own 2-layer LSTM (128 hidden, 40 features, 7 classes) with RANDOM
weights (no labelled 40-feature set ships offline; latency does not depend on the values, accuracy is not reported).

Contenders per model: edgelstm's exports -- the sequence form fused fp32, dynamic int8 and weight-only int8
(`edgelstm.quantize`) -- against torch eager fp32, torch dynamic int8 (torch threads swept) and the default path
(torch.onnx.export + quantize_dynamic, run with ORT's default session options). The default path's graph is also
swept like ours (threads x spinning), so a reader sees how much of the gap is the session setting alone. Everything
runs in one interleaved `run_bench` per model (edgelstm.timing.time_interleaved), T=100, batches 1 and 32, p50 at
each contender's best setting, printed beside the figure. Targets (issue 13): best artifact >= 5x eager at batch 1,
>= 2.5x at 32; >= 1.5x the default path at 1, >= 1.2x at 32, at equal or better accuracy; a 2x128 GRU >= 4x eager
at batch 1; streaming per-step cost <= 2.5x one call at chunks of 1, <= 1.2x at 16 (helper). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BATCHES = (1, 32)
STEPS = 100
DEFAULT_PATH = "default path: torch.onnx + quantize_dynamic, ORT defaults"
DEFAULT_GRAPH = "default path's graph, swept"
BASELINES = ("torch eager fp32", "torch dynamic int8", DEFAULT_PATH)


@dataclass(frozen=True)
class Contender:
    label: str
    path: Path | None  # None: a torch baseline or the default path at ORT defaults (timed by run_bench itself)
    ours: bool
    accuracy: float | None = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, nargs="*", help="edgelstm checkpoint directories (heldout.npz beside: accuracy)")
    parser.add_argument("--issue13-random", action="store_true", help="add issue 13's 2x128 LSTM, 40 features, random weights")
    parser.add_argument(
        "--student",
        type=Path,
        action="append",
        default=[],
        help="a student `edgelstm distill` made from the FIRST model (its best/ checkpoint); timed beside it, with "
        "held-out accuracy; it can be the best artifact only at equal or better accuracy than the default path",
    )
    parser.add_argument("--threads", default="1,2", help="thread counts swept for every contender")
    parser.add_argument("--spinning", choices=["off", "on", "both"], default="both", help="ORT spinning swept")
    parser.add_argument(
        "--execution-mode", choices=["sequential", "both"], default="sequential", help="also sweep ORT_PARALLEL (both)"
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", type=Path, default=None, help="also write the printed report here")
    args = parser.parse_args(argv)
    if not args.models and not args.issue13_random:
        parser.error("give a checkpoint directory or --issue13-random")

    import onnxruntime as ort
    import torch

    lines: list[str] = []
    say = lambda text="": (print(text, flush=True), lines.append(text))  # noqa: E731
    threads = tuple(int(t) for t in args.threads.split(","))
    spinning = {"off": (False,), "on": (True,), "both": (False, True)}[args.spinning]
    modes = ("sequential", "parallel") if args.execution_mode == "both" else ("sequential",)
    say(f"# issue 13 targets (scripts/bench_targets.py {' '.join(argv if argv is not None else sys.argv[1:])})")
    say(
        f"# {platform.machine()}, {os.cpu_count()} cores (a shared VM: see the load averages), torch {torch.__version__}, "
        f"onnxruntime {ort.__version__} CPU EP, graph optimization all"
    )
    say(f"# load average at start: {_load()}")
    say(
        f"# T={STEPS}; swept: ORT intra-op threads {threads} x spinning {args.spinning} x execution mode "
        f"{args.execution_mode} (one thread never spins: no pool threads), torch threads {threads}; the default path at ORT's default session options (all cores, "
        f"spinning on); {args.rounds} interleaved rounds x 5 calls per model, p50 at each contender's best setting; "
        "an untimed 50 ms pause after every contender whose pool keeps spinning after a call (ORT with spinning "
        "on, the default path, torch above 1 thread), so none is billed for another's spinning threads"
    )
    with tempfile.TemporaryDirectory(prefix="bench-targets-") as tmp:
        root = Path(tmp)
        models = [(str(m), m) for m in args.models]
        if args.issue13_random:
            models.append(("issue 13's 2x128 LSTM, 40 features, RANDOM weights", _random_issue13(root)))
        alive: list[Any] = []
        if args.student and not args.models:
            parser.error("--student needs the teacher's checkpoint directory as the first model")
        for index, (label, checkpoint) in enumerate(models):
            students = args.student if index == 0 else []
            alive.append(
                _one_model(label, checkpoint, students, root / f"model-{index}", threads, spinning, modes, args.rounds, say)
            )
    say()
    say(f"# load average at end: {_load()}")
    if args.out is not None:
        from edgelstm.files import atomic_path

        with atomic_path(args.out, overwrite=True) as part:
            part.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


def _load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg()) + " (1, 5, 15 min)"


def _random_issue13(root: Path) -> Path:
    import torch

    from edgelstm.checkpoint import save_checkpoint
    from edgelstm.config import HeadConfig, ModelConfig
    from edgelstm.model import SequenceModel

    torch.manual_seed(0)
    config = ModelConfig(input_size=40, hidden_size=128, cell="lstm", num_layers=2, head=HeadConfig("classify", 7, "last"))
    save_checkpoint(SequenceModel(config).eval(), root / "issue13-lstm")
    return root / "issue13-lstm"


def _one_model(
    label: str,
    checkpoint: Path,
    students: list[Path],
    work: Path,
    threads: tuple[int, ...],
    spinning: tuple[bool, ...],
    modes: tuple[str, ...],
    rounds: int,
    say: Any,
) -> Any:
    """Returns the loaded model: the caller keeps it alive while later models are benched."""
    from edgelstm.artifact.export_config import ExportConfig
    from edgelstm.bench import BenchConfig, run_bench
    from edgelstm.bench.best import best_settings
    from edgelstm.bench.runner import _default_path_onnx
    from edgelstm.export.api import export_model
    from edgelstm.loading import load_model
    from edgelstm.parity.data import load_sequence_data

    loaded = load_model(str(checkpoint))
    cfg = loaded.config
    heldout = checkpoint / "heldout.npz"
    data = load_sequence_data(heldout, feature_size=loaded.signature.size) if heldout.is_file() else None
    say()
    say(
        f"## {label}: {cfg.cell} {cfg.num_layers}x{cfg.hidden_size}, {loaded.signature.size} features"
        + (f"; held-out {data.count} windows x {data.x.shape[1]} steps" if data is not None else "; no labelled data")
    )
    same_model = _our_artifacts(loaded, "", work / "teacher", data, say)
    distilled: dict[str, Path] = {}
    for index, folder in enumerate(students):
        student = load_model(str(folder))
        sc = student.config
        parameters = sum(t.numel() for t in student.module.parameters())
        prefix = f"student {sc.cell} {sc.num_layers}x{sc.hidden_size} ({parameters:,} parameters): "
        distilled.update(_our_artifacts(student, prefix, work / f"student-{index}", data, say))
    ours = {**same_model, **distilled}
    streaming = export_model(loaded, work / "streaming", ExportConfig(form="streaming")).path
    default_graph = _default_path_onnx(loaded.module, loaded.signature.size)
    # File names may repeat across forms (model.onnx): the bench keys rows by file name, so give each its own.
    named = {name: _renamed(path, work / "named", name) for name, path in [*ours.items(), (DEFAULT_GRAPH, default_graph)]}
    config = BenchConfig(
        batches=BATCHES,
        steps=(STEPS,),
        threads=threads,
        spinning=spinning,
        execution_modes=modes,
        rounds=rounds,
        streaming_chunks=(1, 16),
        cold_start=False,
        roofline=False,
    )
    report = run_bench([*named.values(), streaming], loaded, config)
    best = {(b.name, b.batch): b for b in best_settings(report.latencies)}
    file_label = {path.name: name for name, path in named.items()}
    accuracy = {name: _accuracy(path, data) for name, path in named.items()}
    accuracy[DEFAULT_PATH] = accuracy[DEFAULT_GRAPH]
    groups = {"same model": list(same_model)} | ({"with a distilled student": list(ours)} if distilled else {})

    say()
    say("| batch | contender | best setting | p50 ms | held-out accuracy | best artifact's speed-up over it |")
    say("|---:|---|---|---:|---:|---:|")
    verdicts: list[str] = []
    for batch in BATCHES:
        rows = {file_label.get(name, name): b for (name, b_batch), b in best.items() if b_batch == batch}
        rows = {k: v for k, v in rows.items() if k in ours or k in BASELINES or k == DEFAULT_GRAPH}
        ms = {name: row.p50_ms[STEPS] for name, row in rows.items()}
        winners = {group: _winner(names, ms, accuracy) for group, names in groups.items()}
        top = ms[winners[list(groups)[-1]]]
        for name in [*ours, *BASELINES, DEFAULT_GRAPH]:
            if name not in rows:
                continue
            marks = [group for group, winner in winners.items() if winner == name]
            mark = f" **(best artifact, {' / '.join(marks)})**" if marks else ""
            acc = accuracy.get(name)
            acc_text = "-" if acc is None else f"{acc:.2%}"
            ratio = "-" if name in ours else f"{ms[name] / top:.2f}x"
            say(f"| {batch} | {name}{mark} | {_setting(rows[name])} | {ms[name]:.3f} | {acc_text} | {ratio} |")
        for group, winner in winners.items():
            verdicts.append(_verdict_line(batch, group, winner, rows, ms, accuracy))
            if cfg.cell == "gru" and batch == 1:
                eager = ms["torch eager fp32"] / ms[winner]
                verdicts.append(
                    f"GRU target, batch 1, {group}: best artifact >= 4x torch eager: {_verdict(eager >= 4.0)} ({eager:.2f}x)"
                )
    say()
    for line in verdicts:
        say(f"- {line}")
    floor_us, helper_us = _call_floor(streaming, rounds)
    whole_us = report.streaming[0].whole_sequence_per_step_us if report.streaming else float("nan")
    say(
        f"- streaming call floor: the helper on a pass-through graph with the same inputs and outputs (one MatMul "
        f"and Identity nodes) costs {floor_us:.1f} us per call, the real graph {helper_us:.1f} us at chunk 1 (1 thread, "
        f"interleaved): no chunk-1 stream of this model can cost less than ({floor_us:.1f} + {whole_us:.1f}) / "
        f"{whole_us:.1f} = {(floor_us + whole_us) / whole_us:.2f}x one call per step"
    )
    for cost in report.streaming:
        ratio = cost.per_step_us / cost.whole_sequence_per_step_us
        limit = {1: 2.5, 16: 1.2}.get(cost.chunk)
        target = "" if limit is None or cost.mode != "helper" else f" (target <= {limit}x: {_verdict(ratio <= limit)})"
        say(
            f"- streaming fp32, chunk {cost.chunk}, {cost.mode} (1 thread): {cost.per_step_us:.1f} us/step vs "
            f"{cost.whole_sequence_per_step_us:.1f} in one call -> {ratio:.2f}x{target}"
        )
    return loaded


def _call_floor(streaming: Path, rounds: int) -> tuple[float, float]:
    """Microseconds per StreamingSession.step at chunk 1: on a pass-through graph with the streaming graph's inputs
    and outputs (states copied through, the output from one MatMul by zeros), and on the real graph, interleaved.
    The first is what ORT and the helper cost per call whatever the model; the rest is the model's step at T=1."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    from edgelstm.artifact.file import open_artifact
    from edgelstm.artifact.session import session_from_onnx
    from edgelstm.artifact.streaming import StreamingSession
    from edgelstm.timing import TimerSettings, time_interleaved

    info = open_artifact(streaming)
    model = onnx.load(str(streaming))
    interface = info.interface
    pairs = {s.output_name: s.input_name for s in interface.states}
    data = interface.data_input.name
    features = interface.data_input.shape[-1]
    nodes, weights = [], []
    for output in model.graph.output:
        if output.name in pairs:
            nodes.append(helper.make_node("Identity", [pairs[output.name]], [output.name]))
        else:
            width = output.type.tensor_type.shape.dim[-1].dim_value
            weights.append(numpy_helper.from_array(np.zeros((features, width), np.float32), f"{output.name}_zeros"))
            nodes.append(helper.make_node("MatMul", [data, f"{output.name}_zeros"], [output.name]))
    graph = helper.make_graph(nodes, "call_floor", list(model.graph.input), list(model.graph.output), weights)
    floor_model = helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    real = StreamingSession(session_from_onnx(streaming), interface, where=str(streaming))
    floor = StreamingSession(session_from_onnx(floor_model.SerializeToString()), interface, where="pass-through")
    x = np.zeros((1, 1, features), np.float32)
    timings = time_interleaved([lambda: floor.step(x), lambda: real.step(x)], TimerSettings(rounds=rounds, calls_per_round=200))
    return timings[0].p50_ms * 1e3, timings[1].p50_ms * 1e3


def _our_artifacts(loaded: Any, prefix: str, work: Path, data: Any, say: Any) -> dict[str, Path]:
    """edgelstm's sequence-form exports of one model: fp32 fused, dynamic int8 and weight-only int8 (each published
    only through its parity gate, against this model's own float output)."""
    from edgelstm.artifact.export_config import ExportConfig
    from edgelstm.export.api import export_model
    from edgelstm.quantize import DynamicInt8Config, SchemeRefused, WeightOnlyInt8Config, quantize

    ours = {f"{prefix}fp32 sequence fused": export_model(loaded, work / "fp32", ExportConfig(form="sequence", impl="fused")).path}
    for config in (DynamicInt8Config(), WeightOnlyInt8Config()):
        try:
            result = quantize(loaded, config, work / config.scheme, calibration=data)
        except SchemeRefused as exc:
            say(f"{prefix}{config.scheme}: refused ({exc})")
            continue
        if result.path is None:
            say(f"{prefix}{config.scheme}: failed its parity gate, not timed")
            continue
        ours[f"{prefix}{config.scheme}"] = result.path
    return ours


def _winner(names: list[str], ms: dict[str, float], accuracy: dict[str, float | None]) -> str:
    """The fastest artifact at equal or better held-out accuracy than the default path; without labelled data (or
    when none is that accurate) the fastest, and the verdict line says which."""
    floor = accuracy.get(DEFAULT_PATH)
    timed = [n for n in names if n in ms]
    eligible = [n for n in timed if floor is None or (accuracy.get(n) is not None and accuracy[n] >= floor)]
    return min(eligible or timed, key=ms.__getitem__)


def _verdict_line(batch: int, group: str, winner: str, rows: dict, ms: dict[str, float], accuracy: dict) -> str:
    eager = ms["torch eager fp32"] / ms[winner]
    default = ms[DEFAULT_PATH] / ms[winner]
    eager_target, default_target = (5.0, 1.5) if batch == 1 else (2.5, 1.2)
    ours_acc, default_acc = accuracy.get(winner), accuracy.get(DEFAULT_PATH)
    accurate = ours_acc is None or default_acc is None or ours_acc >= default_acc
    acc_note = (
        "accuracy not measured (no labelled data)"
        if ours_acc is None or default_acc is None
        else f"accuracy {ours_acc:.2%} vs the default path's {default_acc:.2%}"
    )
    return (
        f"batch {batch}, {group}: best artifact {winner} ({_setting(rows[winner])}): {eager:.2f}x torch eager fp32 "
        f"(target >= {eager_target}x: {_verdict(eager >= eager_target)}); {default:.2f}x the default path "
        f"(target >= {default_target}x at equal or better accuracy: {_verdict(default >= default_target and accurate)}; "
        f"{acc_note})"
    )


def _renamed(path: Path, folder: Path, name: str) -> Path:
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (name.replace(" ", "-").replace("'", "").replace(",", "") + path.suffix)
    shutil.copyfile(path, target)
    return target


def _accuracy(path: Path, data: Any) -> float | None:
    """Held-out accuracy of a classifier graph's first output, fed by the one feed builder."""
    if data is None or data.y is None:
        return None
    import numpy as np

    from edgelstm.artifact.feeds import sequence_feeds
    from edgelstm.artifact.file import open_artifact
    from edgelstm.artifact.session import session_from_onnx

    info = open_artifact(path)
    session = session_from_onnx(path)
    logits = session.run(None, sequence_feeds(info.interface, data.x, None, path.name))[0]
    return float(np.mean(logits.argmax(-1) == data.y))


def _setting(b: Any) -> str:
    if b.intra_op_threads == 0:
        return "ORT defaults"
    if b.allow_spinning is None:
        return f"torch, {b.intra_op_threads} thread(s)"
    parallel = " in parallel mode (inter-op)" if b.execution_mode == "parallel" else ""
    return f"{b.intra_op_threads} thread(s){parallel}, spinning {'on' if b.allow_spinning else 'off'}"


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


if __name__ == "__main__":
    sys.exit(main())
