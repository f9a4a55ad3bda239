"""Helpers and fixtures that both halves of tests/test_distill_training.py need: tests/unit/test_distill_training.py
and tests/e2e/test_distill_training_cli.py."""

from __future__ import annotations

import numpy as np
import torch

from edgelstm.loading import InputSignature, LoadedModel
from edgelstm.parity.data import SequenceData
from tests.conftest import tiny_model


def _teacher(head: str = "classify-last", **kw: object) -> LoadedModel:
    model = tiny_model(cell="lstm", layers=2, head=head, **kw)
    return LoadedModel(model, "checkpoint", "teacher", InputSignature.from_config(model.config), model.config)


def _labelled(teacher: LoadedModel, count: int, seed: int, steps: int = 12) -> SequenceData:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((count, steps, teacher.signature.size)).astype(np.float32)
    lengths = rng.integers(3, steps + 1, size=count)
    with torch.no_grad():
        out, _ = teacher.module(torch.from_numpy(x), torch.from_numpy(lengths))
    return SequenceData(x, lengths, out.argmax(-1).numpy(), f"synthetic-{seed}")
