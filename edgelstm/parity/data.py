"""User data for the parity gate: .npz / .npy / .pt tensors or CSV, with optional lengths and labels.

Formats:
- .npz: `x` [N, T, F] (or token ids [N, T]), optional `lengths` [N], optional `y` (labels [N] / targets).
- .npy: `x` only.
- .pt:  a tensor (x) or a dict of tensors with the keys above; loaded with weights_only=True.
- .csv: one row per time step; an optional `sequence_id` column groups rows into sequences (padded to the
        longest, lengths recorded), an optional `label` column gives each sequence's label (first row's value);
        every other column is a feature, in file order.
"""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgelstm.errors import InputShapeError, LabelError, UnsafePickleError, first_line
from edgelstm.files import file_sha256


@dataclass(frozen=True)
class SequenceData:
    """Sequences to check on (model-space features), their lengths and labels, with the source and sha256."""

    x: np.ndarray
    lengths: np.ndarray | None
    y: np.ndarray | None
    source: str
    sha256: str = ""  # of the data file; verdicts name what they were measured on

    @property
    def count(self) -> int:
        """How many sequences there are."""
        return int(self.x.shape[0])

    @property
    def max_steps(self) -> int:
        """The padded length of the sequences."""
        return int(self.x.shape[1])

    def take(self, limit: int) -> SequenceData:
        """The first `limit` sequences, labels and lengths cut alike."""
        keep = slice(0, limit)
        return SequenceData(
            self.x[keep],
            None if self.lengths is None else self.lengths[keep],
            None if self.y is None else self.y[keep],
            self.source,
            self.sha256,
        )


def load_sequence_data(
    path: Path, expects_tokens: bool = False, feature_size: int | None = None, vocab_size: int | None = None
) -> SequenceData:
    """`feature_size` / `vocab_size`: what the model takes, checked here so bad data never reaches a graph."""
    path = Path(path)
    if not path.is_file():
        raise InputShapeError(f"{path}: no such data file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        arrays = _read_npz(path)
    elif suffix == ".npy":
        arrays = {"x": _read_npy(path)}
    elif suffix in (".pt", ".pth"):
        arrays = _read_torch(path)
    elif suffix == ".csv":
        arrays = _read_csv(path)
    else:
        raise InputShapeError(f"{path}: unsupported data format {suffix!r}; use .npz, .npy, .pt or .csv")
    data = _validate(path, arrays, expects_tokens, feature_size, vocab_size)
    return replace(data, sha256=file_sha256(path))


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an .npz file, refusing anything that is not a zip (np.load would unpickle it)."""
    if not zipfile.is_zipfile(path):  # np.load would otherwise treat any other bytes as a pickle
        raise InputShapeError(f"{path}: not a readable .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise UnsafePickleError(f"{path}: holds pickled objects, which are never loaded; save plain arrays") from None
        raise InputShapeError(f"{path}: not a readable .npz file ({first_line(exc)})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputShapeError(f"{path}: not a readable .npz file ({first_line(exc)})") from None


def _read_npy(path: Path) -> np.ndarray:
    """The array of an .npy file, without pickles."""
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise UnsafePickleError(f"{path}: holds pickled objects, which are never loaded; save plain arrays") from None
        raise InputShapeError(f"{path}: not a readable .npy file ({first_line(exc)})") from None
    except (OSError, EOFError) as exc:
        raise InputShapeError(f"{path}: not a readable .npy file ({first_line(exc)})") from None


def _read_torch(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a .pt file, loaded with weights_only (no code runs)."""
    import torch

    try:
        loaded: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for pickles and corrupt files
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise UnsafePickleError(f"{path}: holds pickled Python objects, which are never loaded; save tensors") from None
        raise InputShapeError(f"{path}: not a readable torch file ({first_line(exc)})") from None
    if isinstance(loaded, torch.Tensor):
        return {"x": _tensor_to_numpy(loaded)}
    if isinstance(loaded, dict) and all(isinstance(v, torch.Tensor) for v in loaded.values()):
        return {k: _tensor_to_numpy(v) for k, v in loaded.items()}
    raise InputShapeError(f"{path}: expected a tensor or a dict of tensors (x, lengths, y)")


def _tensor_to_numpy(tensor: Any) -> np.ndarray:
    """A torch tensor (or array-like) as a numpy array."""
    import torch

    tensor = tensor.detach().cpu()
    if tensor.dtype in (torch.bfloat16, torch.float16):
        tensor = tensor.float()  # numpy has no bfloat16; the gate computes in float32/float64 anyway
    return tensor.numpy()


def _read_csv(path: Path) -> dict[str, np.ndarray]:
    """Sequences from a CSV file: rows grouped by `sequence_id`, the other columns as features, an optional `label`."""
    try:
        # utf-8-sig: spreadsheet exports start with a byte-order mark that would rename the first column
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputShapeError(f"{path}: not a readable CSV file ({first_line(exc)})") from None
    if not rows:
        raise InputShapeError(f"{path}: CSV has no data rows")
    columns = list(rows[0].keys())
    features = [c for c in columns if c not in ("sequence_id", "label")]
    if not features:
        raise InputShapeError(f"{path}: CSV has no feature columns")
    groups: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        groups.setdefault(row.get("sequence_id", "0"), []).append(row)
    longest = max(len(g) for g in groups.values())
    x = np.zeros((len(groups), longest, len(features)), np.float32)
    lengths = np.zeros(len(groups), np.int64)
    labels = []
    for i, group in enumerate(groups.values()):
        try:
            x[i, : len(group)] = [[float(r[f]) for f in features] for r in group]
        except (TypeError, ValueError):
            raise InputShapeError(f"{path}: sequence {i} has a non-numeric or missing feature value") from None
        lengths[i] = len(group)
        if "label" in columns:
            labels.append(group[0]["label"])
    arrays: dict[str, np.ndarray] = {"x": x, "lengths": lengths}
    if labels:
        try:
            arrays["y"] = np.asarray([int(v) for v in labels], np.int64)
        except ValueError:
            try:
                arrays["y"] = np.asarray([float(v) for v in labels], np.float32)
            except ValueError:
                raise InputShapeError(
                    f"{path}: the label column must hold class indices or numeric targets, got e.g. {labels[0]!r}"
                ) from None
    return arrays


def _validate(
    path: Path, arrays: dict[str, np.ndarray], expects_tokens: bool, feature_size: int | None, vocab_size: int | None = None
) -> SequenceData:
    """The arrays checked and shaped into SequenceData; what is wrong is named with the file."""
    if "x" not in arrays:
        raise InputShapeError(f"{path}: needs an array named 'x' (found: {', '.join(arrays) or 'none'})")
    x = np.asarray(arrays["x"])
    kind = x.dtype.kind
    if kind not in "biuf":  # strings, bytes, complex, datetimes, objects: never silently cast
        raise InputShapeError(f"{path}: x must hold numbers, got dtype {x.dtype}; save a float32 (or token id) array")
    if x.size == 0:
        raise InputShapeError(f"{path}: x is empty ({list(x.shape)})")
    if expects_tokens:
        if x.ndim != 2 or kind not in "biu":
            raise InputShapeError(f"{path}: x must be integer token ids [N, T], got {list(x.shape)} {x.dtype}")
        low, high = int(x.min()), int(x.max())
        if low < 0 or (vocab_size is not None and high >= vocab_size):
            bad = low if low < 0 else high
            limit = f"[0, {vocab_size - 1}]" if vocab_size is not None else "non-negative"
            raise InputShapeError(f"{path}: token id {bad} is out of range; the model's vocabulary takes ids in {limit}")
        x = x.astype(np.int64)
    else:
        if x.ndim != 3:
            raise InputShapeError(f"{path}: x must be [N, T, features], got {list(x.shape)}")
        if feature_size is not None and x.shape[-1] != feature_size:
            raise InputShapeError(f"{path}: x has {x.shape[-1]} features, the model expects {feature_size}")
        with np.errstate(over="ignore"):
            x = x.astype(np.float32)  # float64 beyond float32's range turns into inf here, and is refused below
        if not np.isfinite(x).all():
            raise InputShapeError(f"{path}: x contains NaN or Inf (or values beyond float32's range)")
    lengths = arrays.get("lengths")
    if lengths is not None:
        lengths = _lengths(path, np.asarray(lengths), x.shape[0], x.shape[1])
    y = arrays.get("y")
    if y is not None:
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise LabelError(f"{path}: y must hold numbers (class indices or targets), got dtype {y.dtype}")
        if y.ndim == 0 or y.shape[0] != x.shape[0]:
            raise LabelError(f"{path}: y has {y.shape[0] if y.ndim else 0} entries for {x.shape[0]} sequences")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise LabelError(f"{path}: y contains NaN or Inf")
    return SequenceData(x, lengths, y, str(path))


def _lengths(path: Path, lengths: np.ndarray, count: int, steps: int) -> np.ndarray:
    """The lengths array checked against the sequences (integers in 1..steps), as int64."""
    if lengths.dtype.kind not in "biuf":
        raise InputShapeError(f"{path}: lengths must be integers, got dtype {lengths.dtype}")
    if lengths.shape != (count,):
        raise InputShapeError(f"{path}: lengths must be {count} values (one per sequence), got shape {list(lengths.shape)}")
    if lengths.dtype.kind == "f" and not (np.isfinite(lengths).all() and (lengths == np.round(lengths)).all()):
        raise InputShapeError(f"{path}: lengths must be whole numbers, got e.g. {lengths[lengths != np.round(lengths)][:1]}")
    if lengths.min() < 1 or lengths.max() > steps:
        bad = lengths.min() if lengths.min() < 1 else lengths.max()
        raise InputShapeError(f"{path}: length {bad:g} is out of range; lengths must be {count} values in [1, {steps}]")
    return lengths.astype(np.int64)


def check_labels(data: SequenceData, task: str | None, classes: int | None) -> None:
    """Labels must index the model's classes: a y=99 on a 7-class model would make accuracy meaningless."""
    y = data.y
    if y is None or task != "classify" or y.ndim != 1:  # per-step label arrays may pad with an ignore value
        return
    if y.dtype.kind == "f" and not (y == np.round(y)).all():
        example = y[y != np.round(y)].flat[0]
        raise LabelError(
            f"{data.source}: label {example:g} is not a class index; a classifier's labels are whole numbers"
            + (f" in [0, {classes - 1}] ({classes} classes)" if classes else "")
        )
    low, high = y.min(), y.max()
    if low < 0 or (classes is not None and high >= classes):
        bad = low if low < 0 else high
        limit = f"[0, {classes - 1}] (the model has {classes} classes)" if classes else "non-negative"
        raise LabelError(f"{data.source}: label {bad:g} is out of range; labels must be class indices in {limit}")
