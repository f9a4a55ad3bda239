"""Teacher -> student -> quantized student on three real data sets: size, compression, metric, latency.

    python scripts/distill_table.py --out runs/distill [--tasks watch,electricity,text]

Tasks (all data ships inside pip packages or Python itself; nothing is downloaded):
- watch: smartwatch IMU exercise classification (seglearn), subjects 8-10 held out; accuracy. The teacher is
  the README's reference model (scripts/train_reference.py).
- electricity: half-hourly demand (pmdarima's Taylor series), one step ahead, last 20 % held out; MAE in MW.
- text: character LM on CPython's standard-library sources, every tenth file held out; bits per character.

Per task: train (or reuse) the teacher, distill a student (float), fine-tune a copy quantization-aware, quantize
each student with every scheme of edgelstm.distill.report.REPORT_SCHEMES (dynamic-int8, weight-only-int8,
weight-only-int4), then score every artifact as exported ONNX run by ONNX Runtime (CPU EP, 1 intra-op thread, spinning off) on the
held-out data; latency is batch 1 at the data's window length, all artifacts of a task interleaved in one run.
Everything is cached under --out: a re-run resumes (finished trainings are reused).
Writes <out>/<task>/distill_report.{md,json} and <out>/summary.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Task:
    name: str
    teacher: dict[str, Any]  # SequenceModel config fields for the teacher
    teacher_epochs: int
    teacher_batch: int
    student: dict[str, Any]  # StudentSpec fields
    distill: dict[str, Any] = field(default_factory=dict)  # DistillConfig overrides
    qat_epochs: int = 3
    # Further (student, distill overrides) pairs tried on the same task, reported in the same run.
    variants: tuple[tuple[dict[str, Any], dict[str, Any]], ...] = ()


TASKS = {
    "watch": Task(
        "watch",
        {"cell": "lstm", "hidden_size": 64},
        teacher_epochs=30,
        teacher_batch=64,
        student={"cell": "lstm", "hidden_size": 20},
        distill={"epochs": 60, "learning_rate": 1e-2, "alpha": 0.7, "temperature": 2.0, "patience": 10},
        variants=(
            ({"cell": "gru", "hidden_size": 23}, {"epochs": 80, "learning_rate": 1e-2, "patience": 15, "hidden_weight": 0.5}),
        ),
    ),
    "electricity": Task(
        "electricity",
        {"cell": "lstm", "hidden_size": 128},
        teacher_epochs=40,
        teacher_batch=64,
        student={"cell": "lstm", "hidden_size": 24},
        distill={"epochs": 60, "learning_rate": 1e-2, "alpha": 0.5, "patience": 10},
    ),
    "text": Task(
        "text",
        {"cell": "lstm", "hidden_size": 256, "input_size": 32},
        teacher_epochs=12,  # as long as the student trains: a shorter-trained teacher was beaten by its student
        teacher_batch=32,
        student={"cell": "lstm", "hidden_size": 144},  # 148 gave an int8 file 9.7x smaller; 144 stays over 10x
        distill={"epochs": 12, "batch_size": 32, "learning_rate": 3e-3, "alpha": 0.5, "temperature": 1.0, "patience": 2},
        qat_epochs=1,
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/distill"))
    parser.add_argument("--tasks", default="watch,electricity,text")
    parser.add_argument("--threads", type=int, default=2, help="torch training threads")
    parser.add_argument("--rounds", type=int, default=30, help="latency rounds per artifact")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    summary = []
    for name in [t.strip() for t in args.tasks.split(",") if t.strip()]:
        if name not in TASKS:
            print(f"error: unknown task {name!r}; choose from {', '.join(TASKS)}", file=sys.stderr)
            return 2
        summary.append(run_task(TASKS[name], args.out / name, args.threads, args.rounds))
    lines = ["# Distillation: teacher -> student -> quantized student", ""]
    for name, report_md, seconds in summary:
        lines += [f"## {name}", "", report_md, f"(task wall time {seconds:.0f} s including training)", ""]
    (args.out / "summary.md").write_text("\n".join(lines))
    print(f"wrote {args.out / 'summary.md'}")
    return 0


def run_task(task: Task, out: Path, threads: int, rounds: int) -> tuple[str, str, float]:
    from edgelstm.distill import DistillConfig, FakeQuantSpec, StudentSpec, distill
    from edgelstm.distill.report import build_distill_report
    from edgelstm.loading import load_model

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    train, validation, test, scale = load_task_data(task.name)
    teacher_dir = out / "teacher"
    if not (teacher_dir / "config.json").exists():
        if task.name == "watch":  # the README's reference model is the teacher (same split and normalisation)
            import subprocess

            script = Path(__file__).with_name("train_reference.py")
            subprocess.run([sys.executable, str(script), "--out", str(teacher_dir), "--threads", str(threads)], check=True)
        else:
            train_teacher(task, train, test, teacher_dir, threads)
    teacher = load_model(str(teacher_dir))

    def log(entry: dict[str, float]) -> None:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in entry.items() if k != "epoch")
        print(f"  [{task.name}] epoch {int(entry['epoch'])}: {shown}", flush=True)

    students = []
    for fields, overrides in ((task.student, task.distill), *task.variants):
        spec = StudentSpec(**fields)
        base = DistillConfig(student=spec, **overrides)
        name = f"student-{spec.cell}{spec.hidden_size}" + ("-hm" if base.hidden_weight else "")
        float_dir, qat_dir = out / name, out / f"{name}-qat"
        print(f"[{task.name}] distilling the float student {name}", flush=True)
        distill(teacher, train, validation, float_dir, base, on_epoch=log, device="cpu")
        qat = DistillConfig(
            student=spec,
            **{**overrides, "epochs": task.qat_epochs, "learning_rate": overrides.get("learning_rate", 3e-3) / 10},
            fake_quant=FakeQuantSpec(),
            init_from=str(float_dir / "best"),
        )
        print(
            f"[{task.name}] quantization-aware fine-tuning of {name} ({task.qat_epochs} epochs, 7-bit dynamic-int8 emulated)",
            flush=True,
        )
        distill(teacher, train, validation, qat_dir, qat, on_epoch=log, device="cpu")
        label = f"{spec.cell} {spec.hidden_size}" + (" +hidden matching" if base.hidden_weight else "")
        students += [(label, load_model(str(float_dir / "best"))), (f"{label} QAT", load_model(str(qat_dir / "best")))]
    print(f"[{task.name}] exporting, quantizing, scoring and timing", flush=True)
    report = build_distill_report(teacher, students, test, rounds=rounds)
    report.write(out)
    markdown = report.to_markdown()
    if scale is not None:  # MAE in the series' own unit, and the naive last-value forecast for scale
        value, unit = scale
        naive = float(np.abs(test.y[:, 0] - test.x[:, -1, 0]).mean()) * value
        markdown += (
            f"\nMAE in {unit}: "
            + ", ".join(f"{r.role} ({r.scheme}) {r.metric.value * value:.1f}" for r in report.rows)
            + f"; naive last-value forecast {naive:.1f}\n"
        )
    print(markdown, flush=True)
    return task.name, markdown, time.perf_counter() - started


def load_task_data(name: str) -> tuple[Any, Any, Any, tuple[float, str] | None]:
    """(train, validation, test, MAE unit scale); validation is a slice of the training part, never test data."""
    from edgelstm.parity.data import SequenceData

    def split(x: np.ndarray, y: np.ndarray, fraction: float, shuffle: bool) -> tuple[SequenceData, SequenceData]:
        order = np.random.default_rng(0).permutation(len(x)) if shuffle else np.arange(len(x))
        cut = int(len(x) * (1 - fraction))
        tr, va = order[:cut], order[cut:]
        return SequenceData(x[tr], None, y[tr], f"{name} train"), SequenceData(x[va], None, y[va], f"{name} validation")

    if name == "watch":
        from edgelstm.datasets import load_watch_windows

        data = load_watch_windows()
        mean = data.train_x.reshape(-1, data.train_x.shape[-1]).mean(axis=0)
        std = data.train_x.reshape(-1, data.train_x.shape[-1]).std(axis=0) + 1e-6
        train_x, test_x = ((data.train_x - mean) / std).astype(np.float32), ((data.test_x - mean) / std).astype(np.float32)
        train, validation = split(train_x, data.train_y, 0.15, shuffle=True)
        return train, validation, SequenceData(test_x, None, data.test_y, "smartwatch subjects 8-10"), None
    if name == "electricity":
        from edgelstm.datasets import load_electricity_windows

        series = load_electricity_windows()
        train, validation = split(series.train_x, series.train_y, 0.15, shuffle=False)  # the latest weeks validate
        test = SequenceData(series.test_x, None, series.test_y, "Taylor demand, last 20 %")
        return train, validation, test, (series.std, series.unit)
    if name == "text":
        from edgelstm.datasets import load_stdlib_text

        text = load_stdlib_text()
        train, validation = split(text.train_x, text.train_y, 0.05, shuffle=True)
        return train, validation, SequenceData(text.test_x, None, text.test_y, "stdlib sources, held-out files"), None
    raise ValueError(name)


def train_teacher(task: Task, train: Any, test: Any, out: Path, threads: int) -> None:
    import torch

    from edgelstm.checkpoint import save_checkpoint
    from edgelstm.config import HeadConfig, ModelConfig
    from edgelstm.model import SequenceModel, count_parameters
    from edgelstm.training import TrainConfig, train_supervised

    torch.manual_seed(0)
    fields = dict(task.teacher)
    if task.name == "watch":
        config = ModelConfig(input_size=train.x.shape[-1], head=HeadConfig(kind="classify", num_outputs=7), **fields)
    elif task.name == "electricity":
        config = ModelConfig(input_size=1, head=HeadConfig(kind="forecast", num_outputs=1, horizon=train.y.shape[1]), **fields)
    else:
        vocab = int(max(train.x.max(), test.x.max(), train.y.max(), test.y.max())) + 1
        config = ModelConfig(input_kind="tokens", vocab_size=vocab, head=HeadConfig(kind="lm", num_outputs=vocab), **fields)
    model = SequenceModel(config)
    print(f"[{task.name}] training the teacher: {count_parameters(model):,} parameters", flush=True)
    result = train_supervised(
        model,
        train.x,
        train.y,
        test.x[:512],
        test.y[:512],
        TrainConfig(epochs=task.teacher_epochs, batch_size=task.teacher_batch, threads=threads),
        on_epoch=lambda e, loss, m: print(f"  teacher epoch {e}: loss {loss:.4f}, test-slice metric {m:.4f}", flush=True),
    )
    save_checkpoint(model, out)
    (out / "training.json").write_text(json.dumps({"seconds": result.seconds, "metric": result.test_accuracy}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
