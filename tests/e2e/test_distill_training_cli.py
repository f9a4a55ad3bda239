"""Distillation beyond the basic loop: torchrun/DDP, quantization-aware training, hidden-state matching,
parameter budgets, resume after early stop, and the distillation report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from edgelstm.checkpoint import WEIGHTS_FILE, save_checkpoint
from edgelstm.distill import DistillConfig, FakeQuantSpec, StudentSpec, distill, student_config
from edgelstm.errors import ConfigError
from edgelstm.jsonio import to_jsonable
from edgelstm.loading import InputSignature, LoadedModel, load_model
from edgelstm.model import SequenceModel
from edgelstm.parity.data import SequenceData
from tests.support.distill_training import _labelled, _teacher

REPO = Path(__file__).resolve().parents[2]


def _teacher_on_disk(directory: Path, train_count: int, val_count: int = 48) -> LoadedModel:
    """A teacher checkpoint plus train.npz / val.npz labelled by it, for tests that run the CLI."""
    teacher = _teacher()
    save_checkpoint(teacher.module, directory / "teacher")
    for name, count, seed in (("train", train_count, 0), ("val", val_count, 1)):
        d = _labelled(teacher, count, seed)
        np.savez(directory / f"{name}.npz", x=d.x, lengths=d.lengths, y=d.y)
    return teacher


# -- torchrun / DistributedDataParallel ------------------------------------------------------------------


@pytest.mark.slow
def test_two_torchrun_processes_train_the_same_student_as_one(tmp_path: Path) -> None:
    """2 CPU processes (gloo) vs 1 process, same global batch: the students agree to float rounding.

    The batch size (30) does not divide the 200 sequences, so the last batch is split unevenly: the per-share
    loss weighting is what keeps the averaged gradient equal to the full batch's.
    """
    teacher = _teacher_on_disk(tmp_path, train_count=200)
    args = [
        "-m", "edgelstm.cli", "distill", str(tmp_path / "teacher"),
        "--data", str(tmp_path / "train.npz"), "--validation", str(tmp_path / "val.npz"),
        "--hidden", "6", "--epochs", "2", "--batch-size", "30", "--no-report", "--device", "cpu",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    single = subprocess.run([sys.executable, *args, "--out", str(tmp_path / "one")], env=env, capture_output=True, text=True)
    assert single.returncode == 0, single.stderr
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    double = subprocess.run([*launcher, *args, "--out", str(tmp_path / "two")], env=env, capture_output=True, text=True)
    assert double.returncode == 0, double.stderr[-2000:]
    assert json.loads((tmp_path / "two" / "distill.json").read_text())["world_size"] == 2
    one, two = load_file(tmp_path / "one/best" / WEIGHTS_FILE), load_file(tmp_path / "two/best" / WEIGHTS_FILE)
    assert one.keys() == two.keys()
    worst = max(float(np.abs(one[k] - two[k]).max()) for k in one)
    assert worst < 1e-5, f"1 vs 2 processes differ by {worst}"
    torch.manual_seed(0)  # the seed both runs started from
    init = SequenceModel(student_config(teacher, StudentSpec(hidden_size=6))).state_dict()
    moved = max(float(np.abs(one[k] - init[k].numpy()).max()) for k in one)
    assert moved > 1e-3  # sanity: the comparison is between trained students, not two copies of an init


def test_quantization_aware_distillation_trains_and_records_the_scheme(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    teacher = _teacher()
    train, val = _labelled(teacher, 96, 0), _labelled(teacher, 32, 1)
    config = DistillConfig(
        student=StudentSpec(cell="gru", hidden_size=6),
        epochs=3,
        batch_size=32,
        learning_rate=1e-2,
        fake_quant=FakeQuantSpec(),
        patience=5,
    )
    result = distill(teacher, train, val, tmp_path, config)
    losses = [h["validation_loss"] for h in result.history]
    assert min(losses[1:]) < losses[0]
    saved = json.loads((tmp_path / "distill.json").read_text())
    assert saved["config"]["fake_quant"] == {
        "scheme": "dynamic-int8",
        "per_channel": False,
        "reduce_range": True,
        "activations": True,
    }
    with pytest.raises(ConfigError, match="dynamic-int8 only"):
        FakeQuantSpec(scheme="int4")


def test_init_from_starts_from_a_trained_student_and_refuses_another_shape(tmp_path: Path) -> None:
    teacher = _teacher()
    train, val = _labelled(teacher, 64, 0), _labelled(teacher, 32, 1)
    first = DistillConfig(student=StudentSpec(hidden_size=6), epochs=2, batch_size=32, learning_rate=1e-2)
    distill(teacher, train, val, tmp_path / "a", first)
    trained = load_model(str(tmp_path / "a" / "best")).module
    tuned = DistillConfig(
        student=StudentSpec(hidden_size=6), epochs=1, learning_rate=1e-9, init_from=str(tmp_path / "a" / "best")
    )
    distill(teacher, train, val, tmp_path / "b", tuned)
    restarted = load_model(str(tmp_path / "b" / "best")).module
    for (name, p), q in zip(trained.state_dict().items(), restarted.state_dict().values(), strict=True):
        assert torch.allclose(p, q, atol=1e-6), name
    wrong = DistillConfig(student=StudentSpec(hidden_size=7), epochs=1, init_from=str(tmp_path / "a" / "best"))
    with pytest.raises(ConfigError, match="architecture differs"):
        distill(teacher, train, val, tmp_path / "c", wrong)


# -- hidden-state matching -------------------------------------------------------------------------------


def test_hidden_state_matching_pulls_the_projected_student_state_towards_the_teacher(tmp_path: Path) -> None:
    from edgelstm.distill.trainer import TeacherTargets, Trainee, top_hidden

    torch.set_num_threads(1)
    teacher = _teacher(bidirectional=True)
    train, val = _labelled(teacher, 128, 0), _labelled(teacher, 32, 1)
    config = DistillConfig(
        student=StudentSpec(hidden_size=6), epochs=4, batch_size=32, learning_rate=1e-2, hidden_weight=1.0, patience=9
    )
    distill(teacher, train, val, tmp_path, config)
    state = torch.load(tmp_path / "distill_state.pt", weights_only=True)
    trainee = Trainee(SequenceModel(student_config(teacher, config.student)), config, 2 * 8)
    trainee.load_state_dict(state["trainee"])
    untrained = Trainee(SequenceModel(student_config(teacher, config.student)), config, 2 * 8)
    targets = TeacherTargets(teacher, val, True, torch.device("cpu"), 64)
    _, teacher_hidden = targets.get(np.arange(val.count))
    assert teacher_hidden is not None and teacher_hidden.shape == (32, 16)
    x, lengths = torch.from_numpy(val.x), torch.from_numpy(val.lengths)
    with torch.no_grad():
        trained_gap = torch.nn.functional.mse_loss(trainee(x, lengths)[1], teacher_hidden)
        untrained_gap = torch.nn.functional.mse_loss(untrained(x, lengths)[1], teacher_hidden)
    assert trained_gap < 0.5 * untrained_gap
    assert top_hidden(torch.zeros(4, 3, 5), teacher.module.config).shape == (3, 10)  # 2 layers x 2 directions


# -- resume after early stopping -------------------------------------------------------------------------


def test_a_run_that_stopped_early_stays_finished_when_run_again(tmp_path: Path) -> None:
    teacher = _teacher()
    train, val = _labelled(teacher, 64, 0), _labelled(teacher, 32, 1)
    config = DistillConfig(epochs=30, batch_size=32, learning_rate=1e-9, patience=1)  # no progress: stops at once
    first = distill(teacher, train, val, tmp_path, config)
    assert first.stopped_early and first.epochs_run < 30
    again = distill(teacher, train, val, tmp_path, config)
    assert again.stopped_early and again.epochs_run == first.epochs_run and again.history == first.history


def test_report_scores_the_exported_artifacts_like_torch_and_flags_targets(tmp_path: Path) -> None:
    from edgelstm.distill.report import build_distill_report

    torch.set_num_threads(1)
    teacher = _teacher()
    train, test = _labelled(teacher, 96, 0), _labelled(teacher, 64, 2)
    distill(teacher, train, test, tmp_path, DistillConfig(student=StudentSpec(hidden_size=4), epochs=2, batch_size=32))
    student = load_model(str(tmp_path / "best"))
    report = build_distill_report(teacher, [("student", student)], test, rounds=2)
    roles = [(r.role, r.scheme) for r in report.rows]
    assert roles == [
        ("teacher", "fp32"),
        ("student", "fp32"),
        ("student", "dynamic-int8"),
        ("student", "weight-only-int8"),
        ("student", "weight-only-int4"),
    ]
    with torch.no_grad():
        predicted = student.module(torch.from_numpy(test.x), torch.from_numpy(test.lengths))[0].argmax(-1).numpy()
    assert report.rows[1].metric.value == pytest.approx(float((predicted == test.y).mean()))
    assert report.rows[0].metric.value == 1.0  # the labels are the teacher's own predictions
    assert report.rows[1].metric_drop == pytest.approx(100 * (1.0 - report.rows[1].metric.value))
    for row in report.rows:
        assert row.compression == pytest.approx(report.rows[0].file_bytes / row.file_bytes)
        assert row.latency_ms > 0
    # quantize's own gate judged every quantized row (the float rows are not gated), and "met" follows it
    assert [r.gate_passed is None for r in report.rows] == [True, True, False, False, False]
    assert all(not to_jsonable(report)["rows"][i]["target_met"] for i, r in enumerate(report.rows) if r.gate_passed is False)
    report.write(tmp_path)
    saved = json.loads((tmp_path / "distill_report.json").read_text())
    assert saved["rows"][1]["size_target_met"] == (report.rows[1].compression >= 10)
    markdown = (tmp_path / "distill_report.md").read_text()
    assert "| teacher (fp32) |" in markdown and "| student (weight-only-int4) |" in markdown
    assert [row["scheme"] for row in saved["rows"]] == [scheme for _, scheme in roles]


# -- devices ---------------------------------------------------------------------------------------------


def test_asking_for_a_gpu_without_one_is_a_clear_error(tmp_path: Path) -> None:
    from edgelstm.distill.distributed import resolve_device

    assert resolve_device("cpu").type == "cpu"
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU: the refusal cannot be observed here")
    assert resolve_device("auto").type == "cpu"
    teacher = _teacher()
    data = _labelled(teacher, 8, 0)
    with pytest.raises(ConfigError, match="sees no CUDA GPU"):
        distill(teacher, data, data, tmp_path, DistillConfig(epochs=1), device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible to torch: the GPU training path cannot run here")
def test_training_on_a_gpu_matches_the_cpu_student(tmp_path: Path) -> None:
    teacher = _teacher()
    train, val = _labelled(teacher, 64, 0), _labelled(teacher, 32, 1)
    config = DistillConfig(student=StudentSpec(hidden_size=6), epochs=2, batch_size=32)
    on_cpu = distill(teacher, train, val, tmp_path / "cpu", config, device="cpu")
    on_gpu = distill(_teacher(), train, val, tmp_path / "gpu", config, device="cuda")
    assert on_gpu.device.startswith("cuda")
    cpu_w, gpu_w = load_file(tmp_path / "cpu/best" / WEIGHTS_FILE), load_file(tmp_path / "gpu/best" / WEIGHTS_FILE)
    assert max(float(np.abs(cpu_w[k] - gpu_w[k]).max()) for k in cpu_w) < 1e-3
    assert on_cpu.best_epoch == on_gpu.best_epoch


@pytest.mark.slow
def test_kill_9_mid_run_resumes_to_the_same_student(tmp_path: Path) -> None:
    """SIGKILL the CLI once its first resumable state exists; re-running the command finishes the same student."""
    import signal
    import time

    _teacher_on_disk(tmp_path, train_count=800, val_count=32)
    args = [
        sys.executable, "-m", "edgelstm.cli", "distill", str(tmp_path / "teacher"),
        "--data", str(tmp_path / "train.npz"), "--validation", str(tmp_path / "val.npz"),
        "--hidden", "6", "--epochs", "3", "--batch-size", "8", "--patience", "9", "--no-report",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    straight = subprocess.run([*args, "--out", str(tmp_path / "straight")], env=env, capture_output=True, text=True)
    assert straight.returncode == 0, straight.stderr
    victim = subprocess.Popen(
        [*args, "--out", str(tmp_path / "killed")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    state = tmp_path / "killed" / "distill_state.pt"
    deadline = time.monotonic() + 120
    while not state.exists() and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL, "the run finished before it could be killed: make it longer"
    assert not (tmp_path / "killed" / "distill.json").exists()
    saved = torch.load(state, weights_only=True)  # the state on disk is whole (written atomically)
    assert 0 < saved["state"]["global_step"] < 3 * 100
    resumed = subprocess.run([*args, "--out", str(tmp_path / "killed")], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert (tmp_path / "straight/best" / WEIGHTS_FILE).read_bytes() == (tmp_path / "killed/best" / WEIGHTS_FILE).read_bytes()


def test_a_user_module_teacher_distills_with_its_head_read_from_its_output(tmp_path: Path) -> None:
    class Forecaster(torch.nn.Module):  # [B, T, 5] -> [B, 2 steps, 1 value]
        def __init__(self) -> None:
            super().__init__()
            self.rnn, self.out = torch.nn.LSTM(5, 8, batch_first=True), torch.nn.Linear(8, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.rnn(x)[0][:, -1]).unsqueeze(-1)

    torch.manual_seed(0)
    user = LoadedModel(Forecaster(), "factory", "forecaster", InputSignature("features", 5, 12), None)
    rng = np.random.default_rng(0)
    train = SequenceData(rng.standard_normal((64, 12, 5)).astype(np.float32), None, None, "train")
    val = SequenceData(rng.standard_normal((16, 12, 5)).astype(np.float32), None, None, "val")
    result = distill(
        user, train, val, tmp_path, DistillConfig(student=StudentSpec(hidden_size=4), epochs=5, batch_size=16, learning_rate=1e-2)
    )
    head = load_model(str(tmp_path / "best")).config.head
    assert (head.kind, head.horizon, head.num_outputs) == ("forecast", 2, 1)
    assert result.history[-1]["validation_loss"] < 0.9 * result.history[0]["validation_loss"]
