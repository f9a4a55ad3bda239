"""User data for the parity gate: every format loads to the same [N, T, F] + lengths + labels, bad files are named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from edgelstm.errors import InputShapeError, UnsafePickleError
from edgelstm.parity.data import SequenceData, load_sequence_data


class _OpensAFile:
    """Unpickling this creates `marker` (stands in for arbitrary code run by a pickle)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (str(self.marker), "w"))


def _npz(tmp_path: Path, name: str = "data.npz", **arrays: np.ndarray) -> Path:
    path = tmp_path / name
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- formats ---------------------------------------------------------------------------------------------------


def test_npz_loads_x_lengths_and_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 6, 5))  # float64 on disk
    path = _npz(tmp_path, x=x, lengths=np.array([6, 2, 4], np.int32), y=np.array([2, 0, 1]))
    data = load_sequence_data(path, feature_size=5)
    assert data.x.dtype == np.float32
    np.testing.assert_allclose(data.x, x.astype(np.float32))
    assert data.lengths is not None and data.lengths.dtype == np.int64
    assert data.lengths.tolist() == [6, 2, 4]
    assert data.y is not None and data.y.tolist() == [2, 0, 1]
    assert (data.count, data.max_steps) == (3, 6)
    assert data.source == str(path)


def test_npz_without_lengths_or_labels(tmp_path: Path) -> None:
    data = load_sequence_data(_npz(tmp_path, x=np.ones((2, 4, 3), np.float32)))
    assert data.lengths is None and data.y is None
    assert data.x.shape == (2, 4, 3)


def test_npy_holds_x_only(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    x = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
    np.save(path, x)
    data = load_sequence_data(path)
    assert data.lengths is None and data.y is None
    assert data.x.dtype == np.float32
    np.testing.assert_array_equal(data.x, x)


def test_pt_tensor_is_x(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    x = torch.randn(2, 7, 5)
    torch.save(x, path)
    data = load_sequence_data(path, feature_size=5)
    np.testing.assert_array_equal(data.x, x.numpy())
    assert data.lengths is None and data.y is None


def test_pt_dict_of_tensors(tmp_path: Path) -> None:
    path = tmp_path / "data.pth"
    x = torch.randn(3, 4, 2)
    torch.save({"x": x, "lengths": torch.tensor([4, 1, 3]), "y": torch.tensor([0.5, 1.5, -2.0])}, path)
    data = load_sequence_data(path)
    np.testing.assert_array_equal(data.x, x.numpy())
    assert data.lengths is not None and data.lengths.tolist() == [4, 1, 3]
    assert data.y is not None
    np.testing.assert_allclose(data.y, [0.5, 1.5, -2.0])


def test_csv_groups_rows_by_sequence_id_pads_and_keeps_order(tmp_path: Path) -> None:
    # sequence_id in the middle of the features, and rows of "b" interleaved with "a": features keep file
    # order (f2 before f1), sequences keep first-appearance order, labels come from each sequence's first row.
    path = _write(
        tmp_path,
        "data.csv",
        "\n".join(["f2,sequence_id,f1,label", "1.0,b,10.0,2", "2.0,b,20.0,2", "3.0,a,30.0,0", "4.0,b,40.0,2", ""]),
    )
    data = load_sequence_data(path, feature_size=2)
    assert data.x.shape == (2, 3, 2)
    assert data.lengths is not None and data.lengths.tolist() == [3, 1]
    np.testing.assert_array_equal(data.x[0], [[1.0, 10.0], [2.0, 20.0], [4.0, 40.0]])
    np.testing.assert_array_equal(data.x[1], [[3.0, 30.0], [0.0, 0.0], [0.0, 0.0]])  # zero padding
    assert data.y is not None and data.y.dtype == np.int64 and data.y.tolist() == [2, 0]


def test_csv_without_sequence_id_or_label_is_one_sequence(tmp_path: Path) -> None:
    path = _write(tmp_path, "data.csv", "a,b,c\n1,2,3\n4,5,6\n7,8,9\n")
    data = load_sequence_data(path, feature_size=3)
    assert data.x.shape == (1, 3, 3)
    assert data.lengths is not None and data.lengths.tolist() == [3]
    assert data.y is None
    np.testing.assert_array_equal(data.x[0, :, 0], [1, 4, 7])


def test_csv_with_label_but_no_sequence_id(tmp_path: Path) -> None:
    path = _write(tmp_path, "data.csv", "label,f\n1,0.5\n1,0.25\n")
    data = load_sequence_data(path, feature_size=1)
    assert data.x.shape == (1, 2, 1)
    assert data.y is not None and data.y.tolist() == [1]


def test_csv_float_labels_are_regression_targets(tmp_path: Path) -> None:
    path = _write(tmp_path, "data.csv", "sequence_id,f,label\n1,0,0.5\n2,1,1.25\n")
    data = load_sequence_data(path)
    assert data.y is not None and data.y.dtype == np.float32
    np.testing.assert_allclose(data.y, [0.5, 1.25])


def test_csv_non_numeric_label_is_a_named_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "data.csv", "sequence_id,f,label\n1,0.1,walk\n2,0.2,run\n")
    with pytest.raises(InputShapeError, match="label"):
        load_sequence_data(path)


def test_csv_with_utf8_bom_still_recognises_sequence_id(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"\xef\xbb\xbfsequence_id,f1,label\n1,1,0\n1,2,0\n2,3,1\n")
    data = load_sequence_data(path)
    assert data.x.shape == (2, 2, 1)
    assert data.y is not None and data.y.tolist() == [0, 1]


# --- token inputs ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8])
def test_token_ids_load_as_int64(tmp_path: Path, dtype: type) -> None:
    ids: np.ndarray = np.array([[1, 2, 3], [4, 5, 0]], dtype)
    data = load_sequence_data(_npz(tmp_path, x=ids, lengths=np.array([3, 2])), expects_tokens=True)
    assert data.x.dtype == np.int64
    np.testing.assert_array_equal(data.x, ids)


def test_token_model_refuses_float_array(tmp_path: Path) -> None:
    path = _npz(tmp_path, x=np.array([[1.0, 2.0], [3.0, 4.0]]))
    with pytest.raises(InputShapeError, match="integer token ids"):
        load_sequence_data(path, expects_tokens=True)


def test_token_model_refuses_three_dimensional_ids(tmp_path: Path) -> None:
    path = _npz(tmp_path, x=np.ones((2, 3, 1), np.int64))
    with pytest.raises(InputShapeError, match=r"token ids \[N, T\], got \[2, 3, 1\]"):
        load_sequence_data(path, expects_tokens=True)


def test_feature_model_refuses_two_dimensional_x(tmp_path: Path) -> None:
    path = _npz(tmp_path, x=np.ones((2, 3), np.float32))
    with pytest.raises(InputShapeError, match=r"\[N, T, features\], got \[2, 3\]"):
        load_sequence_data(path)


# --- errors ----------------------------------------------------------------------------------------------------


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "nope.npz"


def _unknown_suffix(tmp_path: Path) -> Path:
    return _write(tmp_path, "data.txt", "1 2 3\n")


def _corrupt_npz(tmp_path: Path) -> Path:
    path = tmp_path / "data.npz"
    path.write_bytes(b"PK\x03\x04 truncated zip")
    return path


def _not_an_npz(tmp_path: Path) -> Path:
    path = tmp_path / "data.npz"
    path.write_bytes(b"just some text")
    return path


def _corrupt_pt(tmp_path: Path) -> Path:
    path = tmp_path / "data.pt"
    path.write_bytes(b"junk")
    return path


def _no_x(tmp_path: Path) -> Path:
    return _npz(tmp_path, inputs=np.ones((2, 3, 5)), y=np.ones(2))


def _wrong_features(tmp_path: Path) -> Path:
    return _npz(tmp_path, x=np.ones((2, 3, 4)))


def _nan(tmp_path: Path) -> Path:
    x = np.ones((2, 3, 5))
    x[1, 2, 0] = np.nan
    return _npz(tmp_path, x=x)


def _inf(tmp_path: Path) -> Path:
    x = np.ones((2, 3, 5))
    x[0, 0, 4] = -np.inf
    return _npz(tmp_path, x=x)


def _length_zero(tmp_path: Path) -> Path:
    return _npz(tmp_path, x=np.ones((2, 3, 5)), lengths=np.array([0, 3]))


def _length_too_long(tmp_path: Path) -> Path:
    return _npz(tmp_path, x=np.ones((2, 3, 5)), lengths=np.array([3, 4]))


def _lengths_wrong_count(tmp_path: Path) -> Path:
    return _npz(tmp_path, x=np.ones((2, 3, 5)), lengths=np.array([3, 3, 3]))


def _y_mismatch(tmp_path: Path) -> Path:
    return _npz(tmp_path, x=np.ones((2, 3, 5)), y=np.array([0, 1, 2]))


def _no_sequences(tmp_path: Path) -> Path:
    return _npz(tmp_path, x=np.ones((0, 3, 5)))


def _no_steps(tmp_path: Path) -> Path:
    return _npz(tmp_path, x=np.ones((2, 0, 5)))


def _csv_text_value(tmp_path: Path) -> Path:
    return _write(tmp_path, "data.csv", "sequence_id,a,b,c,d,e\n1,0,0,0,0,0\n2,0,0,oops,0,0\n")


def _csv_short_row(tmp_path: Path) -> Path:
    return _write(tmp_path, "data.csv", "a,b,c,d,e\n1,2,3,4,5\n1,2\n")


def _csv_header_only(tmp_path: Path) -> Path:
    return _write(tmp_path, "data.csv", "a,b,c,d,e\n")


def _csv_no_features(tmp_path: Path) -> Path:
    return _write(tmp_path, "data.csv", "sequence_id,label\n1,0\n")


def _pt_dict_with_non_tensor(tmp_path: Path) -> Path:
    path = tmp_path / "data.pt"
    torch.save({"x": torch.ones(2, 3, 5), "note": 3}, path)
    return path


def _pt_list(tmp_path: Path) -> Path:
    path = tmp_path / "data.pt"
    torch.save([torch.ones(2, 3, 5)], path)
    return path


ERRORS: list[tuple[Callable[[Path], Path], str]] = [
    (_missing, r"nope\.npz: no such data file"),
    (_unknown_suffix, r"unsupported data format '\.txt'"),
    (_corrupt_npz, r"not a readable \.npz file"),
    (_not_an_npz, r"not a readable \.npz file"),
    (_corrupt_pt, r"not a readable torch file"),
    (_no_x, r"needs an array named 'x' \(found: inputs, y\)"),
    (_wrong_features, r"x has 4 features, the model expects 5"),
    (_nan, r"NaN or Inf"),
    (_inf, r"NaN or Inf"),
    (_length_zero, r"lengths must be 2 values in \[1, 3\]"),
    (_length_too_long, r"lengths must be 2 values in \[1, 3\]"),
    (_lengths_wrong_count, r"lengths must be 2 values"),
    (_y_mismatch, r"y has 3 entries for 2 sequences"),
    (_no_sequences, r"x is empty \(\[0, 3, 5\]\)"),
    (_no_steps, r"x is empty \(\[2, 0, 5\]\)"),
    (_csv_text_value, r"sequence 1 has a non-numeric or missing feature value"),
    (_csv_short_row, r"non-numeric or missing feature value"),
    (_csv_header_only, r"CSV has no data rows"),
    (_csv_no_features, r"CSV has no feature columns"),
    (_pt_dict_with_non_tensor, r"expected a tensor or a dict of tensors"),
    (_pt_list, r"expected a tensor or a dict of tensors"),
]


@pytest.mark.parametrize(("make", "message"), ERRORS, ids=[m.__name__.lstrip("_") for m, _ in ERRORS])
def test_bad_data_raises_input_shape_error_naming_the_problem(tmp_path: Path, make: Callable[[Path], Path], message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(InputShapeError, match=message) as info:
        load_sequence_data(path, feature_size=5)
    assert path.name in str(info.value)  # every message names the file


def test_pickled_npy_is_refused_without_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    path = tmp_path / "data.npy"
    np.save(path, np.array([_OpensAFile(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(UnsafePickleError, match="pickled objects"):
        load_sequence_data(path)
    assert not marker.exists()


def test_pt_holding_a_custom_object_is_refused_without_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    path = tmp_path / "data.pt"
    torch.save({"x": torch.ones(2, 3, 5), "extra": _OpensAFile(marker)}, path)
    with pytest.raises(UnsafePickleError, match="pickled Python objects"):
        load_sequence_data(path)
    assert not marker.exists()


def test_pt_tensor_that_requires_grad_loads(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    torch.save(torch.ones(2, 3, 5, requires_grad=True), path)
    assert load_sequence_data(path).x.shape == (2, 3, 5)


def test_pt_bfloat16_tensor_loads_or_is_a_named_error(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    torch.save(torch.ones(2, 3, 5, dtype=torch.bfloat16), path)
    try:
        data = load_sequence_data(path)
    except InputShapeError:
        return
    assert data.x.dtype == np.float32


def test_scalar_y_is_a_named_error(tmp_path: Path) -> None:
    path = _npz(tmp_path, x=np.ones((2, 3, 5)), y=np.array(1))
    with pytest.raises(InputShapeError, match="y"):
        load_sequence_data(path)


# --- SequenceData.take -----------------------------------------------------------------------------------------


def test_take_keeps_x_lengths_and_labels_aligned() -> None:
    x = np.arange(4 * 3 * 2, dtype=np.float32).reshape(4, 3, 2)
    data = SequenceData(x, np.array([3, 1, 2, 3]), np.array([9, 8, 7, 6]), "src")
    head = data.take(2)
    assert head.count == 2
    np.testing.assert_array_equal(head.x, x[:2])
    assert head.lengths is not None and head.lengths.tolist() == [3, 1]
    assert head.y is not None and head.y.tolist() == [9, 8]
    assert head.source == "src"
    assert data.count == 4  # the original is untouched


def test_take_without_lengths_or_labels_and_beyond_count() -> None:
    data = SequenceData(np.zeros((3, 2, 1), np.float32), None, None, "src")
    assert data.take(1).lengths is None and data.take(1).y is None
    assert data.take(10).count == 3
