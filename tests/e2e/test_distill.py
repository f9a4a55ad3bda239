"""Distillation: students learn from their teacher (each task), resume exactly, and refuse bad data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgelstm.checkpoint import WEIGHTS_FILE
from edgelstm.distill import DistillConfig, StepProgress, StudentSpec, distill, student_config
from edgelstm.distill.distributed import TrainingPlace
from edgelstm.distill.trainer import TeacherTargets, Trainee, _evaluate
from edgelstm.errors import ConfigError, InputShapeError
from edgelstm.loading import InputSignature, LoadedModel
from edgelstm.model import SequenceModel
from edgelstm.parity.data import SequenceData
from tests.conftest import tiny_model


def _teacher(head: str) -> LoadedModel:
    model = tiny_model(cell="lstm", layers=2, head=head)
    return LoadedModel(model, "checkpoint", "teacher", InputSignature.from_config(model.config), model.config)


def _data(teacher: LoadedModel, count: int, seed: int, labels: bool = True) -> SequenceData:
    rng = np.random.default_rng(seed)
    if teacher.signature.kind == "tokens":
        x = rng.integers(0, teacher.signature.size, size=(count, 10))
    else:
        x = rng.standard_normal((count, 10, teacher.signature.size)).astype(np.float32)
    y = None
    if labels:
        with torch.no_grad():
            out, _ = teacher.module(torch.from_numpy(x))
        y = out.argmax(-1).numpy() if teacher.config.head.kind == "classify" else None
    return SequenceData(x, None, y, f"synthetic-{seed}")


@pytest.mark.parametrize("head", ["classify-last", "forecast", "lm"])
def test_student_learns_the_teacher_better_than_an_untrained_student(tmp_path: Path, head: str) -> None:
    torch.set_num_threads(1)
    teacher = _teacher(head)
    train, val = _data(teacher, 192, 0), _data(teacher, 64, 1)
    config = DistillConfig(
        student=StudentSpec(cell="gru", hidden_size=8), epochs=6, batch_size=32, learning_rate=1e-2, patience=10
    )
    result = distill(teacher, train, val, tmp_path, config)
    assert result.student_parameters < result.teacher_parameters
    torch.manual_seed(config.seed)
    untrained = SequenceModel(student_config(teacher, config.student)).eval()
    untrained_loss, _ = _evaluate(
        Trainee(untrained, config, 0),
        val,
        TeacherTargets(teacher, val, False, torch.device("cpu"), 64),
        config,
        TrainingPlace(torch.device("cpu")),
    )
    assert result.best_validation_loss < 0.7 * untrained_loss
    assert (tmp_path / "best" / WEIGHTS_FILE).exists() and (tmp_path / "distill.json").exists()


def test_without_labels_it_still_learns_from_the_teacher(tmp_path: Path) -> None:
    teacher = _teacher("classify-last")
    train, val = _data(teacher, 128, 0, labels=False), _data(teacher, 32, 1, labels=False)
    result = distill(teacher, train, val, tmp_path, DistillConfig(epochs=3, batch_size=32, learning_rate=1e-2))
    losses = [h["validation_loss"] for h in result.history]
    assert losses[-1] < losses[0]


def test_interrupted_run_resumes_to_the_same_student(tmp_path: Path) -> None:
    """A crash mid-epoch (here: an exception at step 7, after a state save at step 5) resumes bit-for-bit."""
    torch.set_num_threads(1)
    teacher = _teacher("classify-last")
    train, val = _data(teacher, 96, 0), _data(teacher, 32, 1)
    config = DistillConfig(epochs=3, batch_size=16, checkpoint_every=5, patience=10)
    distill(teacher, train, val, tmp_path / "straight", config)

    def crash(progress: StepProgress) -> None:
        if progress.global_step == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        distill(teacher, train, val, tmp_path / "resumed", config, on_step=crash)
    distill(teacher, train, val, tmp_path / "resumed", config)
    assert (tmp_path / "straight/best" / WEIGHTS_FILE).read_bytes() == (tmp_path / "resumed/best" / WEIGHTS_FILE).read_bytes()


def test_bad_data_and_settings_are_refused(tmp_path: Path) -> None:
    teacher = _teacher("classify-last")
    wrong = SequenceData(np.zeros((4, 10, 3), np.float32), None, None, "wrong.npz")
    with pytest.raises(InputShapeError, match="3 features"):
        distill(teacher, wrong, wrong, tmp_path)
    with pytest.raises(ConfigError, match="alpha"):
        DistillConfig(alpha=1.5)


def test_cli_distill_writes_a_loadable_student(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from edgelstm.checkpoint import save_checkpoint
    from edgelstm.cli import app
    from edgelstm.loading import load_model

    teacher = _teacher("classify-last")
    save_checkpoint(teacher.module, tmp_path / "teacher")
    for name, seed in (("train", 0), ("val", 1)):
        d = _data(teacher, 64, seed)
        np.savez(tmp_path / f"{name}.npz", x=d.x, y=d.y)
    result = CliRunner().invoke(
        app,
        [
            "distill",
            str(tmp_path / "teacher"),
            "--data",
            str(tmp_path / "train.npz"),
            "--validation",
            str(tmp_path / "val.npz"),
            "--out",
            str(tmp_path / "student"),
            "--hidden",
            "6",
            "--epochs",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    student = load_model(str(tmp_path / "student" / "best"))
    assert student.config is not None and student.config.hidden_size == 6 and student.config.cell == "gru"
