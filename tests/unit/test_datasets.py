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


def test_electricity_windows_hold_out_the_last_weeks_without_leaking_targets() -> None:
    pytest.importorskip("pmdarima", reason="the electricity series ships with pmdarima (edgelstm[data])")
    from edgelstm.datasets import load_electricity_windows

    data = load_electricity_windows(window=48, horizon=2)
    assert data.train_x.shape[1:] == (48, 1) and data.train_y.shape[1] == 2
    assert 4000 < data.std and 20_000 < data.mean < 40_000  # MW, as the series' documentation gives
    from pmdarima.datasets import load_taylor

    scaled = ((np.asarray(load_taylor(), np.float64) - data.mean) / data.std).astype(np.float32)
    split = int(len(scaled) * 0.8)
    # The last training target is the value just before the held-out part; test targets start at the split.
    np.testing.assert_allclose(data.train_y[-1, -1], scaled[split - 1])
    np.testing.assert_allclose(data.test_y[:, 0], scaled[split : split + len(data.test_y)])
    np.testing.assert_allclose(data.test_x[1, -1, 0], data.test_y[0, 0])  # windows slide by one step


def test_stdlib_text_splits_by_file_and_predicts_the_next_character() -> None:
    from edgelstm.datasets import load_stdlib_text

    text = load_stdlib_text(steps=32, max_train_chars=50_000, max_test_chars=10_000, max_symbols=64)
    assert text.train_x.shape[1] == 32 and len(text.symbols) <= 64
    np.testing.assert_array_equal(text.train_x[0, 1:], text.train_y[0, :-1])  # y is x shifted by one
    assert text.train_x.max() < len(text.symbols) and text.test_x.max() < len(text.symbols)
    decoded = "".join(text.symbols[i] for i in text.train_x[0])
    assert decoded.isprintable() or "\n" in decoded
