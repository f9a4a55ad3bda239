"""Real sequence data sets that ship inside PyPI packages (no download at run time).

Optional dependencies are imported here only, with a clear error naming the extra to install.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgelstm.errors import EdgelstmError


class DataUnavailableError(EdgelstmError):
    """The package that ships a data set is not installed."""


@dataclass(frozen=True)
class WindowedDataset:
    """Fixed-length windows split by subject: x [N, T, F] float32, y [N] int64."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    labels: list[str]
    feature_names: list[str]
    sample_rate_hz: float


WATCH_SAMPLE_RATE_HZ = 50.0


def _watch_file() -> Path:
    spec = importlib.util.find_spec("seglearn")
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailableError("the smartwatch data ships with seglearn: pip install 'edgelstm[data]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "watch_dataset.npy"
    if not path.exists():
        raise DataUnavailableError(f"seglearn is installed but {path} is missing; reinstall seglearn")
    return path


def load_watch_recordings() -> dict:
    """The raw seglearn smartwatch recordings: X (list of [T, 6]), y, subject, X_labels, y_labels."""
    # seglearn stores this dict as a pickled .npy inside its own wheel; it is as trusted as the package's code.
    # Reading the file directly avoids importing seglearn itself, which pulls pandas and scikit-learn.
    return np.load(_watch_file(), allow_pickle=True).item()


def load_watch_windows(
    window: int = 100,
    stride: int = 50,
    test_subjects: tuple[int, ...] = (8, 9, 10),
) -> WindowedDataset:
    """6-axis IMU at 50 Hz, 7 shoulder exercises; windows of `window` steps, split by subject (not by window,
    which would leak a subject's recordings into the test set and inflate accuracy)."""
    data = load_watch_recordings()
    train_x: list[np.ndarray] = []
    test_x: list[np.ndarray] = []
    train_y: list[int] = []
    test_y: list[int] = []
    for series, label, subject in zip(data["X"], data["y"], data["subject"], strict=False):
        series = np.asarray(series, dtype=np.float32)
        starts = range(0, len(series) - window + 1, stride)
        windows = [series[s : s + window] for s in starts]
        held_out = int(subject) in test_subjects
        (test_x if held_out else train_x).extend(windows)
        (test_y if held_out else train_y).extend([int(label)] * len(windows))
    return WindowedDataset(
        train_x=np.stack(train_x),
        train_y=np.asarray(train_y, dtype=np.int64),
        test_x=np.stack(test_x),
        test_y=np.asarray(test_y, dtype=np.int64),
        labels=[str(name) for name in data["y_labels"]],
        feature_names=[str(name) for name in data["X_labels"]],
        sample_rate_hz=WATCH_SAMPLE_RATE_HZ,
    )
