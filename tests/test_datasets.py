"""The bundled real data set loads offline, split by subject."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from edgelstm import datasets
from edgelstm.datasets import DataUnavailableError, load_watch_windows


def test_watch_windows_are_split_by_subject() -> None:
    data = load_watch_windows(window=100, stride=50, test_subjects=(8, 9, 10))
    assert data.train_x.shape == (3193, 100, 6) and data.test_x.shape == (1484, 100, 6)
    assert data.train_x.dtype == np.float32 and np.isfinite(data.train_x).all()
    assert set(data.train_y.tolist()) == set(range(7)) and len(data.labels) == 7
    raw = datasets.load_watch_recordings()
    held_out = sum(
        1 for s, x in zip(raw["subject"], raw["X"], strict=False) if int(s) in (8, 9, 10) for _ in range(0, len(x) - 99, 50)
    )
    assert held_out == len(data.test_x)  # every held-out window comes from a held-out subject


def test_missing_data_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataUnavailableError, match=r"edgelstm\[data\]"):
        load_watch_windows()
