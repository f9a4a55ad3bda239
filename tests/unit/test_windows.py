"""Long tables (CSV / Parquet) cut into windows, and `edgelstm distill` on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgelstm.errors import ConfigError, InputShapeError
from edgelstm.windows import WindowSpec, read_table, windows_from_table
from tests.support.windows import _write_csv


def _recordings(path: Path) -> Path:
    """Two recordings: 'a' (7 rows, labels walk x5 then run x2) and 'b' (3 rows, sit)."""
    rows = [["a", t, t * 10, "walk" if t < 5 else "run"] for t in range(7)]
    rows += [["b", t, -t, "sit"] for t in range(3)]
    return _write_csv(path, ["rec", "ax", "ay", "activity"], rows)


def test_windows_stay_inside_recordings_with_majority_labels(tmp_path: Path) -> None:
    data = windows_from_table(_recordings(tmp_path / "t.csv"), WindowSpec(length=4, stride=2, group="rec", label="activity"))
    # 'a' (7 rows): windows at 0 and 2; 'b' (3 rows) is shorter than the window and is dropped
    assert data.x.shape == (2, 4, 2) and data.lengths is None
    np.testing.assert_array_equal(data.x[1, :, 0], [2, 3, 4, 5])
    labels = sorted({"walk", "run", "sit"})
    assert [labels[i] for i in data.y] == ["walk", "walk"]  # rows 2-5: walk x3, run x1


def test_short_recordings_become_padded_sequences_with_lengths(tmp_path: Path) -> None:
    spec = WindowSpec(length=4, stride=4, group="rec", label="activity", min_length=2)
    data = windows_from_table(_recordings(tmp_path / "t.csv"), spec, label_names=["walk", "run", "sit"])
    assert data.lengths is not None and data.lengths.tolist() == [4, 3]  # 'a' at 0; 'b' has 3 rows
    np.testing.assert_array_equal(data.x[1, :, 1], [0, -1, -2, 0])  # padding stays zero
    assert data.y.tolist() == [0, 2]  # label ids follow the model's label order


def test_forecast_targets_are_the_next_values_and_never_cross_a_recording(tmp_path: Path) -> None:
    rows = [["a", float(t)] for t in range(6)] + [["b", 100.0 + t] for t in range(4)]
    path = _write_csv(tmp_path / "s.csv", ["site", "load"], rows)
    data = windows_from_table(path, WindowSpec(length=3, stride=1, group="site", target="load", features=("load",), horizon=2))
    # site a: 6 rows -> windows starting 0, 1 (targets need 2 more rows); site b: none (4 < 3 + 2)
    assert data.x.shape == (2, 3, 1)
    np.testing.assert_array_equal(data.y, [[3.0, 4.0], [4.0, 5.0]])


def test_standardisation_applies_the_models_preprocessing(tmp_path: Path) -> None:
    data = windows_from_table(
        _recordings(tmp_path / "t.csv"),
        WindowSpec(length=7, group="rec", label="activity"),
        standardise=([1.0, 10.0], [2.0, 10.0]),
    )
    np.testing.assert_allclose(data.x[0, :, 0], (np.arange(7) - 1.0) / 2.0)


def test_parquet_reads_like_csv(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow", reason="pyarrow (edgelstm[data]) reads Parquet")
    import pyarrow.parquet as pq

    csv_path = _recordings(tmp_path / "t.csv")
    columns = read_table(csv_path)
    pq.write_table(pa.table({k: list(v) for k, v in columns.items()}), tmp_path / "t.parquet")
    spec = WindowSpec(length=3, group="rec", label="activity")
    from_csv, from_parquet = windows_from_table(csv_path, spec), windows_from_table(tmp_path / "t.parquet", spec)
    np.testing.assert_array_equal(from_csv.x, from_parquet.x)
    np.testing.assert_array_equal(from_csv.y, from_parquet.y)


@pytest.mark.parametrize(
    ("rows", "spec", "message"),
    [
        ([["a", 1, "x"], ["b", 2, "x"], ["a", 3, "x"]], WindowSpec(1, group="rec", label="lab"), "not contiguous"),
        ([["a", "", "x"]], WindowSpec(1, group="rec", label="lab"), "not numeric"),
        ([["a", "nan", "x"]], WindowSpec(1, group="rec", label="lab"), "NaN or Inf"),
        ([["a", 1, "x"]], WindowSpec(1, group="rec", label="missing"), "no column 'missing'"),
        ([["a", 1, "x"]], WindowSpec(5, group="rec", label="lab"), "no window of 5 steps"),
    ],
)
def test_bad_tables_name_the_problem(tmp_path: Path, rows: list, spec: WindowSpec, message: str) -> None:
    path = _write_csv(tmp_path / "bad.csv", ["rec", "v", "lab"], rows)
    with pytest.raises(InputShapeError, match=message):
        windows_from_table(path, spec)


def test_unknown_labels_and_conflicting_specs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputShapeError, match="not among the model's labels"):
        windows_from_table(_recordings(tmp_path / "t.csv"), WindowSpec(2, group="rec", label="activity"), label_names=["walk"])
    with pytest.raises(ConfigError, match="not both"):
        WindowSpec(4, label="a", target="b")
    corrupt = tmp_path / "broken.parquet"
    corrupt.write_bytes(b"PAR1 not really")
    with pytest.raises((InputShapeError, ConfigError), match="broken.parquet"):
        read_table(corrupt)
