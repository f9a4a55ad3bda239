"""The streaming flip gate (edgelstm/parity/stream_check.py): what the mutation run (docs/testing/mutation.md) found
unguarded, as unit tests with answers known by hand.

- a probability exactly at the threshold is a positive decision on both sides (`p >= threshold`);
- a failed budget says how many flipped and what the budget was, in flips; a delta failure names its output;
- a row's result carries its own max |delta|, and counts its flips per segment kind, chunk by chunk.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from edgelstm.parity.evidence_strength import FAIL, INCONCLUSIVE, PASS
from edgelstm.parity.stream_check import _row_result, _RowsOf
from edgelstm.parity.stream_flips import budget_failures, flip_evidence, flips_and_delta
from edgelstm.parity.stream_verdict import StreamCheckConfig


def test_a_probability_at_the_threshold_is_a_positive_decision() -> None:
    at = np.array([0.5, 0.2, 0.7], np.float32)
    assert flips_and_delta(at, at.copy(), 0.5) == (3, 0, 0.0)
    decisions, flips, delta = flips_and_delta(np.array([0.5, 0.2]), np.array([0.4999, 0.2]), 0.5)
    assert (decisions, flips) == (2, 1) and delta == pytest.approx(1e-4)


def test_a_failed_flip_budget_names_the_flips_and_the_budget_in_flips() -> None:
    config = StreamCheckConfig(max_flip_fraction=0.1, max_abs_delta=0.5)
    judged = flip_evidence(8, 20, config.max_flip_fraction)
    assert judged.verdict == FAIL
    failures = budget_failures(8, 20, judged, 0.6, "speech_prob", config)
    assert failures == [
        "8 of 20 decisions flipped at 0.5 (budget 10.00% = 2)",
        "max |delta speech_prob| 0.6 > 0.5",
    ]


def test_a_row_carries_its_delta_and_counts_flips_per_segment_kind() -> None:
    p = np.array([[0.9, 0.1, 0.6, 0.3], [0.4, 0.1, 0.2, 0.8]])
    p_ref = np.array([[0.1, 0.1, 0.6, 0.3], [0.6, 0.7, 0.2, 0.1]])
    # flips per chunk (both sub-rows): 2, 1, 0, 1; the last chunk is not described ("")
    rows = _RowsOf(["voice", "recording"], [["speech", "silence", "speech", ""], []])
    row = _row_result(rows, 0, p, p_ref, "speech_prob", StreamCheckConfig(max_flip_fraction=1.0, max_abs_delta=1.0))
    assert (row.name, row.decisions, row.flips) == ("voice", 8, 4)
    assert row.max_abs_delta == pytest.approx(0.8)
    assert row.flips_by_kind == {"speech": 2, "silence": 1}
    # another layout, where counting the agreeing decisions instead (speech 0, silence 3) would differ
    other = _RowsOf(["voice"], [["speech", "silence", "silence", ""]])
    config = StreamCheckConfig(max_flip_fraction=1.0, max_abs_delta=1.0)
    assert _row_result(other, 0, p, p_ref, "speech_prob", config).flips_by_kind == {"speech": 2, "silence": 1}
    assert row.flip_evidence is not None and row.flip_evidence.n == 8 and row.passed
    undescribed = _row_result(rows, 1, p, p_ref, "speech_prob", StreamCheckConfig(max_flip_fraction=1.0, max_abs_delta=1.0))
    assert undescribed.name == "recording" and undescribed.flips_by_kind == {}


def test_a_row_under_strict_evidence_is_inconclusive_until_its_interval_clears_the_budget() -> None:
    p = np.array([[0.9, 0.1, 0.6, 0.3], [0.4, 0.1, 0.2, 0.8]])
    p_ref = np.array([[0.1, 0.1, 0.6, 0.3], [0.6, 0.7, 0.2, 0.1]])
    rows = _RowsOf(["voice"], [[]])
    lenient = StreamCheckConfig(max_flip_fraction=0.6, max_abs_delta=1.0)
    assert _row_result(rows, 0, p, p_ref, "speech_prob", lenient).verdict == PASS  # 4 of 8 within 60 %, unresolved
    strict = _row_result(rows, 0, p, p_ref, "speech_prob", replace(lenient, strict_evidence=True))
    assert strict.inconclusive and strict.verdict == INCONCLUSIVE and not strict.failures


def test_flip_evidence_is_a_wilson_rate_of_decisions() -> None:
    one = flip_evidence(1, 1, 0.5)
    assert (one.value, one.n, one.unit) == (1.0, 1, "decision")
    assert one.method == "Wilson score (chunks taken as independent)"


def test_a_nan_probability_is_an_infinite_delta_not_an_error() -> None:
    # A NaN in the candidate's stream must report max |delta| = inf (the budget then fails on it), not raise.
    p = np.array([0.2, np.nan, 0.7])
    p_ref = np.array([0.2, 0.4, 0.7])
    decisions, flips, delta = flips_and_delta(p, p_ref, 0.5)
    assert (decisions, flips) == (3, 0)
    assert delta == float("inf")


def test_a_row_over_its_delta_budget_names_the_output() -> None:
    # A row's failure must say which output drifted (a graph may stream several), not "None".
    p = np.array([[0.9, 0.1]])
    p_ref = np.array([[0.1, 0.1]])
    row = _row_result(
        _RowsOf(["voice"], [[]]), 0, p, p_ref, "speech_prob", StreamCheckConfig(max_flip_fraction=1.0, max_abs_delta=0.1)
    )
    assert row.failures == ["max |delta speech_prob| 0.8 > 0.1"]


# The full run of stream_check's 138 mutants (docs/testing/mutation.md, "Full run") left these unguarded.


def test_a_probability_at_the_threshold_is_a_positive_decision_in_the_per_kind_counts() -> None:
    # p exactly at 0.5 is "speech" on either side: the per-kind count must see the same flips as the total.
    p = np.array([[0.5, 0.5, 0.2]])
    p_ref = np.array([[0.4, 0.6, 0.5]])  # chunk 0: flip (0.5 vs 0.4), chunk 1: agree, chunk 2: flip (0.2 vs 0.5)
    config = StreamCheckConfig(max_flip_fraction=1.0, max_abs_delta=1.0)
    row = _row_result(_RowsOf(["voice"], [["speech", "silence", "noise"]]), 0, p, p_ref, "speech_prob", config)
    assert row.flips == 2
    assert row.flips_by_kind == {"speech": 1, "silence": 0, "noise": 1}


@pytest.mark.parametrize("shape", [(3,), (1, 1, 3)], ids=["one-dim", "three-dim"])
def test_per_kind_flips_are_counted_along_the_chunk_axis_of_any_rank(shape: tuple[int, ...]) -> None:
    # A graph whose probability is [batch] per chunk gives a row [chunks]; one with [batch, 1, 1] gives [1, 1, chunks]:
    # the chunk axis is the last one, whatever the rank.
    p = np.array([0.9, 0.1, 0.9]).reshape(shape)
    p_ref = np.array([0.1, 0.1, 0.1]).reshape(shape)
    config = StreamCheckConfig(max_flip_fraction=1.0, max_abs_delta=1.0)
    row = _row_result(_RowsOf(["voice"], [["speech", "silence", "noise"]]), 0, p, p_ref, "speech_prob", config)
    assert row.flips_by_kind == {"speech": 1, "silence": 0, "noise": 1}


def test_a_rows_failed_flip_budget_names_its_own_flip_count() -> None:
    p = np.array([[0.9, 0.9, 0.9, 0.1]])
    p_ref = np.array([[0.1, 0.1, 0.1, 0.1]])
    config = StreamCheckConfig(max_flip_fraction=0.0, max_abs_delta=1.0)
    row = _row_result(_RowsOf(["voice"], [[]]), 0, p, p_ref, "speech_prob", config)
    assert row.failures == ["3 of 4 decisions flipped at 0.5 (budget 0.00% = 0)"]


def test_a_delta_exactly_at_its_budget_passes() -> None:
    # "--max-delta D" allows |delta p| up to and including D (--max-delta 0 asks for identical probabilities).
    config = StreamCheckConfig(max_flip_fraction=1.0, max_abs_delta=0.25)
    judged = flip_evidence(0, 4, config.max_flip_fraction)
    assert budget_failures(0, 4, judged, 0.25, "speech_prob", config) == []
    assert budget_failures(0, 4, judged, 0.2500001, "speech_prob", config) == ["max |delta speech_prob| 0.25 > 0.25"]
    exact = StreamCheckConfig(max_flip_fraction=0.0, max_abs_delta=0.0)
    assert budget_failures(0, 4, flip_evidence(0, 4, 0.0), 0.0, "speech_prob", exact) == []


def test_one_flipped_decision_of_one_has_the_wilson_interval_of_one_in_one() -> None:
    from edgelstm.parity.evidence_strength import wilson_interval

    one = flip_evidence(1, 1, 0.5)
    assert (one.low, one.high) == pytest.approx(wilson_interval(1, 1))
    assert one.low > 0.2  # 1 of 1: the interval is not the one of half a flip
