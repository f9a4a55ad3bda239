"""Cut long tables (CSV or Parquet, one row per time step) into training windows.

A `WindowSpec` says which columns are features, which column groups rows into recordings (windows never cross
two recordings), and what each window is labelled with: a class (`label`, the majority over the window's rows)
or the next `horizon` values of a `target` column (forecasting). A recording shorter than the window becomes
one shorter sequence, padded, with its length recorded, when it has at least `min_length` rows.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgelstm.errors import ConfigError, InputShapeError, first_line
from edgelstm.parity.data import SequenceData

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


@dataclass(frozen=True)
class WindowSpec:
    """How a long table is cut into windows: length, stride, features, the recording column, and the label or forecast target."""

    length: int
    stride: int | None = None  # default: the window length (no overlap)
    features: tuple[str, ...] = ()  # default: every column not used below
    group: str | None = None
    label: str | None = None
    target: str | None = None
    horizon: int = 1
    min_length: int | None = None  # default: the window length (shorter recordings are dropped)

    def __post_init__(self) -> None:
        if self.length < 1 or (self.stride is not None and self.stride < 1) or self.horizon < 1:
            raise ConfigError("window length, stride and horizon must be positive")
        if self.label and self.target:
            raise ConfigError("a window spec takes a label (classification) or a target (forecasting), not both")
        if self.min_length is not None and not 1 <= self.min_length <= self.length:
            raise ConfigError(f"min_length must lie in [1, {self.length}]")


def read_table(path: Path) -> dict[str, np.ndarray]:
    """Columns of a CSV or Parquet file; numeric columns as float64, others as strings."""
    path = Path(path)
    if not path.is_file():
        raise InputShapeError(f"{path}: no such table")
    if path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except UnicodeDecodeError as exc:
        raise InputShapeError(f"{path}: not UTF-8 text (byte {exc.start}); save the table as UTF-8 CSV") from None
    except csv.Error as exc:
        raise InputShapeError(f"{path}: not a readable CSV file ({first_line(exc)})") from None
    if len(rows) < 2:
        raise InputShapeError(f"{path}: needs a header row and at least one data row")
    header, body = rows[0], rows[1:]
    if any(len(row) != len(header) for row in body):
        raise InputShapeError(f"{path}: rows have different numbers of columns")
    return {name: _column([row[i] for row in body]) for i, name in enumerate(header)}


def _read_parquet(path: Path) -> dict[str, np.ndarray]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError("reading Parquet needs pyarrow: pip install 'edgelstm[data]'") from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise InputShapeError(f"{path}: not a readable Parquet file ({first_line(exc, 120)})") from None
    columns = {}
    for name in table.column_names:
        values = table.column(name).to_numpy(zero_copy_only=False)
        columns[name] = values.astype(np.float64) if np.issubdtype(values.dtype, np.number) else values.astype(str)
    return columns


def _column(values: list[str]) -> np.ndarray:
    try:
        return np.asarray([float(v) for v in values], dtype=np.float64)
    except ValueError:
        return np.asarray(values, dtype=str)


def windows_from_table(
    path: Path,
    spec: WindowSpec,
    label_names: list[str] | None = None,
    standardise: tuple[list[float], list[float]] | None = None,
) -> SequenceData:
    """Windows [N, length, features] (+ lengths when some are shorter, + labels/targets) from one table.

    `standardise`: the model's (feature_mean, feature_std), applied to raw rows before windowing (padding stays 0).
    """
    columns = read_table(path)
    used = {c for c in (spec.group, spec.label, spec.target) if c}
    for name in (*used, *spec.features):
        if name not in columns:
            raise InputShapeError(f"{path}: no column {name!r} (columns: {', '.join(columns)})")
    features = list(spec.features) or [c for c in columns if c not in used]
    if not features:
        raise InputShapeError(f"{path}: no feature columns left")
    for name in features:
        if columns[name].dtype.kind not in "fi":
            raise InputShapeError(f"{path}: feature column {name!r} is not numeric")
    x_all = np.stack([columns[c] for c in features], axis=1).astype(np.float32)
    if not np.isfinite(x_all).all():
        raise InputShapeError(f"{path}: feature columns contain NaN or Inf (or empty cells)")
    if standardise is not None:
        x_all = _standardised(x_all, standardise, features, path)
    labels = _label_ids(columns[spec.label], label_names, path) if spec.label else None
    target = columns[spec.target].astype(np.float32) if spec.target else None
    if target is not None and not np.isfinite(target).all():
        raise InputShapeError(f"{path}: target column {spec.target!r} contains NaN or Inf")
    groups = _group_slices(columns[spec.group]) if spec.group else [slice(0, len(x_all))]
    stride, min_length = spec.stride or spec.length, spec.min_length or spec.length
    xs, lengths, ys = [], [], []
    for rows in groups:
        start, stop = rows.start, rows.stop
        usable = stop - start - (spec.horizon if target is not None else 0)
        starts = list(range(start, start + usable - spec.length + 1, stride))
        if not starts and usable >= min_length:
            starts = [start]  # one shorter, padded sequence
        for s in starts:
            end = min(s + spec.length, start + usable)
            window = np.zeros((spec.length, len(features)), np.float32)
            window[: end - s] = x_all[s:end]
            xs.append(window)
            lengths.append(end - s)
            if labels is not None:
                ys.append(Counter(labels[s:end].tolist()).most_common(1)[0][0])
            elif target is not None:
                ys.append(target[end : end + spec.horizon])
    if not xs:
        raise InputShapeError(f"{path}: no window of {spec.length} steps fits (rows per recording too few)")
    lengths_array = np.asarray(lengths, np.int64)
    y = None if not ys else np.asarray(ys, np.int64 if labels is not None else np.float32)
    return SequenceData(np.stack(xs), None if (lengths_array == spec.length).all() else lengths_array, y, f"{path} (windows)")


def _standardised(x: np.ndarray, standardise: tuple[list[float], list[float]], features: list[str], path: Path) -> np.ndarray:
    """(x - mean) / std, refusing statistics that would turn the data into NaN/Inf (and the training with it)."""
    mean, std = (np.asarray(v, np.float64) for v in standardise)
    if mean.shape != (x.shape[1],) or std.shape != (x.shape[1],):
        raise InputShapeError(
            f"{path}: {x.shape[1]} feature columns, the model's preprocessing has {mean.size} means, {std.size} stds"
        )
    for i, name in enumerate(features):
        if not (np.isfinite(mean[i]) and np.isfinite(std[i])):
            raise ConfigError(
                f"preprocessing: feature {i} ({name!r}) has a non-finite mean or standard deviation; fix preprocessing.json"
            )
        if std[i] <= 0:
            raise ConfigError(
                f"preprocessing: feature {i} ({name!r}) has zero standard deviation (std={std[i]:g}), so standardising "
                "divides by zero; fix feature_std in the model's preprocessing.json (a constant feature needs std 1)"
            )
    scaled = ((x - mean) / std).astype(np.float32)
    if not np.isfinite(scaled).all():
        raise InputShapeError(f"{path}: standardised features overflow float32; check feature_mean/feature_std")
    return scaled


def _group_slices(groups: np.ndarray) -> list[slice]:
    """Consecutive runs of the same group value; a group split into two runs is an error (unsorted file)."""
    boundaries = np.flatnonzero(groups[1:] != groups[:-1]) + 1
    starts, stops = [0, *boundaries.tolist()], [*boundaries.tolist(), len(groups)]
    seen = [groups[s] for s in starts]
    if len(set(seen)) != len(seen):
        raise InputShapeError("group column: a recording's rows are not contiguous; sort the table by group and time")
    return [slice(a, b) for a, b in zip(starts, stops, strict=True)]


def _label_ids(values: np.ndarray, names: list[str] | None, path: Path) -> np.ndarray:
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            raise InputShapeError(f"{path}: numeric labels must be whole class indices")
        return values.astype(np.int64)
    known = names or sorted(set(values.tolist()))
    index = {name: i for i, name in enumerate(known)}
    unknown = sorted(set(values.tolist()) - set(index))
    if unknown:
        raise InputShapeError(f"{path}: labels {unknown[:5]} are not among the model's labels {known}")
    return np.asarray([index[v] for v in values.tolist()], np.int64)
