"""The statistics behind every rate verdict (edgelstm/parity/evidence_strength.py), on known answers and at the
boundaries where a verdict changes; and how a candidate, a report and the exit code read an inconclusive check."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from edgelstm.jsonio import to_jsonable
from edgelstm.parity.evidence_strength import (
    Z95,
    Evidence,
    bootstrap_interval,
    judge_rate,
    paired_difference_interval,
    resolves_budget,
    samples_to_fit,
    wilson_interval,
)
from edgelstm.parity.report import CandidateResult, ParityReport, TaskCheck
from edgelstm.parity.stream_flips import flip_evidence
from edgelstm.parity.stream_verdict import StreamCandidate, StreamCheckConfig, StreamCheckReport, StreamRowResult


# Known answers: the same counts through statsmodels 0.15 `proportion_confint(method="wilson")` (checked once by
# hand; statsmodels is not a dependency). 0/313 and 13/312 are silero-vad's flip counts of issue 19.
@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (0, 313, 0.0, 0.012124230316929809),
        (13, 312, 0.024509383006655255, 0.06997301627087396),
        (53, 54, 0.9022856251121805, 0.9967235122817708),
        (54, 54, 0.9336, 1.0),
    ],
)
def test_wilson_interval_known_answers(k: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(k, n)
    assert got == pytest.approx((low, high), abs=1e-4 if k == n else 1e-12)


def test_wilson_at_zero_is_the_closed_form_and_exact_at_the_ends() -> None:
    low, high = wilson_interval(0, 50)
    assert low == 0.0 and high == pytest.approx(Z95**2 / (50 + Z95**2))
    assert wilson_interval(50, 50)[1] == 1.0


def test_paired_interval_with_no_discordant_pair_is_plus_minus_the_wilson_bound() -> None:
    """Derived by hand from Tango's score: with 0 gained and 0 lost the limits solve n d / (1 - d) = z^2."""
    bound = Z95**2 / (54 + Z95**2)
    assert paired_difference_interval(0, 0, 54) == pytest.approx((-bound, bound), abs=1e-9)


def test_paired_interval_known_answers_and_symmetry() -> None:
    # Bentur et al. 2009 (n12 = 1, n21 = 7 of 21), the worked example of Fagerland, Lydersen & Laake's Tango interval
    assert paired_difference_interval(1, 7, 21) == pytest.approx((-0.5172, -0.0260), abs=5e-4)
    # the case: one sequence lost of 54
    assert paired_difference_interval(0, 1, 54) == pytest.approx((-0.09771, 0.04912), abs=1e-5)
    low, high = paired_difference_interval(3, 9, 80)
    assert paired_difference_interval(9, 3, 80) == pytest.approx((-high, -low))
    assert paired_difference_interval(0, 21, 21)[0] == -1.0  # every pair lost: the interval reaches -1


def test_paired_interval_covers_the_true_difference_about_95_percent_of_the_time() -> None:
    """Coverage by simulation (seeded): a wrong formula (wrong variance, one-sided z) lands far from 95 %."""
    rng = np.random.default_rng(0)
    n, p_gain, p_loss = 200, 0.01, 0.03
    truth = p_gain - p_loss
    tables = rng.multinomial(n, [p_gain, p_loss, 1 - p_gain - p_loss], size=800)
    covered = sum(lo <= truth <= hi for lo, hi in (paired_difference_interval(g, lost, n) for g, lost, _ in tables))
    assert 0.92 <= covered / len(tables) <= 0.98


def test_bootstrap_is_seeded_and_brackets_the_statistic() -> None:
    values = np.random.default_rng(1).normal(0.1, 1.0, size=400)
    first = bootstrap_interval(lambda rows: float(values[rows].mean()), len(values), seed=3)
    assert first == bootstrap_interval(lambda rows: float(values[rows].mean()), len(values), seed=3)
    assert first[0] < values.mean() < first[1]
    assert first[1] - first[0] == pytest.approx(2 * Z95 / math.sqrt(400), rel=0.15)  # ~ the t-interval's width


@pytest.mark.parametrize(("budget", "fits"), [(0.01, 100), (0.001, 1000), (0.02, 50), (0.005, 200)])
def test_resolution_threshold_is_where_one_sample_equals_the_budget(budget: float, fits: int) -> None:
    assert samples_to_fit(budget) == fits
    assert resolves_budget(fits, budget)  # 1/N == budget: one sample moves the value onto the limit, which passes
    assert not resolves_budget(fits - 1, budget)


def test_zero_and_infinite_budgets_are_always_resolved() -> None:
    assert resolves_budget(3, 0.0) and resolves_budget(3, float("inf"))


def _accuracy(gained: int, lost: int, n: int, budget: float = 0.01, strict: bool = False) -> Evidence:
    return judge_rate(
        (gained - lost) / n,
        -budget,
        n,
        "sequence",
        lambda m: paired_difference_interval(gained * m / n, lost * m / n, m),
        "Tango score, paired",
        higher_is_better=True,
        budget=budget,
        strict=strict,
    )


def test_one_lost_of_54_against_one_point_cannot_be_resolved_and_names_the_size() -> None:
    e = _accuracy(0, 1, 54)
    assert (e.verdict, e.resolved) == ("inconclusive", False)
    assert e.step == pytest.approx(1 / 54) and e.needed_n == 525
    assert "cannot resolve: 1 sequence = 1.85 points > the 1-point budget" in e.reason
    assert "at least 100 needed" in e.reason and "about 525 sequences would resolve it" in e.reason


def test_the_needed_size_resolves_and_one_less_does_not() -> None:
    def interval(m: float) -> tuple[float, float]:
        return paired_difference_interval(0, m / 54, m)

    assert interval(525)[1] < -0.01 <= interval(524)[1]


def test_a_clear_failure_stays_a_failure_and_a_clear_pass_a_pass() -> None:
    many = _accuracy(0, 5, 54)  # 5 of 54 lost: the whole interval is below -1 point
    assert (many.verdict, many.resolved, many.reason) == ("FAIL", True, "")
    enough = _accuracy(0, 1, 600)
    assert (enough.verdict, enough.resolved, enough.needed_n) == ("pass", True, None)


def test_an_unresolved_pass_is_said_and_strict_makes_it_inconclusive() -> None:
    lenient = _accuracy(0, 0, 54)
    assert lenient.verdict == "pass" and not lenient.resolved and "1 sequence = 1.85 points" in lenient.reason
    assert lenient.needed_n == 381  # 0 of 381: the interval's lower end first clears -1 point
    assert paired_difference_interval(0, 0, 381)[0] >= -0.01 > paired_difference_interval(0, 0, 380)[0]
    assert _accuracy(0, 0, 54, strict=True).verdict == "inconclusive"


def test_a_zero_budget_is_an_exact_rule_one_difference_fails() -> None:
    e = _accuracy(0, 1, 54, budget=0.0)
    assert (e.verdict, e.resolved) == ("FAIL", True)


def test_flip_budget_below_one_chunk_says_so() -> None:
    one = flip_evidence(1, 50, 0.01)
    assert one.verdict == "inconclusive" and "1 decision = 2 points > the 1-point budget" in one.reason
    none = flip_evidence(0, 50, 0.01)
    assert none.verdict == "pass" and not none.resolved and "1 decision = 2 points" in none.reason
    silero = flip_evidence(13, 312, 0.01)  # issue 19's independent stream: a resolved failure
    assert (silero.verdict, silero.resolved) == ("FAIL", True)
    assert (silero.low, silero.high) == pytest.approx((0.0245093830, 0.0699730163))
    own = flip_evidence(2, 313, 0.01)  # 2 of 313: within, but the interval crosses 1 %
    assert own.verdict == "pass" and not own.resolved and "crosses the limit 1%" in own.reason


def test_stream_candidate_with_unresolved_flips_is_inconclusive_in_json_and_lines() -> None:
    from edgelstm.parity.stream_render import stream_report_lines

    candidate = StreamCandidate("cpu", decisions=50, flips=1, flip_evidence=flip_evidence(1, 50, 0.01))
    assert not candidate.passed and candidate.inconclusive and candidate.verdict == "inconclusive"
    report = StreamCheckReport("a.onnx", "0" * 64, "r.onnx", "1" * 64, "speech", "", 512, 50, 1, "p", StreamCheckConfig())
    report.candidates.append(candidate)
    data = json.loads(json.dumps(to_jsonable(report)))
    assert data["verdict"] == "inconclusive" and data["passed"] is False
    assert data["candidates"][0]["flip_evidence"]["needed_n"] == 381
    lines = "\n".join(stream_report_lines(report))
    assert "verdict: INCONCLUSIVE" in lines and "flips inconclusive: cannot resolve: 1 decision = 2 points" in lines
    failing = StreamCandidate("cpu", decisions=50, flips=1, flip_evidence=flip_evidence(1, 50, 0.01), failures=["max |dp|"])
    assert failing.verdict == "FAIL"  # a resolved failure elsewhere wins over an unresolved flip count


def test_a_row_whose_flips_cannot_be_resolved_makes_the_stream_inconclusive() -> None:
    """Several rows (the built-in voices): each holds the budget on its own, so each row's flips are judged too."""
    from edgelstm.parity.stream_render import stream_report_lines

    rows = [
        StreamRowResult("voice-a", 313, 0, 0.0, flip_evidence=flip_evidence(0, 313, 0.01)),
        StreamRowResult("voice-b", 50, 1, 0.0, flip_evidence=flip_evidence(1, 50, 0.01)),  # 1 of 50 > 1 %: unresolved
    ]
    whole = flip_evidence(1, 363, 0.01)  # the whole stream: within the budget
    candidate = StreamCandidate("cpu", decisions=363, flips=1, flip_evidence=whole, rows=rows)
    assert whole.verdict == "pass" and rows[1].verdict == "inconclusive" and rows[0].verdict == "pass"
    assert candidate.verdict == "inconclusive" and not candidate.passed
    assert candidate.inconclusive_lines() == [f"voice-b: flips inconclusive: {rows[1].flip_evidence.reason}"]  # type: ignore[union-attr]
    report = StreamCheckReport("a.onnx", "0" * 64, "r.onnx", "1" * 64, "speech", "", 512, 313, 2, "p", StreamCheckConfig())
    report.candidates.append(candidate)
    assert to_jsonable(report)["candidates"][0]["rows"][1]["verdict"] == "inconclusive"
    lines = "\n".join(stream_report_lines(report))
    assert "voice-b  inconclusive  1 of 50 flipped" in lines and "1 decision = 2 points > the 1-point budget" in lines


def _task(verdict_evidence: Evidence) -> TaskCheck:
    return TaskCheck(
        "data", "accuracy_delta", verdict_evidence.value, -0.01, verdict_evidence.verdict == "pass", evidence=verdict_evidence
    )


def test_candidate_and_report_read_inconclusive_and_fail_first() -> None:
    from edgelstm.commands.check import exit_code

    unresolved = CandidateResult("a.onnx", "cpu", "int8", tasks=[_task(_accuracy(0, 1, 54))])
    assert (unresolved.passed, unresolved.verdict) == (False, "inconclusive")
    report = ParityReport("ref", "float64", "data", "defaults", candidates=[unresolved])
    assert report.verdict == "inconclusive" and not report.passed
    assert exit_code(report.verdict, allow_inconclusive=False) == 1 and exit_code(report.verdict, True) == 0
    failed = CandidateResult("b.onnx", "cpu", "int8", tasks=[_task(_accuracy(0, 5, 54))])
    report.candidates.append(failed)
    assert failed.verdict == "FAIL" and report.verdict == "FAIL" and exit_code(report.verdict, True) == 1
    assert unresolved.failures() == [] and "1.85 points" in unresolved.inconclusive_lines()[0]


def test_task_check_json_round_trips_and_old_reports_still_read() -> None:
    task = _task(_accuracy(0, 1, 54))
    data = json.loads(json.dumps(to_jsonable(task)))
    assert data["verdict"] == "inconclusive" and data["evidence"]["needed_n"] == 525
    assert TaskCheck.from_dict(data) == task
    old = {"case": "data", "metric": "top1_agreement", "value": 1.0, "limit": 0.98, "passed": True, "detail": ""}
    read = TaskCheck.from_dict(old)
    assert read.evidence is None and read.verdict == "pass"


def test_report_reads_inconclusive_verdicts_by_name() -> None:
    from edgelstm.report.evidence import failed_label

    assert failed_label([{"verdict": "inconclusive"}, {"verdict": "pass"}]) == "inconclusive"
    assert failed_label([{"verdict": "inconclusive"}, {"verdict": "FAIL"}]) == "FAIL"
    assert failed_label([{"verdict": "FAIL"}]) == "FAIL"
