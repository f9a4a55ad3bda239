"""Small, deterministic supervised training loops for reference models and teachers."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from edgelstm.distill.metrics import MetricAccumulator, task_kind
from edgelstm.model import SequenceModel


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of edgelstm's small training loop (`train_classifier`, `train_supervised`)."""

    epochs: int = 8
    batch_size: int = 64
    learning_rate: float = 3e-3
    grad_clip: float = 1.0
    seed: int = 0
    # 1, as scripts/train_reference.py: with another process on the second core, 2 threads collapse (3 epochs of a
    # hidden-24 LSTM: 1.4 s at 1 thread, 17.7 s at 2, 2 vCPUs). The weights depend on it: a fixed setting, not tuned.
    threads: int = 1


@dataclass
class TrainResult:
    """Losses and accuracies per epoch of a training run, and how long it took."""

    epochs: int
    seconds: float
    train_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)

    @property
    def final_accuracy(self) -> float:
        """The test accuracy after the last epoch (nan when no epoch was evaluated)."""
        return self.test_accuracy[-1] if self.test_accuracy else float("nan")


def classification_accuracy(model: SequenceModel, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    """The fraction of `x` whose predicted class matches `y`, evaluated in batches without gradients."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits, _ = model(torch.from_numpy(x[start : start + batch_size]))
            correct += int((logits.argmax(-1).numpy() == y[start : start + batch_size]).sum())
    return correct / max(len(x), 1)


def train_classifier(
    model: SequenceModel,
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    config: TrainConfig = TrainConfig(),
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> TrainResult:
    """Cross-entropy with a per-epoch cosine schedule (the reference model's recipe)."""
    loss_fn = torch.nn.CrossEntropyLoss()
    return _fit(
        model,
        train_x,
        train_y,
        config,
        loss_of=lambda output, target: loss_fn(output, target),
        make_schedule=lambda optimizer: torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs),
        schedule_per_step=False,
        score=lambda: classification_accuracy(model, test_x, test_y),
        on_epoch=on_epoch,
    )


def train_supervised(
    model: SequenceModel,
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    config: TrainConfig = TrainConfig(),
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> TrainResult:
    """Train any head on labels: cross-entropy (classify, per-token LM) or MSE (forecast / regression), with a
    one-cycle schedule. `test_accuracy` then holds the task metric per epoch: accuracy, MAE or bits per character.
    """
    from torch.nn import functional as F

    kind = task_kind(model.config.head.kind, model.config.head.num_outputs)

    def loss_of(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if kind == "regress":
            return F.mse_loss(output, target.reshape(output.shape))
        return F.cross_entropy(output.reshape(-1, output.shape[-1]), target.reshape(-1).long())

    def score() -> float:
        metric = MetricAccumulator(kind)
        with torch.no_grad():
            for start in range(0, len(test_x), 256):
                output, _ = model(torch.from_numpy(test_x[start : start + 256]))
                metric.add(output, torch.from_numpy(test_y[start : start + 256]))
        return metric.result().value

    steps = config.epochs * int(np.ceil(len(train_x) / config.batch_size))
    return _fit(
        model,
        train_x,
        train_y,
        config,
        loss_of=loss_of,
        make_schedule=lambda optimizer: torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.learning_rate, total_steps=steps
        ),
        schedule_per_step=True,
        score=score,
        on_epoch=on_epoch,
    )


def _fit(
    model: SequenceModel,
    train_x: np.ndarray,
    train_y: np.ndarray,
    config: TrainConfig,
    loss_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    make_schedule: Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler],
    schedule_per_step: bool,
    score: Callable[[], float],
    on_epoch: Callable[[int, float, float], None] | None,
) -> TrainResult:
    """The shared loop: seeded shuffles, Adam, gradient clipping, a score on held-out data after every epoch."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    schedule = make_schedule(optimizer)
    result = TrainResult(epochs=config.epochs, seconds=0.0)
    started = time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        order = rng.permutation(len(train_x))
        losses = []
        for start in range(0, len(order), config.batch_size):
            idx = order[start : start + config.batch_size]
            output, _ = model(torch.from_numpy(train_x[idx]))
            loss = loss_of(output, torch.from_numpy(train_y[idx]))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            if schedule_per_step:
                schedule.step()
            losses.append(loss.item())
        if not schedule_per_step:
            schedule.step()
        model.eval()
        result.train_loss.append(float(np.mean(losses)))
        result.test_accuracy.append(score())
        if on_epoch:
            on_epoch(epoch + 1, result.train_loss[-1], result.test_accuracy[-1])
    result.seconds = time.perf_counter() - started
    model.eval()
    return result
