"""Training data for distillation: tensors (.npz/.npy/.pt), sequence CSVs, or long tables cut by a WindowSpec.

Everything a student is trained or scored on passes `check_distill_data` first, so a label the head cannot take,
a token id outside the vocabulary or a non-finite value is refused with its file named, before any training step
(torch would otherwise fail deep inside a loss with an IndexError, or train on NaN).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgelstm.config import HeadConfig
from edgelstm.distill.metrics import task_kind
from edgelstm.errors import ConfigError, InputShapeError, first_line
from edgelstm.loading import LoadedModel
from edgelstm.parity.data import SequenceData, load_sequence_data
from edgelstm.windows import TABLE_SUFFIXES, WindowSpec, windows_from_table


def load_distill_data(path: Path, teacher: LoadedModel, window: WindowSpec | None) -> SequenceData:
    """Training data for distillation from `path`, shaped for the teacher's signature (windowed when asked)."""
    signature = teacher.signature
    if window is not None:
        if Path(path).suffix.lower() not in TABLE_SUFFIXES:
            raise ConfigError(f"{path}: a window spec cuts tables (.csv, .parquet), not {Path(path).suffix} files")
        pre = teacher.preprocessing
        labels = pre.labels if pre else None
        standardise = (pre.feature_mean, pre.feature_std) if pre and pre.feature_mean and pre.feature_std else None
        try:
            data = windows_from_table(Path(path), window, labels or None, standardise)
        except ConfigError as exc:
            if str(exc).startswith("preprocessing:"):  # name the teacher whose preprocessing.json is wrong
                raise ConfigError(f"{teacher.origin}: {exc}") from None
            raise
        if signature.kind == "features" and data.x.shape[-1] != signature.size:
            raise ConfigError(f"{path}: the window spec gives {data.x.shape[-1]} features, the teacher takes {signature.size}")
        return data
    if Path(path).suffix.lower() in (".parquet", ".pq"):
        raise ConfigError(f"{path}: a Parquet table needs a window spec (--window, and --group/--label/--target)")
    try:
        return load_sequence_data(
            Path(path), signature.kind == "tokens", signature.size if signature.kind == "features" else None
        )
    except (TypeError, ValueError) as exc:
        # The shared loader converts arrays with numpy; text or object arrays (x, lengths or y) fail there.
        raise InputShapeError(f"{path}: x, lengths and y must be numeric arrays ({first_line(exc)})") from None


def check_distill_data(data: SequenceData, teacher: LoadedModel, head: HeadConfig) -> None:
    """Refuse data the teacher cannot read or whose labels the student's head cannot be trained on."""
    where = data.source
    signature = teacher.signature
    if data.count == 0 or data.max_steps == 0:
        raise InputShapeError(f"{where}: no sequences (x is {list(data.x.shape)})")
    if signature.kind == "tokens":
        if data.x.ndim != 2 or data.x.dtype.kind not in "iu":
            raise InputShapeError(f"{where}: x must be integer token ids [N, T], got {data.x.dtype} {list(data.x.shape)}")
        _check_token_ids(data.x, signature.size, f"{where}: token id")
    else:
        if data.x.ndim != 3:
            raise InputShapeError(f"{where}: x must be [N, T, features], got {list(data.x.shape)}")
        if data.x.shape[-1] != signature.size:
            raise InputShapeError(f"{where}: {data.x.shape[-1]} features, the teacher takes {signature.size}")
        if data.x.dtype != np.float32:
            raise InputShapeError(f"{where}: x must be float32 (the student's dtype), got {data.x.dtype}")
        if not np.isfinite(data.x).all():
            raise InputShapeError(f"{where}: x contains NaN or Inf")
    if data.lengths is not None:
        lengths = np.asarray(data.lengths)
        if lengths.shape != (data.count,) or not np.issubdtype(lengths.dtype, np.integer):
            raise InputShapeError(f"{where}: lengths must be {data.count} integers, got {lengths.dtype} {list(lengths.shape)}")
        if lengths.min() < 1 or lengths.max() > data.max_steps:
            raise InputShapeError(f"{where}: lengths must lie in [1, {data.max_steps}]")
    if data.y is not None:
        _check_labels(np.asarray(data.y), data, head)


def _check_labels(y: np.ndarray, data: SequenceData, head: HeadConfig) -> None:
    """Refuse labels that do not fit the teacher's head (shape, class ids)."""
    where = data.source
    if y.dtype.kind not in "biuf":
        raise InputShapeError(f"{where}: y must be numeric (class indices or targets), got {y.dtype}")
    if y.ndim == 0 or y.shape[0] != data.count:
        raise InputShapeError(f"{where}: y has {y.shape[0] if y.ndim else 0} entries for {data.count} sequences")
    kind = task_kind(head.kind, head.num_outputs)
    if kind == "lm":
        if y.shape != data.x.shape[:2]:
            raise InputShapeError(f"{where}: y (next tokens) must be [N, T] = {list(data.x.shape[:2])}, got {list(y.shape)}")
        _check_token_ids(y, head.num_outputs, f"{where}: y (next token)")
    elif kind == "classify":
        expected = (data.count,) if head.kind == "classify" else tuple(data.x.shape[:2])
        if y.shape != expected:
            raise InputShapeError(f"{where}: class labels y must be {list(expected)}, got {list(y.shape)}")
        _check_class_ids(y, head.num_outputs, f"{where}: label")
    else:
        if not np.isfinite(y.astype(np.float64)).all():
            raise InputShapeError(f"{where}: targets y contain NaN or Inf")


def _check_token_ids(ids: np.ndarray, vocabulary: int, what: str) -> None:
    """Refuse token ids outside the vocabulary."""
    _check_class_ids(ids, vocabulary, what, noun="the vocabulary has")


def _check_class_ids(ids: np.ndarray, count: int, what: str, noun: str = "the model has") -> None:
    """Refuse ids that are not integers in 0..count-1, naming the worst one."""
    values = ids.astype(np.float64) if ids.dtype.kind == "f" else ids
    if ids.dtype.kind == "f" and not (np.isfinite(values).all() and (values == np.round(values)).all()):
        bad = values[~(np.isfinite(values) & (values == np.round(values)))].flat[0]
        raise InputShapeError(f"{what}s must be whole numbers, got {float(bad):g}")
    low, high = values.min(), values.max()
    if low < 0 or high >= count:
        bad = low if low < 0 else high
        raise InputShapeError(f"{what} {int(bad)} is out of range: {noun} {count} (ids 0..{count - 1})")
