"""Train a student SequenceModel from a teacher: resumable, deterministic, early-stopping, best kept.

Resume: a training state (student, projection, optimizer, schedule, position in the epoch) is written
atomically every `checkpoint_every` steps and at each epoch end; a run killed at any point (even SIGKILL)
restarts from the last state with the same data order and the same per-step seeds, so it ends where an
uninterrupted run would.

Distributed: under torchrun every process takes a strided share of each global batch and DDP averages the
gradients. Each share's loss is weighted by its size, so the averaged gradient is the full batch's and N
processes train the same student as one (up to float summation order). Only rank 0 writes files.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from edgelstm.checkpoint import load_checkpoint
from edgelstm.config import HeadConfig, ModelConfig
from edgelstm.distill.distributed import TrainingPlace, leave_group, training_place
from edgelstm.distill.fake_quant import fake_quant_forward
from edgelstm.distill.inputs import check_distill_data
from edgelstm.distill.losses import classification_loss, hidden_state_loss, language_model_loss, regression_loss
from edgelstm.distill.metrics import MetricAccumulator, TaskMetric, task_kind
from edgelstm.distill.run_dir import (
    BEST_DIR,
    STATE_FILE,
    SUMMARY_FILE,
    RunIdentity,
    claim_run_dir,
    clear_run,
    run_identity,
    save_best,
)
from edgelstm.distill.spec import DistillConfig, StudentSpec
from edgelstm.errors import ConfigError, InputShapeError, ResumeStateError, TrainingDivergedError, first_line
from edgelstm.files import atomic_path
from edgelstm.jsonio import to_jsonable
from edgelstm.loading import LoadedModel
from edgelstm.model import SequenceModel, count_parameters
from edgelstm.parity.data import SequenceData

EVAL_BATCH = 256


@dataclass
class DistillResult:
    """What distillation produced: the student checkpoint, its size against the teacher, and the run directory."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("compression",)  # derived values written after the fields

    out_dir: Path
    teacher_parameters: int
    student_parameters: int
    student_spec: StudentSpec
    epochs_run: int
    best_epoch: int
    best_validation_loss: float
    history: list[dict[str, float]]
    stopped_early: bool
    world_size: int = 1
    device: str = "cpu"
    # Optimizer steps over the whole run, across resumes: a resumed run counts on from its saved state, so this
    # equals a straight run's (the counter also seeds each step's randomness and the state-saving cadence).
    global_step: int = 0

    @property
    def compression(self) -> float:
        """Teacher parameters over student parameters."""
        return self.teacher_parameters / max(self.student_parameters, 1)


@dataclass(frozen=True)
class StepProgress:
    """What a progress display gets after every optimizer step (rank 0 only)."""

    epoch: int
    step_in_epoch: int
    steps_per_epoch: int
    global_step: int
    loss: float


def student_config(teacher: LoadedModel, spec: StudentSpec, head: HeadConfig | None = None) -> ModelConfig:
    """The student keeps the teacher's input and head; the recurrent stack is the spec's."""
    if teacher.config is not None:
        base, head = teacher.config, head or teacher.config.head
        input_size, kind, vocab = base.input_size, base.input_kind, base.vocab_size
    else:
        head = head or infer_head(teacher)
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


def infer_head(teacher: LoadedModel) -> HeadConfig:
    """The head a user-module teacher has, read from its output on one probe sequence.

    [B, C]: classification over C classes (C = 1: one regression value); [B, T, C] on token input: a language
    model; [B, T, C] with T equal to the input's length: per-step outputs; [B, H, C] otherwise: an H-step forecast.
    A multi-output regressor returning [B, C] reads as a classifier: give an edgelstm teacher for that case.
    """
    sig = teacher.signature
    steps = sig.example_steps
    probe = torch.zeros(1, steps, dtype=torch.long) if sig.kind == "tokens" else torch.zeros(1, steps, sig.size)
    with torch.no_grad():
        result = teacher.module.eval()(probe)
    output = result[0] if isinstance(result, tuple) else result
    if not isinstance(output, torch.Tensor) or output.dim() not in (2, 3):
        raise ConfigError("cannot tell the teacher's task: its output is not a [B, C] or [B, T, C] tensor")
    if output.dim() == 2:
        if output.shape[1] == 1:
            return HeadConfig(kind="forecast", num_outputs=1, pooling="last")
        return HeadConfig(kind="classify", num_outputs=int(output.shape[1]), pooling="last")
    if sig.kind == "tokens":
        return HeadConfig(kind="lm", num_outputs=int(output.shape[2]))
    if output.shape[1] == steps:
        return HeadConfig(kind="per_step", num_outputs=int(output.shape[2]))
    return HeadConfig(kind="forecast", num_outputs=int(output.shape[2]), horizon=int(output.shape[1]), pooling="last")


class Trainee(nn.Module):
    """The student plus what only training needs (the hidden-state projection, fake quantization)."""

    def __init__(self, student: SequenceModel, config: DistillConfig, teacher_width: int) -> None:
        super().__init__()
        self.student = student
        self.fake_quant = config.fake_quant
        width = student.config.recurrent_output_size
        self.projection = nn.Linear(width, teacher_width) if config.hidden_weight > 0 else None

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The student's outputs (and projected hidden state, when hidden-state matching is on), fake-quantized if set."""
        if self.fake_quant is not None:
            output, state = fake_quant_forward(self.student, self.fake_quant, x, lengths)
        else:
            output, state = self.student(x, lengths)
        hidden = self.projection(top_hidden(state[0], self.student.config)) if self.projection is not None else None
        return output, hidden


def top_hidden(h_n: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """Final h of the top layer, directions side by side: [B, directions * width]."""
    top = h_n[-config.num_directions :]
    return top.permute(1, 0, 2).reshape(top.shape[1], -1)


class TeacherTargets:
    """Teacher outputs (and final hidden states) per sequence: computed once when small, else per batch."""

    def __init__(self, teacher: LoadedModel, data: SequenceData, need_hidden: bool, device: torch.device, cache_mb: int):
        self.module, self.data, self.need_hidden, self.device = teacher.module, data, need_hidden, device
        if need_hidden and not isinstance(self.module, SequenceModel):
            raise ConfigError("hidden-state matching needs an edgelstm teacher (a user module returns no hidden state)")
        probe, _ = self._run(np.arange(min(data.count, 2)))
        per_sequence = probe[0].numel() * 4
        self.cached: tuple[torch.Tensor, torch.Tensor | None] | None = None
        if per_sequence * data.count <= cache_mb * 2**20:
            chunks = [self._run(np.arange(s, min(s + EVAL_BATCH, data.count))) for s in range(0, data.count, EVAL_BATCH)]
            hidden = torch.cat([c[1] for c in chunks]) if need_hidden else None  # type: ignore[misc]
            self.cached = (torch.cat([c[0] for c in chunks]), hidden)
            if not torch.isfinite(self.cached[0]).all():  # caught per step otherwise; here the cause can be named
                raise InputShapeError(f"{data.source}: the teacher's outputs on this data contain NaN or Inf")

    def get(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The teacher's outputs (and hidden states) for the sequences at `idx`."""
        if self.cached is None:
            return self._run(idx)
        rows = torch.from_numpy(idx).to(self.device)
        outputs, hidden = self.cached
        return outputs[rows], None if hidden is None else hidden[rows]

    def _run(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The teacher on the sequences at `idx` (outputs and, when needed, hidden states)."""
        x, lengths = _batch_inputs(self.data, idx, self.device)
        with torch.no_grad():
            if isinstance(self.module, SequenceModel):
                output, state = self.module(x, lengths)
                hidden = top_hidden(state[0], self.module.config).float() if self.need_hidden else None
                return output.float(), hidden
            result = self.module(x)
            return (result[0] if isinstance(result, tuple) else result).float(), None


def distill(
    teacher: LoadedModel,
    train: SequenceData,
    validation: SequenceData,
    out_dir: Path,
    config: DistillConfig = DistillConfig(),
    on_step: Callable[[StepProgress], None] | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    device: str = "auto",
    overwrite: bool = False,
) -> DistillResult:
    """Distill `teacher` into a student of `config.student`; writes best/ (a checkpoint) and distill.json.

    Re-running the same run (same settings, teacher and data) in `out_dir` resumes it; a directory holding another
    run is refused unless `overwrite`, which replaces only distill's own files there.
    Under torchrun, call it in every process with the same arguments; it joins the process group itself.
    """
    out_dir = Path(out_dir)
    place = training_place(device)
    try:
        return _distill(teacher, train, validation, out_dir, config, on_step, on_epoch, place, overwrite)
    finally:
        teacher.module.to("cpu")  # export, quantization and the report read the teacher's weights on the CPU
        leave_group(place)


def _distill(
    teacher: LoadedModel,
    train: SequenceData,
    validation: SequenceData,
    out_dir: Path,
    config: DistillConfig,
    on_step: Callable[[StepProgress], None] | None,
    on_epoch: Callable[[dict[str, float]], None] | None,
    place: TrainingPlace,
    overwrite: bool,
) -> DistillResult:
    """The training loop on one place: epochs, validation, checkpoints, early stop."""
    student_cfg = student_config(teacher, config.student)
    check_distill_data(train, teacher, student_cfg.head)
    check_distill_data(validation, teacher, student_cfg.head)
    identity = run_identity(teacher.module, train, validation, config)
    saved, clear = claim_run_dir(out_dir, identity, overwrite, place.device)  # reads only: a refusal changes nothing
    place.barrier()  # every process has read the directory before the main one clears it
    if place.is_main:
        if clear:
            clear_run(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
    place.barrier()
    teacher_module = teacher.module.eval().to(place.device)
    need_hidden = config.hidden_weight > 0
    teacher_width = _teacher_width(teacher) if need_hidden else 0
    torch.manual_seed(config.seed)
    student = SequenceModel(student_cfg)
    if config.init_from:
        _init_student(student, Path(config.init_from))
    trainee = Trainee(student, config, teacher_width).to(place.device)
    model: nn.Module = trainee
    if place.distributed:
        device_ids = [place.device] if place.device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(trainee, device_ids=device_ids)
    optimizer = torch.optim.Adam(trainee.parameters(), lr=config.learning_rate)
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
        "stopped_early": False,
    }
    state_path = out_dir / STATE_FILE
    if saved is not None:  # resume: claim_run_dir checked that the state is this run's
        try:
            trainee.load_state_dict(saved["trainee"])
            optimizer.load_state_dict(saved["optimizer"])
            schedule.load_state_dict(saved["schedule"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise ResumeStateError(
                f"{state_path}: does not fit this run ({first_line(exc, 120)}); delete it (or pass --overwrite) to start over"
            ) from None
        state = saved["state"]
    finished = state["epoch"] >= config.epochs or state.get("stopped_early", False)
    if not finished:  # a finished run re-run only reports: no teacher pass over the data
        teacher_train = TeacherTargets(teacher, train, need_hidden, place.device, config.teacher_cache_mb)
        teacher_val = TeacherTargets(teacher, validation, need_hidden, place.device, config.teacher_cache_mb)
    while state["epoch"] < config.epochs and not state.get("stopped_early", False):  # a finished run stays finished
        order = np.random.default_rng(config.seed + state["epoch"]).permutation(train.count)  # same order on resume
        trainee.train()
        for step in range(state["step_in_epoch"], steps_per_epoch):
            torch.manual_seed(config.seed * 100_003 + state["global_step"])  # dropout masks reproducible on resume
            batch = order[step * config.batch_size : (step + 1) * config.batch_size]
            share, weight = _share(place, batch)
            loss, _ = _loss(model, trainee, train, teacher_train, share, config, place.device)
            optimizer.zero_grad()
            (loss * weight).backward()
            norm = torch.nn.utils.clip_grad_norm_(trainee.parameters(), config.grad_clip)
            # Before the step: the weights, and the last state saved, stay finite. The gradient norm is the same in
            # every process after DDP's all-reduce, so all of them stop together.
            if not torch.isfinite(norm) or (not place.distributed and not torch.isfinite(loss)):
                raise TrainingDivergedError(
                    f"training diverged: loss {loss.item():g}, gradient norm {float(norm):g} at epoch {state['epoch'] + 1} "
                    f"step {step + 1}; lower --lr or check the data (features far from the teacher's scale)"
                )
            optimizer.step()
            schedule.step()
            state["step_in_epoch"], state["global_step"] = step + 1, state["global_step"] + 1
            if on_step and place.is_main:
                on_step(StepProgress(state["epoch"] + 1, step + 1, steps_per_epoch, state["global_step"], loss.item()))
            if state["global_step"] % config.checkpoint_every == 0:
                _save_state(place, state_path, trainee, optimizer, schedule, state, identity)
        val_loss, metric = _evaluate(trainee, validation, teacher_val, config, place)
        if not math.isfinite(val_loss):
            raise TrainingDivergedError(
                f"validation loss is {val_loss} after epoch {state['epoch'] + 1}; no student is published "
                "(lower --lr, or check the validation data and the teacher's outputs)"
            )
        entry = {"epoch": state["epoch"] + 1, "validation_loss": val_loss}
        if metric is not None:
            entry[metric.name] = metric.value
        state["history"].append(entry)
        if val_loss < state["best"] - 1e-6:
            state["best"], state["best_epoch"], state["bad_epochs"] = val_loss, state["epoch"] + 1, 0
            if place.is_main:
                save_best(out_dir, _on_cpu(student), teacher.preprocessing, identity, state["best_epoch"], val_loss)
        else:
            state["bad_epochs"] += 1
        state["epoch"], state["step_in_epoch"] = state["epoch"] + 1, 0
        _save_state(place, state_path, trainee, optimizer, schedule, state, identity)
        if on_epoch and place.is_main:
            on_epoch(entry)
        if state["bad_epochs"] >= config.patience:
            state["stopped_early"] = True
            _save_state(place, state_path, trainee, optimizer, schedule, state, identity)
            break
    if place.is_main and not (out_dir / BEST_DIR).is_dir():  # never report a student that was not written
        raise ResumeStateError(f"{out_dir / BEST_DIR}: no best student was written; pass --overwrite to train again")
    result = DistillResult(
        out_dir,
        count_parameters(teacher_module),
        count_parameters(student),
        config.student,
        state["epoch"],
        state["best_epoch"],
        state["best"],
        state["history"],
        bool(state.get("stopped_early", False)),
        place.world_size,
        str(place.device),
        state["global_step"],
    )
    if place.is_main:
        summary = {**to_jsonable(result), "config": to_jsonable(config), "identity": to_jsonable(identity)}
        with atomic_path(out_dir / SUMMARY_FILE, overwrite=True) as tmp:
            tmp.write_text(json.dumps(summary, indent=2) + "\n")
    place.barrier()
    return result


def _init_student(student: SequenceModel, checkpoint: Path) -> None:
    """Start from a trained student (e.g. quantization-aware fine-tuning of a float student)."""
    start, _ = load_checkpoint(checkpoint)
    if start.config != student.config:
        raise ConfigError(f"{checkpoint}: its architecture differs from the student spec; pick the same spec to start from it")
    student.load_state_dict(start.state_dict())


def _on_cpu(student: SequenceModel) -> SequenceModel:
    """The student on CPU (a copy when it trained elsewhere), for export."""
    return student if next(student.parameters()).device.type == "cpu" else copy.deepcopy(student).cpu()


def _share(place: TrainingPlace, batch: np.ndarray) -> tuple[np.ndarray, float]:
    """This process's rows of the batch and the weight that makes DDP's gradient average the full batch's."""
    share = place.shard(batch)
    if len(share) == 0:  # fewer rows than processes: run a row with weight 0 so DDP's collectives still meet
        return batch[:1], 0.0
    return share, len(share) * place.world_size / len(batch)


def _teacher_width(teacher: LoadedModel) -> int:
    """The teacher's hidden width (what hidden-state matching projects the student to)."""
    if not isinstance(teacher.module, SequenceModel):
        raise ConfigError("hidden-state matching needs an edgelstm teacher (a user module returns no hidden state)")
    cfg = teacher.module.config
    return cfg.recurrent_output_size


def _save_state(
    place: TrainingPlace, path: Path, trainee: Trainee, optimizer: Any, schedule: Any, state: dict, identity: RunIdentity
) -> None:
    """Save the training state atomically (main process only), so a run resumes where it stopped."""
    if place.is_main:
        with atomic_path(path, overwrite=True) as tmp:
            torch.save(
                {
                    "trainee": trainee.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(),
                    "state": state,
                    "identity": to_jsonable(identity),
                },
                tmp,
            )
    place.barrier()  # a resumed process must never read a state another process is still writing


def _batch_inputs(data: SequenceData, idx: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The inputs and lengths of the sequences at `idx`, on `device`."""
    x = torch.from_numpy(data.x[idx]).to(device)
    lengths = None if data.lengths is None else torch.from_numpy(data.lengths[idx])  # stays on CPU (packing)
    return x, lengths


def _step_mask(lengths: torch.Tensor | None, steps: int, device: torch.device) -> torch.Tensor | None:
    """Which steps are valid per sequence (None when all are)."""
    if lengths is None:
        return None
    return (torch.arange(steps).unsqueeze(0) < lengths.unsqueeze(1)).to(device)


def _loss(
    model: nn.Module,
    trainee: Trainee,
    data: SequenceData,
    teacher: TeacherTargets,
    idx: np.ndarray,
    config: DistillConfig,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The distillation loss on rows `idx` and the student's output for them."""
    x, lengths = _batch_inputs(data, idx, device)
    output, hidden = model(x, lengths)
    target, teacher_hidden = teacher.get(idx)
    labels = None if data.y is None else torch.from_numpy(np.asarray(data.y)[idx]).to(device)
    head = trainee.student.config.head
    kind = task_kind(head.kind, output.shape[-1])
    if kind == "lm":
        loss = language_model_loss(
            output,
            target,
            None if labels is None else labels.long(),
            _step_mask(lengths, x.shape[1], device),
            config.alpha,
            config.temperature,
        )
    elif kind == "classify":
        loss = classification_loss(output, target, None if labels is None else labels.long(), config.alpha, config.temperature)
    else:
        loss = regression_loss(output, target, labels, config.alpha, config.huber)
    if hidden is not None and teacher_hidden is not None:
        loss = loss + config.hidden_weight * hidden_state_loss(hidden, teacher_hidden)
    return loss, output


def _evaluate(
    trainee: Trainee, data: SequenceData, teacher: TeacherTargets, config: DistillConfig, place: TrainingPlace
) -> tuple[float, TaskMetric | None]:
    """Validation loss (what early stopping watches) and the task metric against the labels, when given.

    Every process scores the whole validation set with the same weights, so all of them take the same
    early-stopping decision without another collective.
    """
    trainee.eval()
    total, count = 0.0, 0
    head = trainee.student.config.head
    metric: MetricAccumulator | None = None
    with torch.no_grad():
        for start in range(0, data.count, EVAL_BATCH):
            idx = np.arange(start, min(start + EVAL_BATCH, data.count))
            loss, output = _loss(trainee, trainee, data, teacher, idx, config, place.device)
            total += float(loss) * len(idx)
            count += len(idx)
            if data.y is not None:
                lengths = None if data.lengths is None else torch.from_numpy(data.lengths[idx])
                metric = metric or MetricAccumulator(task_kind(head.kind, output.shape[-1]))
                labels = torch.from_numpy(np.asarray(data.y)[idx]).to(place.device)
                metric.add(output, labels, _step_mask(lengths, data.max_steps, place.device))
    return total / max(count, 1), None if metric is None else metric.result()
