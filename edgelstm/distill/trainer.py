"""Train a student SequenceModel from a teacher: resumable, deterministic, early-stopping, best kept.

Resume: a training state (student, optimizer, schedule, RNG, position in the epoch) is written atomically every
`checkpoint_every` steps and at each epoch end; a run killed at any point (even SIGKILL) restarts from the last
state with the same data order, so it ends where an uninterrupted run would.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgelstm.checkpoint import save_checkpoint
from edgelstm.config import HeadConfig, ModelConfig
from edgelstm.distill.losses import classification_loss, language_model_loss, regression_loss
from edgelstm.errors import ConfigError, InputShapeError
from edgelstm.files import atomic_path
from edgelstm.loading import LoadedModel
from edgelstm.model import SequenceModel, count_parameters
from edgelstm.parity.data import SequenceData

STATE_FILE = "distill_state.pt"


@dataclass(frozen=True)
class StudentSpec:
    cell: str = "gru"
    hidden_size: int = 16
    num_layers: int = 1
    bidirectional: bool = False
    proj_size: int = 0


@dataclass(frozen=True)
class DistillConfig:
    student: StudentSpec = field(default_factory=StudentSpec)
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 3e-3
    alpha: float = 0.7  # weight of the teacher term
    temperature: float = 2.0
    huber: bool = False
    grad_clip: float = 1.0
    patience: int = 3  # epochs without validation improvement before stopping
    seed: int = 0
    checkpoint_every: int = 20  # steps between resumable states

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.temperature <= 0 or self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("temperature, epochs and batch_size must be positive")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DistillResult:
    out_dir: Path
    teacher_parameters: int
    student_parameters: int
    epochs_run: int
    best_epoch: int
    best_validation_loss: float
    history: list[dict[str, float]]
    stopped_early: bool

    @property
    def compression(self) -> float:
        return self.teacher_parameters / max(self.student_parameters, 1)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "out_dir": str(self.out_dir), "compression": self.compression}


def student_config(teacher: LoadedModel, spec: StudentSpec, head: HeadConfig | None = None) -> ModelConfig:
    """The student keeps the teacher's input and head; the recurrent stack is the spec's."""
    if teacher.config is not None:
        base, head = teacher.config, head or teacher.config.head
        input_size, kind, vocab = base.input_size, base.input_kind, base.vocab_size
    else:
        if head is None:
            raise ConfigError("a user-module teacher needs the student's head (task and number of outputs)")
        kind = "tokens" if teacher.signature.kind == "tokens" else "features"
        vocab = teacher.signature.size if kind == "tokens" else 0
        input_size = 32 if kind == "tokens" else teacher.signature.size
    return ModelConfig(
        input_size=input_size,
        hidden_size=spec.hidden_size,
        cell=spec.cell,  # type: ignore[arg-type]  # ModelConfig validates it
        num_layers=spec.num_layers,
        bidirectional=spec.bidirectional,
        proj_size=spec.proj_size,
        input_kind=kind,  # type: ignore[arg-type]
        vocab_size=vocab,
        head=head,
    )


def distill(
    teacher: LoadedModel,
    train: SequenceData,
    validation: SequenceData,
    out_dir: Path,
    config: DistillConfig = DistillConfig(),
    on_step: Callable[[int, float], None] | None = None,
) -> DistillResult:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    student_cfg = student_config(teacher, config.student)
    teacher_module = teacher.module.eval()
    _check_data(train, teacher)
    _check_data(validation, teacher)
    torch.manual_seed(config.seed)
    student = SequenceModel(student_cfg)
    optimizer = torch.optim.Adam(student.parameters(), lr=config.learning_rate)
    steps_per_epoch = math.ceil(train.count / config.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs * steps_per_epoch)
    state: dict[str, Any] = {
        "epoch": 0,
        "step_in_epoch": 0,
        "global_step": 0,
        "history": [],
        "best": math.inf,
        "best_epoch": -1,
        "bad_epochs": 0,
    }
    state_path = out_dir / STATE_FILE
    if state_path.exists():  # resume
        saved = torch.load(state_path, weights_only=True)  # tensors and plain values only: never unpickles code
        if saved["config"] != config.to_dict():
            raise ConfigError(f"{state_path} was written with different settings; delete it or use the same ones")
        student.load_state_dict(saved["student"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        state = saved["state"]
    teacher_train = _teacher_outputs(teacher_module, train)
    teacher_val = _teacher_outputs(teacher_module, validation)
    stopped_early = False
    while state["epoch"] < config.epochs:
        order = np.random.default_rng(config.seed + state["epoch"]).permutation(train.count)  # same order on resume
        student.train()
        for step in range(state["step_in_epoch"], steps_per_epoch):
            torch.manual_seed(config.seed * 100_003 + state["global_step"])  # dropout masks reproducible on resume
            idx = order[step * config.batch_size : (step + 1) * config.batch_size]
            loss = _loss(student, train, teacher_train, idx, config)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), config.grad_clip)
            optimizer.step()
            schedule.step()
            state["step_in_epoch"], state["global_step"] = step + 1, state["global_step"] + 1
            if on_step:
                on_step(state["global_step"], loss.item())
            if state["global_step"] % config.checkpoint_every == 0:
                _save_state(state_path, student, optimizer, schedule, state, config)
        student.eval()
        with torch.no_grad():
            val_loss = float(_loss(student, validation, teacher_val, np.arange(validation.count), config))
        state["history"].append({"epoch": state["epoch"] + 1, "validation_loss": val_loss})
        if val_loss < state["best"] - 1e-6:
            state["best"], state["best_epoch"], state["bad_epochs"] = val_loss, state["epoch"] + 1, 0
            save_checkpoint(student, out_dir / "best", teacher.preprocessing, overwrite=True)
        else:
            state["bad_epochs"] += 1
        state["epoch"], state["step_in_epoch"] = state["epoch"] + 1, 0
        _save_state(state_path, student, optimizer, schedule, state, config)
        if state["bad_epochs"] >= config.patience:
            stopped_early = True
            break
    result = DistillResult(
        out_dir,
        count_parameters(teacher_module),
        count_parameters(student),
        state["epoch"],
        state["best_epoch"],
        state["best"],
        state["history"],
        stopped_early,
    )
    with atomic_path(out_dir / "distill.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result


def _save_state(path: Path, student: Any, optimizer: Any, schedule: Any, state: dict, config: DistillConfig) -> None:
    with atomic_path(path, overwrite=True) as tmp:
        torch.save(
            {
                "student": student.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "state": state,
                "config": config.to_dict(),
            },
            tmp,
        )


def _check_data(data: SequenceData, teacher: LoadedModel) -> None:
    if teacher.signature.kind == "features" and data.x.shape[-1] != teacher.signature.size:
        raise InputShapeError(f"{data.source}: {data.x.shape[-1]} features, the teacher takes {teacher.signature.size}")


def _teacher_outputs(module: Any, data: SequenceData) -> torch.Tensor:
    outputs = []
    with torch.no_grad():
        for start in range(0, data.count, 256):
            x = torch.from_numpy(data.x[start : start + 256])
            lengths = None if data.lengths is None else torch.from_numpy(data.lengths[start : start + 256])
            result = module(x, lengths) if isinstance(module, SequenceModel) else module(x)
            outputs.append((result[0] if isinstance(result, tuple) else result).float())
    return torch.cat(outputs)


def _loss(
    student: SequenceModel, data: SequenceData, teacher: torch.Tensor, idx: np.ndarray, config: DistillConfig
) -> torch.Tensor:
    x = torch.from_numpy(data.x[idx])
    lengths = None if data.lengths is None else torch.from_numpy(data.lengths[idx])
    output, _ = student(x, lengths)
    target = teacher[torch.from_numpy(idx)]
    labels = None if data.y is None else torch.from_numpy(np.asarray(data.y)[idx])
    kind = student.config.head.kind
    if kind == "lm":
        mask = None
        if lengths is not None:
            mask = torch.arange(x.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
        return language_model_loss(output, target, mask, config.temperature)
    if kind == "classify" or (kind == "per_step" and output.shape[-1] > 1):
        return classification_loss(
            output, target, labels.long() if labels is not None else None, config.alpha, config.temperature
        )
    return regression_loss(output, target, labels, config.alpha, config.huber)
