"""`edgelstm distill`: train a smaller student from a teacher, through `edgelstm.api.distill`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from edgelstm.cli_common import (
    app,
    model_options,
    option_group,
    parse_names_keep_case,
    user_errors,
)
from edgelstm.errors import ConfigError
from edgelstm.model_source import ModelOptions

# The student and its training, declared once and handed to the command as one `DistillOptions`.
STUDENT_OPTIONS: dict[str, tuple[Any, Any]] = {
    "cell": (str, typer.Option("gru", "--cell", help="student cell: lstm, gru, peephole")),
    "hidden": (int, typer.Option(16, "--hidden", help="student hidden size")),
    "layers": (int, typer.Option(1, "--layers", help="student layers")),
    "bidirectional": (bool, typer.Option(False, "--bidirectional", help="bidirectional student (cannot stream)")),
    "proj_size": (int, typer.Option(0, "--proj-size", help="LSTM output projection size (0: none)")),
    "target_params": (
        str | None,
        typer.Option(
            None, "--target-params", help="parameter budget, e.g. 50k: picks the widest student of --cell/--layers that fits"
        ),
    ),
    "epochs": (int, typer.Option(10, "--epochs")),
    "batch_size": (int, typer.Option(64, "--batch-size", help="global batch (split across torchrun processes)")),
    "lr": (float, typer.Option(3e-3, "--lr")),
    "alpha": (float, typer.Option(0.7, "--alpha", help="weight of the teacher term against labels")),
    "temperature": (float, typer.Option(2.0, "--temperature")),
    "huber": (bool, typer.Option(False, "--huber", help="Huber instead of MSE for regression/forecast")),
    "hidden_weight": (
        float,
        typer.Option(
            0.0, "--hidden-weight", help="also match the teacher's final hidden state (learned projection), this weight"
        ),
    ),
    "qat": (bool, typer.Option(False, "--qat", help="quantization-aware: train through dynamic-int8 rounding")),
    "per_channel": (bool, typer.Option(False, "--per-channel", help="with --qat: per-row weight scales")),
    "qat_bits": (int, typer.Option(7, "--qat-bits", help="with --qat: weight bits, 7 (ORT reduce_range, default) or 8")),
    "init": (
        Path | None,
        typer.Option(None, "--init", help="start from this student checkpoint (same spec), e.g. --qat fine-tuning"),
    ),
    "patience": (int, typer.Option(3, "--patience", help="epochs without validation improvement before stopping")),
    "seed": (int, typer.Option(0, "--seed")),
    "device": (str, typer.Option("auto", "--device", help="auto (a GPU when present), cpu, cuda, cuda:N")),
}
# How table inputs are cut into windows: one `WindowSpec` (or None without --window).
WINDOW_OPTIONS: dict[str, tuple[Any, Any]] = {
    "window": (
        int | None,
        typer.Option(None, "--window", help="cut table inputs (.csv/.parquet rows) into windows of N steps"),
    ),
    "stride": (int | None, typer.Option(None, "--stride", help="window stride (default: the window)")),
    "features": (
        str | None,
        typer.Option(None, "--features", help="feature columns, comma-separated (default: the rest)"),
    ),
    "group": (str | None, typer.Option(None, "--group", help="column naming each recording; windows never cross two")),
    "label": (str | None, typer.Option(None, "--label", help="class column (a window gets its majority label)")),
    "target": (str | None, typer.Option(None, "--target", help="forecast column (y = its next --horizon values)")),
    "horizon": (int, typer.Option(1, "--horizon")),
    "min_length": (
        int | None,
        typer.Option(None, "--min-length", help="keep recordings shorter than the window, padded"),
    ),
}


def _student(**raw: Any) -> dict[str, Any]:
    return raw


def _window(**raw: Any) -> Any:
    from edgelstm.windows import WindowSpec  # heavy (torch): not at --help time

    if raw["window"] is None:
        return None
    if raw["window"] < 1:  # `if window` would take 0 for "no window" and ignore it silently
        raise ConfigError(f"--window must be a positive number of steps, got {raw['window']}")
    return WindowSpec(
        raw["window"], raw["stride"], parse_names_keep_case(raw["features"] or ""), raw["group"], raw["label"],
        raw["target"], raw["horizon"], raw["min_length"],
    )  # fmt: skip


@app.command("distill")
@user_errors
@model_options
@option_group("windows", WINDOW_OPTIONS, _window)
@option_group("student", STUDENT_OPTIONS, _student)
def distill_command(
    teacher: str = typer.Argument(..., help="trained teacher, as the loaders accept it"),
    data: Path = typer.Option(..., "--data", help="training inputs: .npz/.npy/.pt/CSV (`y` optional), or a table with --window"),
    validation: Path = typer.Option(..., "--validation", help="held-out inputs for validation and early stopping"),
    out: Path = typer.Option(..., "--out", help="directory: best/ checkpoint, distill.json, report, resumable state"),
    student: Any = None,
    windows: Any = None,
    report: bool = typer.Option(True, "--report/--no-report", help="score and time teacher, student, int8 student"),
    test: Path | None = typer.Option(None, "--test", help="labelled data for the report (default: --validation)"),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="replace another run (other teacher, data or settings) found in --out"
    ),
    model_options: ModelOptions = ModelOptions(),
) -> None:
    """Train a smaller edgelstm student from a teacher; re-running the same command resumes an interrupted run.

    Multi-GPU / multi-node: launch with torchrun (e.g. torchrun --nproc-per-node 4 -m edgelstm.cli distill ...).
    """
    from edgelstm import api  # heavy (torch): not at --help time
    from edgelstm.distill.progress import training_display  # heavy (torch): not at --help time

    files = {"data": data, "validation": validation, "test": test, "report": report, "overwrite": overwrite}
    options = _distill_options(student, windows, files)
    with training_display() as display:
        outcome = api.distill(model_options.source(teacher), out, options, typer.echo, display.step, display.epoch_done)
    _print(outcome)


def _distill_options(student: dict[str, Any], window: Any, files: dict[str, Any]) -> Any:
    from edgelstm.api import DistillOptions  # heavy (torch): not at --help time
    from edgelstm.distill import DistillConfig, StudentSpec  # heavy (torch): not at --help time

    s = student
    spec = StudentSpec(s["cell"], s["hidden"], s["layers"], s["bidirectional"], s["proj_size"])
    training = DistillConfig(
        student=spec, epochs=s["epochs"], batch_size=s["batch_size"], learning_rate=s["lr"], alpha=s["alpha"],
        temperature=s["temperature"], huber=s["huber"], patience=s["patience"], seed=s["seed"],
        hidden_weight=s["hidden_weight"],
    )  # fmt: skip
    picked = ("target_params", "qat", "per_channel", "qat_bits", "init", "device")
    return DistillOptions(student=spec, training=training, window=window, **{k: s[k] for k in picked}, **files)


def _print(outcome: Any) -> None:
    result = outcome.result
    if result is None:
        return  # torchrun: only rank 0 reports
    out = outcome.out
    typer.echo(
        f"student {result.student_parameters:,} parameters vs teacher {result.teacher_parameters:,} ({result.compression:.1f}x fewer); "
        f"best epoch {result.best_epoch}" + (" (stopped early)" if result.stopped_early else "") + f"; wrote {out / 'best'}"
    )
    if outcome.no_report:
        typer.echo(f"no report: {outcome.no_report}")
    elif outcome.report is not None:
        typer.echo(outcome.report.to_markdown().rstrip())
        typer.echo(f"wrote {out / 'distill_report.md'} and {out / 'distill_report.json'}")
