"""Training data for distillation: tensors (.npz/.npy/.pt), sequence CSVs, or long tables cut by a WindowSpec."""

from __future__ import annotations

from pathlib import Path

from edgelstm.errors import ConfigError
from edgelstm.loading import LoadedModel
from edgelstm.parity.data import SequenceData, load_sequence_data
from edgelstm.windows import TABLE_SUFFIXES, WindowSpec, windows_from_table


def load_distill_data(path: Path, teacher: LoadedModel, window: WindowSpec | None) -> SequenceData:
    signature = teacher.signature
    if window is not None:
        if Path(path).suffix.lower() not in TABLE_SUFFIXES:
            raise ConfigError(f"{path}: a window spec cuts tables (.csv, .parquet), not {Path(path).suffix} files")
        pre = teacher.preprocessing
        labels = pre.labels if pre else None
        standardise = (pre.feature_mean, pre.feature_std) if pre and pre.feature_mean and pre.feature_std else None
        data = windows_from_table(Path(path), window, labels or None, standardise)
        if signature.kind == "features" and data.x.shape[-1] != signature.size:
            raise ConfigError(f"{path}: the window spec gives {data.x.shape[-1]} features, the teacher takes {signature.size}")
        return data
    if Path(path).suffix.lower() in (".parquet", ".pq"):
        raise ConfigError(f"{path}: a Parquet table needs a window spec (--window, and --group/--label/--target)")
    return load_sequence_data(Path(path), signature.kind == "tokens", signature.size if signature.kind == "features" else None)
