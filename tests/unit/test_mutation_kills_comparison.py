"""The comparison rule's edge cases (edgelstm/comparison.py compare_tensors): what the mutation run
(docs/testing/mutation.md) found unguarded. Each answer is known by hand.

- a shape mismatch is a failure with infinite errors (never a pass, never a number that reads as measured);
- an empty output passes with zero error and records its name, its shape and the tolerance it was judged against;
- a one-element output is judged like any other;
- against an all-zero reference the relative error is 0 when equal and infinite otherwise.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from edgelstm.comparison import CaseComparison, Tolerance, compare_tensors
from edgelstm.jsonio import to_jsonable

TIGHT = Tolerance(atol=1e-5, rtol=1e-5, min_snr_db=-math.inf)


def test_a_shape_mismatch_fails_with_infinite_errors() -> None:
    result = compare_tensors("h", np.zeros((2, 3)), np.zeros((3, 2)), TIGHT)
    assert result.passed is False and not result
    assert (result.max_abs_error, result.max_rel_error) == (math.inf, math.inf)
    assert result.problem == "shape [2, 3] != expected [3, 2]" and result.shape == [2, 3]


def test_an_empty_output_passes_with_zero_error_and_keeps_its_shape_and_tolerance() -> None:
    result = compare_tensors("h", np.zeros((0, 3)), np.zeros((0, 3)), TIGHT)
    assert result.passed is True and result.shape == [0, 3]
    assert result.name == "h" and to_jsonable(result)["name"] == "h"  # a report row names the output it judged
    assert (result.max_abs_error, result.max_rel_error) == (0.0, 0.0)
    assert (result.atol, result.rtol, result.min_snr_db) == (1e-5, 1e-5, -math.inf)


def test_a_one_element_output_is_judged() -> None:
    result = compare_tensors("p", np.array([1.0]), np.array([0.5]), TIGHT)
    assert not result.passed and result.max_abs_error == 0.5 and result.max_rel_error == 1.0
    assert compare_tensors("p", np.array([0.5]), np.array([0.5]), TIGHT).passed


def test_against_an_all_zero_reference_the_relative_error_is_zero_or_infinite() -> None:
    zeros = np.zeros(4)
    assert compare_tensors("h", zeros, zeros, TIGHT).max_rel_error == 0.0
    off_by_one = compare_tensors("h", np.array([0.0, 1.0, 0.0, 0.0]), zeros, TIGHT)
    assert off_by_one.max_abs_error == 1.0 and off_by_one.max_rel_error == math.inf and not off_by_one.passed


def test_cosine_snr_and_mean_error_have_their_textbook_values() -> None:
    loose = Tolerance(atol=math.inf, rtol=math.inf, min_snr_db=-math.inf)
    result = compare_tensors("h", np.array([1.0, 0.0]), np.array([1.0, 1.0]), loose)
    assert result.cosine_similarity == pytest.approx(1 / math.sqrt(2))  # cos 45 degrees
    assert result.snr_db == pytest.approx(10 * math.log10(2 / 1)) and result.mean_abs_error == 0.5
    same = compare_tensors("h", np.array([3.0, -4.0]), np.array([3.0, -4.0]), TIGHT)
    assert (same.snr_db, same.cosine_similarity, same.passed) == (math.inf, 1.0, True)
    zeros = compare_tensors("h", np.zeros(3), np.zeros(3), TIGHT)
    assert (zeros.cosine_similarity, zeros.snr_db) == (1.0, math.inf)  # no direction to compare: equal is 1
    against_zero = compare_tensors("h", np.array([0.0, 2.0]), np.zeros(2), loose)
    assert against_zero.cosine_similarity == 0.0 and against_zero.snr_db == -math.inf


def test_an_infinite_or_nan_noise_floor_allows_nothing_extra() -> None:
    # A reference whose float32 run overflowed has no measured floor: it must not widen the limit at that element.
    expected, actual = np.array([1.0, 2.0]), np.array([1.5, 2.0])
    for floor in (np.array([np.inf, 0.0]), np.array([np.nan, 0.0])):
        result = compare_tensors("y", actual, expected, TIGHT, floor)
        assert not result.passed and result.max_noise_floor == 0.0
    assert compare_tensors("y", actual, expected, TIGHT, np.array([0.125, 0.0])).passed  # 4 x 0.125 covers 0.5


def test_an_error_exactly_at_the_noise_floor_allowance_passes() -> None:
    # limit 0.25 plus 4 x floor 0.0625 = 0.5: an error of exactly 0.5 is within (all numbers exact in binary)
    at_limit = Tolerance(atol=0.25, rtol=0.0, min_snr_db=-math.inf)
    assert compare_tensors("y", np.array([1.5]), np.array([1.0]), at_limit, np.array([0.0625])).passed
    assert not compare_tensors("y", np.array([1.5]), np.array([1.0]), at_limit, np.array([0.0624])).passed


# Two survivors of a full run of comparison that was stopped part way (docs/testing/mutation.md, "Full run").


def test_a_failed_comparison_names_its_output() -> None:
    # a report lists every failing output by name; a shape mismatch must say which output it is
    assert compare_tensors("hidden_state", np.zeros((2, 3)), np.zeros((3, 2)), TIGHT).name == "hidden_state"


def test_a_case_without_outputs_has_no_worst_output() -> None:
    assert CaseComparison("refused", 1, 4).worst() is None


# Survivors of the full run of comparison (docs/testing/mutation.md, "Full run: comparison and publish").


def test_a_failed_comparison_records_the_tolerance_it_was_judged_against() -> None:
    judged = Tolerance(atol=0.5, rtol=0.25, min_snr_db=10.0)
    result = compare_tensors("h", np.zeros((2, 3)), np.zeros((3, 2)), judged)
    assert (result.atol, result.rtol, result.min_snr_db) == (0.5, 0.25, 10.0)


def test_a_measured_comparison_records_the_outputs_shape() -> None:
    assert compare_tensors("h", np.zeros((2, 3)), np.zeros((2, 3)), TIGHT).shape == [2, 3]


def test_outputs_non_finite_at_the_same_places_pass_with_zero_error() -> None:
    # a NaN or an overflow the reference has too is not a difference anyone can measure; a reference that is
    # non-finite everywhere has no range, so its relative error is 0 too
    everywhere = np.array([np.nan, np.inf, -np.inf])
    result = compare_tensors("h", everywhere.copy(), everywhere, TIGHT)
    assert result.passed and (result.max_abs_error, result.max_rel_error) == (0.0, 0.0)
    partly = compare_tensors("h", np.array([1.0, np.nan]), np.array([1.0, np.nan]), TIGHT)
    assert partly.passed and (partly.max_abs_error, partly.mean_abs_error) == (0.0, 0.0)


def test_snr_and_cosine_are_measured_only_where_both_sides_are_finite() -> None:
    # where the reference is NaN nothing is measurable: the SNR floor judges the other elements, which agree exactly
    snr_floor = Tolerance(atol=1e-5, rtol=1e-5, min_snr_db=20.0)
    result = compare_tensors("h", np.array([2.0, 5.0]), np.array([2.0, np.nan]), snr_floor)
    assert (result.snr_db, result.cosine_similarity, result.passed) == (math.inf, 1.0, True)


def test_the_cosine_of_outputs_smaller_than_one_is_measured() -> None:
    # norms 0.5 x 0.707 < 1: still a real angle (45 degrees), not the "no direction" fallback
    result = compare_tensors("h", np.array([0.5, 0.0]), np.array([0.5, 0.5]), Tolerance(math.inf, math.inf))
    assert result.cosine_similarity == pytest.approx(1 / math.sqrt(2))


@pytest.mark.parametrize(
    ("actual", "expected", "snr"), [([0.25], [0.5], 10 * math.log10(4)), ([2.0, 1.0], [2.0, 2.0], 10 * math.log10(8))]
)
def test_the_snr_is_signal_power_over_noise_power_for_any_magnitude(
    actual: list[float], expected: list[float], snr: float
) -> None:
    # signal sum e^2 (0.25 below 1, 8 above it), noise sum (a - e)^2; the floor 5 dB sits under both answers
    result = compare_tensors("h", np.array(actual), np.array(expected), Tolerance(math.inf, math.inf, min_snr_db=5.0))
    assert result.snr_db == pytest.approx(snr) and result.passed
    assert not compare_tensors("h", np.array(actual), np.array(expected), Tolerance(math.inf, math.inf, snr + 0.01)).passed


def test_an_all_zero_reference_is_judged_without_a_numpy_warning() -> None:
    # no signal: the SNR is -inf by rule, not by dividing by zero (a RuntimeWarning would reach check's stderr)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = compare_tensors("h", np.array([0.0, 2.0]), np.zeros(2), Tolerance(math.inf, math.inf))
    assert result.snr_db == -math.inf


def test_a_float32_noise_floor_is_added_in_float64() -> None:
    # 1 + 4 x 1e-8 rounds to 1.0 in float32: the allowance must not vanish because the floor came as float32
    floor = np.array([1e-8], dtype=np.float32)
    actual, expected = np.array([2.00000003]), np.array([1.0])
    assert compare_tensors("y", actual, expected, Tolerance(atol=1.0, rtol=0.0), floor).passed
    assert not compare_tensors("y", actual, expected, Tolerance(atol=1.0, rtol=0.0)).passed  # the floor is what passes it


def test_no_noise_floor_or_one_of_another_shape_allows_nothing_and_records_zero() -> None:
    actual, expected = np.array([[1.5, 1.0]]), np.array([[1.0, 1.0]])
    assert compare_tensors("y", actual, expected, TIGHT).max_noise_floor == 0.0
    wrong_shape = compare_tensors("y", actual, expected, TIGHT, np.array([1.0]))  # would broadcast: must be ignored
    assert not wrong_shape.passed and wrong_shape.max_noise_floor == 0.0
