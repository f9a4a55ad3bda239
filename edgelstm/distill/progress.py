"""Live training display for `edgelstm distill`: a progress bar with the running loss on a terminal, one line
per epoch everywhere (CI logs included)."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from edgelstm.distill.trainer import StepProgress


class TrainingDisplay:
    """The live progress line of training: smoothed loss per step, metrics per epoch."""

    def __init__(self, progress: Any | None) -> None:
        self.progress, self.task, self.epoch, self.smoothed = progress, None, 0, float("nan")

    def step(self, update: StepProgress) -> None:
        """Show one step's loss, smoothed (single-batch losses jump too much to read)."""
        # An exponential average: single-batch losses jump too much to read.
        self.smoothed = update.loss if math.isnan(self.smoothed) else 0.9 * self.smoothed + 0.1 * update.loss
        if self.progress is None:
            return
        if update.epoch != self.epoch or self.task is None:
            if self.task is not None:
                self.progress.remove_task(self.task)
            self.epoch = update.epoch
            self.task = self.progress.add_task(f"epoch {update.epoch}", total=update.steps_per_epoch, loss=float("nan"))
        self.progress.update(self.task, completed=update.step_in_epoch, loss=self.smoothed)

    def epoch_done(self, entry: dict[str, float]) -> None:
        """Show an epoch's validation loss and metrics."""
        metric = "  ".join(f"{k} {v:.4f}" for k, v in entry.items() if k not in ("epoch", "validation_loss"))
        line = f"  epoch {int(entry['epoch']):3d}  train loss {self.smoothed:.4f}  validation loss {entry['validation_loss']:.4f}  {metric}"
        if self.progress is not None:
            self.progress.console.print(line.rstrip())
        else:
            typer.echo(line.rstrip())


@contextmanager
def training_display() -> Iterator[TrainingDisplay]:
    """A progress display on a terminal, a silent one otherwise (logs and CI)."""
    if not sys.stderr.isatty():
        yield TrainingDisplay(None)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as progress:
        yield TrainingDisplay(progress)
