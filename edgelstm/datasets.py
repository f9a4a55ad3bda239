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


@dataclass(frozen=True)
class ForecastDataset:
    """Sliding windows over one series: x [N, T, 1] (standardised), y [N, horizon] (standardised)."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    mean: float
    std: float  # multiply a standardised MAE by this for the series' own unit
    unit: str


def load_electricity_windows(window: int = 96, horizon: int = 1, test_fraction: float = 0.2) -> ForecastDataset:
    """Half-hourly electricity demand (pmdarima's Taylor series, 12 weeks, MW); last 20 % held out.

    Test windows start after the training part ends, so no target of the test set is ever seen in training.
    """
    if importlib.util.find_spec("pmdarima") is None:
        raise DataUnavailableError("the electricity demand series ships with pmdarima: pip install 'edgelstm[data]'")
    from pmdarima.datasets import load_taylor

    series = np.asarray(load_taylor(), dtype=np.float64)
    split = int(len(series) * (1 - test_fraction))
    mean, std = float(series[:split].mean()), float(series[:split].std())
    scaled = ((series - mean) / std).astype(np.float32)

    def windows(start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        starts = range(start, stop - window - horizon + 1)
        x = np.stack([scaled[s : s + window] for s in starts])[..., None]
        y = np.stack([scaled[s + window : s + window + horizon] for s in starts])
        return x, y

    train_x, train_y = windows(0, split)
    test_x, test_y = windows(split - window, len(series))  # test inputs may reach back; targets never do
    return ForecastDataset(train_x, train_y, test_x, test_y, mean, std, "MW")


@dataclass(frozen=True)
class TextDataset:
    """Character windows: x [N, T] token ids, y [N, T] the next character's id."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    symbols: list[str]  # id -> character; the last id stands for every rarer character


def load_stdlib_text(
    steps: int = 128,
    max_train_chars: int = 2_000_000,
    max_test_chars: int = 200_000,
    max_symbols: int = 128,
) -> TextDataset:
    """CPython's own standard-library source as a character corpus (present wherever Python is).

    Files are sorted by path and every tenth goes to the test set, so no test file is seen in training.
    Tests and IDLE are left out; the `max_symbols - 1` most frequent characters keep their own ids.
    """
    import sysconfig

    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "idlelib", "site-packages", "dist-packages"}
    files = sorted(p for p in root.rglob("*.py") if not skip & set(p.relative_to(root).parts))
    if not files:
        raise DataUnavailableError(f"no Python sources under {root}: this Python ships without its stdlib sources")
    train_text, test_text = [], []
    train_size = test_size = 0
    for i, path in enumerate(files):
        text = path.read_text(encoding="utf-8", errors="replace")
        if i % 10 == 9 and test_size < max_test_chars:
            test_text.append(text)
            test_size += len(text)
        elif i % 10 != 9 and train_size < max_train_chars:
            train_text.append(text)
            train_size += len(text)
    train, test = "".join(train_text)[:max_train_chars], "".join(test_text)[:max_test_chars]
    counts: dict[str, int] = {}
    for ch in train:
        counts[ch] = counts.get(ch, 0) + 1
    kept = sorted(counts, key=lambda ch: (-counts[ch], ch))[: max_symbols - 1]
    index = {ch: i for i, ch in enumerate(kept)}
    other = len(kept)

    def encode(text: str) -> tuple[np.ndarray, np.ndarray]:
        ids = np.fromiter((index.get(ch, other) for ch in text), dtype=np.int64, count=len(text))
        n = (len(ids) - 1) // steps
        return ids[: n * steps].reshape(n, steps), ids[1 : n * steps + 1].reshape(n, steps)

    train_x, train_y = encode(train)
    test_x, test_y = encode(test)
    return TextDataset(train_x, train_y, test_x, test_y, [*kept, "\ufffd"])
