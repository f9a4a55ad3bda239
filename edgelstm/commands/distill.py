"""`edgelstm distill`: train a smaller student from a teacher."""

from __future__ import annotations

from pathlib import Path

import typer

from edgelstm.cli_common import (
    app,
    model_options,
    parse_names_keep_case,
    user_errors,
)
from edgelstm.model_source import ModelOptions


@app.command("distill")
@user_errors
@model_options
def distill_command(
    teacher: str = typer.Argument(..., help="trained teacher, as the loaders accept it"),
    data: Path = typer.Option(..., "--data", help="training inputs: .npz/.npy/.pt/CSV (`y` optional), or a table with --window"),
    validation: Path = typer.Option(..., "--validation", help="held-out inputs for validation and early stopping"),
    out: Path = typer.Option(..., "--out", help="directory: best/ checkpoint, distill.json, report, resumable state"),
    cell: str = typer.Option("gru", "--cell", help="student cell: lstm, gru, peephole"),
    hidden: int = typer.Option(16, "--hidden", help="student hidden size"),
    layers: int = typer.Option(1, "--layers", help="student layers"),
    bidirectional: bool = typer.Option(False, "--bidirectional", help="bidirectional student (cannot stream)"),
    proj_size: int = typer.Option(0, "--proj-size", help="LSTM output projection size (0: none)"),
    target_params: str | None = typer.Option(
        None, "--target-params", help="parameter budget, e.g. 50k: picks the widest student of --cell/--layers that fits"
    ),
    epochs: int = typer.Option(10, "--epochs"),
    batch_size: int = typer.Option(64, "--batch-size", help="global batch (split across torchrun processes)"),
    lr: float = typer.Option(3e-3, "--lr"),
    alpha: float = typer.Option(0.7, "--alpha", help="weight of the teacher term against labels"),
    temperature: float = typer.Option(2.0, "--temperature"),
    huber: bool = typer.Option(False, "--huber", help="Huber instead of MSE for regression/forecast"),
    hidden_weight: float = typer.Option(
        0.0, "--hidden-weight", help="also match the teacher's final hidden state (learned projection), this weight"
    ),
    qat: bool = typer.Option(False, "--qat", help="quantization-aware: train through dynamic-int8 rounding"),
    per_channel: bool = typer.Option(False, "--per-channel", help="with --qat: per-row weight scales"),
    qat_bits: int = typer.Option(7, "--qat-bits", help="with --qat: weight bits, 7 (ORT reduce_range, default) or 8"),
    init: Path | None = typer.Option(
        None, "--init", help="start from this student checkpoint (same spec), e.g. --qat fine-tuning"
    ),
    patience: int = typer.Option(3, "--patience", help="epochs without validation improvement before stopping"),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto (a GPU when present), cpu, cuda, cuda:N"),
    window: int | None = typer.Option(None, "--window", help="cut table inputs (.csv/.parquet rows) into windows of N steps"),
    stride: int | None = typer.Option(None, "--stride", help="window stride (default: the window)"),
    features: str | None = typer.Option(None, "--features", help="feature columns, comma-separated (default: the rest)"),
    group: str | None = typer.Option(None, "--group", help="column naming each recording; windows never cross two"),
    label: str | None = typer.Option(None, "--label", help="class column (a window gets its majority label)"),
    target: str | None = typer.Option(None, "--target", help="forecast column (y = its next --horizon values)"),
    horizon: int = typer.Option(1, "--horizon"),
    min_length: int | None = typer.Option(None, "--min-length", help="keep recordings shorter than the window, padded"),
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
    import os

    from edgelstm.distill import DistillConfig, FakeQuantSpec, StudentSpec, distill, parse_count, spec_for_budget, student_config
    from edgelstm.distill.inputs import check_distill_data, load_distill_data
    from edgelstm.distill.progress import training_display
    from edgelstm.errors import ConfigError
    from edgelstm.loading import load_model
    from edgelstm.windows import WindowSpec

    if window is not None and window < 1:  # `if window` would take 0 for "no window" and ignore it silently
        raise ConfigError(f"--window must be a positive number of steps, got {window}")
    loaded = load_model(model_options.source(teacher))
    spec = WindowSpec(
        window, stride, parse_names_keep_case(features or ""), group, label, target, horizon, min_length
    ) if window is not None else None  # fmt: skip
    if loaded.config is None:  # a user module: say what task was read from its output
        head = student_config(loaded, StudentSpec()).head
        typer.echo(f"teacher is a user module; student head read from its output: {head.kind}, {head.num_outputs} output(s)")
    train_data = load_distill_data(data, loaded, spec)
    val_data = load_distill_data(validation, loaded, spec)
    test_data = load_distill_data(test, loaded, spec) if test else val_data  # read now: a bad file fails before training
    if qat_bits not in (7, 8):
        raise ConfigError(f"--qat-bits must be 7 or 8, got {qat_bits}")
    student = StudentSpec(cell=cell, hidden_size=hidden, num_layers=layers, bidirectional=bidirectional, proj_size=proj_size)
    if target_params is not None:
        budget = parse_count(target_params)
        student, count = spec_for_budget(student_config(loaded, student), student, budget)
        typer.echo(
            f"--target-params {budget:,}: {student.cell} hidden {student.hidden_size} x {student.num_layers} layer(s), {count:,} parameters"
        )
    config = DistillConfig(
        student=student,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=lr,
        alpha=alpha,
        temperature=temperature,
        huber=huber,
        patience=patience,
        seed=seed,
        hidden_weight=hidden_weight,
        init_from=str(init) if init else None,
        fake_quant=FakeQuantSpec(per_channel=per_channel, reduce_range=qat_bits == 7) if qat else None,
    )
    check_distill_data(test_data, loaded, student_config(loaded, student).head)
    with training_display() as display:
        result = distill(loaded, train_data, val_data, out, config, display.step, display.epoch_done, device, overwrite)
    if int(os.environ.get("RANK", "0")) != 0:
        return  # torchrun: only rank 0 reports
    typer.echo(
        f"student {result.student_parameters:,} parameters vs teacher {result.teacher_parameters:,} ({result.compression:.1f}x fewer); "
        f"best epoch {result.best_epoch}" + (" (stopped early)" if result.stopped_early else "") + f"; wrote {out / 'best'}"
    )
    if report:
        from edgelstm.distill.report import build_distill_report

        if test_data.y is None:
            typer.echo("no report: the test data has no labels/targets (`y`) to score against")
            return
        scored = build_distill_report(loaded, [("student", load_model(str(out / "best")))], test_data)
        scored.write(out)
        typer.echo(scored.to_markdown().rstrip())
        typer.echo(f"wrote {out / 'distill_report.md'} and {out / 'distill_report.json'}")
