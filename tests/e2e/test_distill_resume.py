"""A resumed distill counts its optimizer steps on from the saved state: its global step equals a straight run's.

The resume tests in test_distill.py compare the students' bytes; a student without dropout trains the same whatever
the step counter says, so those cannot see a counter reset on resume. These compare the counter itself.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from edgelstm.checkpoint import save_checkpoint
from edgelstm.distill import DistillConfig, StepProgress, StudentSpec, distill
from edgelstm.distill.run_dir import STATE_FILE
from edgelstm.loading import InputSignature, LoadedModel
from edgelstm.parity.data import SequenceData
from tests.conftest import tiny_model
from tests.refusals import run_cli

TRAIN, VAL, BATCH, EPOCHS = 48, 16, 8, 2
STEPS = EPOCHS * math.ceil(TRAIN / BATCH)  # 12 optimizer steps in a straight run


def _teacher() -> LoadedModel:
    model = tiny_model(cell="lstm", head="classify-last")
    return LoadedModel(model, "checkpoint", "teacher", InputSignature.from_config(model.config), model.config)


def _data(teacher: LoadedModel, count: int, seed: int) -> SequenceData:
    x = np.random.default_rng(seed).standard_normal((count, 6, teacher.signature.size)).astype(np.float32)
    with torch.no_grad():
        y = teacher.module(torch.from_numpy(x))[0].argmax(-1).numpy()
    return SequenceData(x, None, y, f"synthetic-{seed}")


def _saved_step(out: Path) -> int:
    return int(torch.load(out / STATE_FILE, weights_only=True)["state"]["global_step"])


def test_a_resumed_run_counts_on_from_its_saved_step(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    teacher = _teacher()
    train, val = _data(teacher, TRAIN, 0), _data(teacher, VAL, 1)
    config = DistillConfig(
        student=StudentSpec(cell="gru", hidden_size=8), epochs=EPOCHS, batch_size=BATCH, checkpoint_every=4, patience=9
    )
    straight = distill(teacher, train, val, tmp_path / "straight", config)
    assert straight.global_step == STEPS == _saved_step(tmp_path / "straight")

    def crash_at_step_7(progress: StepProgress) -> None:
        if progress.global_step == 7:  # after the state saved at step 6 (epoch end) -- resumes from 6
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        distill(teacher, train, val, tmp_path / "resumed", config, on_step=crash_at_step_7)
    assert _saved_step(tmp_path / "resumed") == 6
    seen: list[int] = []
    resumed = distill(teacher, train, val, tmp_path / "resumed", config, on_step=lambda p: seen.append(p.global_step))
    assert seen == list(range(7, STEPS + 1))  # steps 7..12: on from the saved 6, not from 1
    assert resumed.global_step == straight.global_step == _saved_step(tmp_path / "resumed")
    summary = json.loads((tmp_path / "resumed" / "distill.json").read_text())
    assert summary["global_step"] == STEPS


def test_distill_command_resumed_after_a_crash_reports_the_straight_runs_global_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: the CLI run dies in its second epoch; the same command again finishes with the same count."""
    import edgelstm.distill.trainer as trainer

    torch.set_num_threads(1)
    teacher = _teacher()
    save_checkpoint(teacher.module, tmp_path / "teacher")
    for name, count, seed in (("train", TRAIN, 0), ("val", VAL, 1)):
        data = _data(teacher, count, seed)
        np.savez(tmp_path / f"{name}.npz", x=data.x, y=data.y)
    args = [
        "distill", tmp_path / "teacher", "--data", tmp_path / "train.npz", "--validation", tmp_path / "val.npz",
        "--hidden", "8", "--epochs", str(EPOCHS), "--batch-size", str(BATCH), "--patience", "9", "--no-report",
    ]  # fmt: skip
    straight = run_cli([*args, "--out", tmp_path / "straight"])
    assert straight.exit_code == 0, straight.output

    real_share, calls = trainer._share, []

    def share_then_die(*a, **kw):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 9:  # the 9th step: in epoch 2, after epoch 1's state (step 6) was saved
            raise RuntimeError("simulated crash")
        return real_share(*a, **kw)

    monkeypatch.setattr(trainer, "_share", share_then_die)
    crashed = run_cli([*args, "--out", tmp_path / "resumed"])
    assert crashed.exit_code == 3 and not (tmp_path / "resumed" / "distill.json").exists(), crashed.output
    monkeypatch.setattr(trainer, "_share", real_share)
    resumed = run_cli([*args, "--out", tmp_path / "resumed"])
    assert resumed.exit_code == 0, resumed.output
    steps = [json.loads((tmp_path / d / "distill.json").read_text())["global_step"] for d in ("straight", "resumed")]
    assert steps == [STEPS, STEPS]
