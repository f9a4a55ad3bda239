"""The float32 noise-floor allowance of the comparison rule: per element, never a global loosening."""

from __future__ import annotations

import numpy as np
import pytest

from edgelstm.comparison import NOISE_FLOOR_FACTOR, TensorComparison, Tolerance, compare_tensors
from edgelstm.jsonio import to_jsonable

TOL = Tolerance(atol=1e-5, rtol=1e-5)


def _pair(error_at: int, error: float, size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    expected = np.linspace(-0.9, 0.9, size)
    actual = expected.copy()
    actual[error_at] += error
    return actual, expected


def test_without_a_floor_the_rule_is_unchanged() -> None:
    actual, expected = _pair(3, 5e-5)
    assert not compare_tensors("h", actual, expected, TOL)
    assert compare_tensors("h", actual, expected, TOL, np.zeros_like(expected)).passed is False


def test_an_ill_conditioned_element_gets_its_own_floor() -> None:
    actual, expected = _pair(3, 1.2e-4)
    floor = np.full_like(expected, 1e-8)
    floor[3] = 3e-5  # this element moves 3e-5 under float32 rounding alone
    result = compare_tensors("h", actual, expected, TOL, floor)
    assert result.passed and result.max_noise_floor == pytest.approx(3e-5)
    assert 1.2e-4 <= TOL.atol + TOL.rtol * 0.9 + NOISE_FLOOR_FACTOR * 3e-5


def test_the_floor_of_one_element_does_not_excuse_another() -> None:
    actual, expected = _pair(5, 1.2e-4)  # the error sits where the floor is tiny
    floor = np.full_like(expected, 1e-8)
    floor[3] = 1e-3
    assert not compare_tensors("h", actual, expected, TOL, floor)


def test_a_floor_too_small_for_the_error_fails() -> None:
    actual, expected = _pair(3, 1.2e-4)
    floor = np.full_like(expected, 1e-8)
    floor[3] = 1e-5
    assert not compare_tensors("h", actual, expected, TOL, floor)


def test_non_finite_floor_values_allow_nothing() -> None:
    actual, expected = _pair(3, 1.2e-4)
    floor = np.full_like(expected, np.nan)
    floor[2] = np.inf
    assert not compare_tensors("h", actual, expected, TOL, floor)


def test_recorded_and_round_trips() -> None:
    actual, expected = _pair(3, 1e-6)
    result = compare_tensors("h", actual, expected, TOL, np.full_like(expected, 2e-7))
    assert TensorComparison.from_dict(to_jsonable(result)) == result


def _lstm_checkpoint(tmp_path, weight_scale: float):
    import torch

    from edgelstm.checkpoint import save_checkpoint
    from edgelstm.config import ModelConfig
    from edgelstm.model import SequenceModel

    torch.manual_seed(0)
    model = SequenceModel(ModelConfig(input_size=3, hidden_size=16))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "weight_hh" in name:
                p.mul_(weight_scale)  # large recurrent weights: gates near their switching points, sensitive
    return save_checkpoint(model, tmp_path / f"lstm-{weight_scale}")


def test_the_reference_measures_a_larger_floor_for_a_sensitive_model(tmp_path) -> None:
    from edgelstm.artifact.export_config import ExportConfig
    from edgelstm.artifact.feeds import sequence_feeds
    from edgelstm.export.native import native_interface
    from edgelstm.loading import load_model
    from edgelstm.parity.reference import TorchReference

    x = np.random.default_rng(1).standard_normal((4, 200, 3)).astype(np.float32)
    floors = {}
    for scale in (0.2, 8.0):
        loaded = load_model(str(_lstm_checkpoint(tmp_path, scale)))
        interface = native_interface(loaded.config, ExportConfig(form="sequence", with_lengths=True))
        truth = TorchReference(loaded, "float64")
        feeds = sequence_feeds(interface, x, None, "test")
        floor = truth.noise_floor(interface, feeds)
        expected = truth.run(interface, feeds)
        assert floor is not None and [f.shape for f in floor] == [e.shape for e in expected]
        assert all((f >= 0).all() for f in floor)
        floors[scale] = max(float(f.max()) for f in floor)
        assert TorchReference(loaded, "float32").noise_floor(interface, feeds) is None  # float64 only
    assert floors[0.2] < 1e-6  # a contracting model: one ulp stays one ulp
    assert floors[8.0] > 10 * floors[0.2]


def test_the_factor_is_pinned() -> None:
    """Loosening the allowance is a trust change: it must be a visible edit of this test, not a quiet constant."""
    assert NOISE_FLOOR_FACTOR == 4.0


@pytest.mark.parametrize(("multiple", "passes"), [(3.5, True), (4.5, False), (10.0, False)])
def test_the_allowance_is_four_floors_on_top_of_the_tolerance(multiple: float, passes: bool) -> None:
    floor_value = 1e-4
    expected = np.zeros(4)  # range 0: only atol and the floor count
    actual = expected.copy()
    actual[1] = TOL.atol + multiple * floor_value
    floor = np.full_like(expected, floor_value)
    assert compare_tensors("h", actual, expected, TOL, floor).passed is passes
