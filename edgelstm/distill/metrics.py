"""Task metrics a user reads: accuracy (classification), MAE (regression/forecast), bits per character (LM)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F


@dataclass(frozen=True)
class TaskMetric:
    """A task score (accuracy, MAE or bits per character) and whether higher is better."""

    name: str  # "accuracy" | "mae" | "bits_per_char"
    value: float
    higher_is_better: bool

    def relative_change(self, reference: TaskMetric) -> float:
        """Signed change that is positive when this is worse than `reference` (fraction of the reference)."""
        worse = reference.value - self.value if self.higher_is_better else self.value - reference.value
        return worse / abs(reference.value) if reference.value else math.inf


def task_kind(head_kind: str, outputs: int) -> str:
    """Which metric a head is scored by: classification, regression or language model."""
    if head_kind == "lm":
        return "lm"
    if head_kind == "classify" or (head_kind == "per_step" and outputs > 1):
        return "classify"
    return "regress"


class MetricAccumulator:
    """Sums a task metric over batches so a data set of any size is scored in bounded memory."""

    def __init__(self, kind: str) -> None:
        self.kind, self.total, self.count = kind, 0.0, 0

    def add(self, output: Tensor, labels: Tensor, mask: Tensor | None = None) -> None:
        """Add one batch of outputs and labels (masked to valid steps) to the running metric."""
        output = output.detach().float()
        if self.kind == "classify":
            self.total += float((output.argmax(-1) == labels.long()).sum())
            self.count += int(labels.numel())
        elif self.kind == "lm":
            nll = F.cross_entropy(output.reshape(-1, output.shape[-1]), labels.long().reshape(-1), reduction="none")
            weights = torch.ones_like(nll) if mask is None else mask.reshape(-1).to(nll.dtype)
            self.total += float((nll * weights).sum()) / math.log(2)
            self.count += int(weights.sum())
        else:
            self.total += float((output - labels.reshape(output.shape).to(output.dtype)).abs().sum())
            self.count += int(output.numel())

    def result(self) -> TaskMetric:
        """The metric over everything added so far."""
        value = self.total / max(self.count, 1)
        name = {"classify": "accuracy", "lm": "bits_per_char", "regress": "mae"}[self.kind]
        return TaskMetric(name, value, higher_is_better=self.kind == "classify")
