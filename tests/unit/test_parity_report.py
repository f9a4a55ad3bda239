"""Parity report: JSON round trip, verdicts, failure lines, and the JUnit / Markdown / PNG renderings."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from edgelstm import jsonio
from edgelstm.comparison import CaseComparison, TensorComparison
from edgelstm.errors import EdgelstmError
from edgelstm.jsonio import to_jsonable
from edgelstm.parity.cases import CaseInfo
from edgelstm.parity.render import junit_report, markdown_report, plot_time_profiles
from edgelstm.parity.report import CandidateResult, DeterminismCheck, ParityReport, TaskCheck, TimeProfile

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NONFINITE_PROBLEM = "3 non-finite values (NaN/Inf) where the reference is finite"


def _ok(name: str, error: float = 2e-7) -> TensorComparison:
    return TensorComparison(
        name,
        [2, 20, 3],
        error,
        error / 4,
        True,
        mean_abs_error=error / 10,
        cosine_similarity=1.0,
        snr_db=130.0,
        atol=1e-5,
        rtol=1e-4,
    )


def _nonfinite(name: str) -> TensorComparison:
    inf, nan = float("inf"), float("nan")
    return TensorComparison(
        name,
        [2, 200, 8],
        inf,
        inf,
        False,
        NONFINITE_PROBLEM,
        mean_abs_error=nan,
        cosine_similarity=nan,
        snr_db=-inf,
        atol=1e-2,
        rtol=5e-2,
    )


def _profile(errors: list[float], output: str = "output", case: str = "long") -> TimeProfile:
    steps = list(range(1, len(errors) + 1))
    slope = float(np.polyfit(steps, errors, 1)[0]) * 1000
    return TimeProfile(case, output, steps, [float(e) for e in errors], slope, errors[0], errors[-1])


def _growing(n: int = 200) -> list[float]:
    rng = np.random.default_rng(1)
    return [1e-7 * (1 + i / 10) * rng.uniform(0.5, 1.5) for i in range(n)]


def _flat_noisy(n: int = 1000) -> list[float]:
    rng = np.random.default_rng(2)
    return [float(e) for e in 1e-6 * 10 ** rng.uniform(-1, 0, n)]  # jumps by up to 10x step to step


def _passing(provider: str = "cpu") -> CandidateResult:
    return CandidateResult(
        artifact="artifacts/model_fp32.onnx",
        provider=provider,
        precision="fp32",
        providers_used=["CPUExecutionProvider"],
        cases=[CaseComparison("data", 4, 20, [_ok("output"), _ok("h_out")])],
        tasks=[TaskCheck("data", "top1_agreement", 1.0, 0.999, True)],
        streaming=[CaseComparison("streaming chunks of 7", 1, 20, [_ok("output")])],
        time_profiles=[_profile(_flat_noisy(100))],
        determinism=DeterminismCheck(True, 0.0, True),
        notes=["exported with opset 17"],
        seconds=0.42,
    )


def _failing() -> CandidateResult:
    return CandidateResult(
        artifact="artifacts/model_int8.onnx",
        provider="cpu",
        precision="int8",
        providers_used=["CPUExecutionProvider"],
        cases=[
            CaseComparison("data", 4, 20, [_ok("output", 1e-3)]),
            CaseComparison("long", 2, 200, [_ok("output", 1e-3), _nonfinite("c_out")]),
        ],
        tasks=[
            TaskCheck("data", "top1_agreement", 0.9, 0.98, False, "9 of 10 sequences agree"),
            TaskCheck("data", "accuracy_delta", -0.001, 0.01, True),
        ],
        time_profiles=[_profile(_growing()), _profile(_growing(), output="c_out")],
        determinism=DeterminismCheck(False, 3e-7, False),  # spread reported, not required
        seconds=1.5,
    )


def _skipped() -> CandidateResult:
    return CandidateResult(
        artifact="artifacts/model_fp16.onnx",
        provider="cuda",
        precision="fp16",
        status="skipped",
        reason="onnxruntime has no CUDAExecutionProvider here",
    )


def _baseline_failing() -> CandidateResult:
    return CandidateResult(
        artifact="torch fp32",
        provider="torch",
        precision="fp32",
        gated=False,
        cases=[CaseComparison("long", 2, 200, [_nonfinite("output")])],
    )


def _report(*candidates: CandidateResult, baseline: CandidateResult | None = None) -> ParityReport:
    return ParityReport(
        reference="runs/best.pt",
        reference_dtype="float64",
        data_source="data/val.npz",
        tolerance_source="parity.toml",
        cases=[CaseInfo("data", 4, 20, True, "4 sequences from data/val.npz"), CaseInfo("long", 2, 200, False, "long")],
        candidates=list(candidates),
        baseline=baseline,
        versions={"torch": "2.13", "onnx": "1.17", "onnxruntime": "1.20"},
        settings={"stress": True, "long_factor": 10, "seed": 0},
    )


def _full() -> ParityReport:
    return _report(_passing(), _failing(), _skipped(), baseline=_baseline_failing())


def _strict_loads(text: str) -> object:
    def refuse(token: str) -> object:
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


# --- JSON -----------------------------------------------------------------------------------------------------


def test_json_round_trip_is_lossless_and_strict() -> None:
    report = _full()
    text = jsonio.dumps(report)
    parsed = _strict_loads(text)
    restored = ParityReport.from_dict(parsed)  # type: ignore[arg-type]
    assert jsonio.dumps(restored) == text
    assert restored.passed is False
    assert restored.cases == report.cases
    assert restored.candidates[0] == report.candidates[0]  # all finite: dataclass equality holds
    assert restored.candidates[2] == report.candidates[2]
    assert restored.baseline is not None and restored.baseline.gated is False
    assert restored.versions == report.versions and restored.settings == report.settings


def test_non_finite_values_survive_as_floats() -> None:
    report = _full()
    parsed = _strict_loads(jsonio.dumps(report))
    stored = parsed["candidates"][1]["cases"][1]["outputs"][1]  # type: ignore[index]
    assert stored["max_abs_error"] == "inf" and stored["snr_db"] == "-inf" and stored["cosine_similarity"] == "nan"
    bad = ParityReport.from_dict(parsed).candidates[1].cases[1].outputs[1]  # type: ignore[arg-type]
    assert isinstance(bad, TensorComparison)
    assert bad.max_abs_error == math.inf and bad.max_rel_error == math.inf
    assert bad.snr_db == -math.inf
    assert math.isnan(bad.cosine_similarity) and math.isnan(bad.mean_abs_error)
    assert bad.passed is False and bad.problem == NONFINITE_PROBLEM


def test_round_trip_keeps_derived_fields_consistent() -> None:
    report = _full()
    restored = ParityReport.from_dict(json.loads(jsonio.dumps(report)))
    failing = restored.candidates[1]
    assert failing.verdict == "FAIL" and not failing.passed
    assert failing.time_profiles == report.candidates[1].time_profiles
    assert failing.time_profiles[0].grows is True
    assert failing.determinism == DeterminismCheck(False, 3e-7, False) and failing.determinism.passed
    assert failing.tasks == report.candidates[1].tasks
    assert restored.candidates[2].verdict == "skipped"


def test_the_json_records_verdicts() -> None:
    data = to_jsonable(_full())
    assert data["passed"] is False
    assert [c["verdict"] for c in data["candidates"]] == ["pass", "FAIL", "skipped"]
    assert data["baseline"]["verdict"] == "FAIL" and data["baseline"]["gated"] is False
    assert data["candidates"][1]["cases"][1]["passed"] is False
    assert data["candidates"][1]["time_profiles"][0]["grows"] is True
    assert data["candidates"][1]["determinism"]["passed"] is True


# --- verdicts -------------------------------------------------------------------------------------------------


def test_a_failing_gated_candidate_fails_the_report() -> None:
    report = _full()
    assert report.passed is False
    assert not report


def test_an_ungated_failing_baseline_does_not_fail_the_report() -> None:
    baseline = _baseline_failing()
    assert not baseline.passed
    report = _report(_passing(), baseline=baseline)
    assert report.passed is True
    assert bool(report)


def test_an_ungated_failing_candidate_does_not_fail_the_report() -> None:
    reported_only = _failing()
    reported_only.gated = False
    assert _report(_passing(), reported_only).passed is True


def test_a_skipped_candidate_does_not_fail_the_report() -> None:
    assert _report(_passing(), _skipped()).passed is True


def test_a_report_where_every_check_was_skipped_does_not_pass() -> None:
    # Nothing ran, so nothing was checked: a PASS would be a claim without evidence.
    report = _report(_skipped())
    assert report.passed is False
    assert report.ran == [] and len(report.skipped) == 1


def test_summary_counts_only_checks_that_ran_and_names_the_skipped() -> None:
    from edgelstm.parity.render import summary_count

    text = summary_count(_report(_passing(), _skipped(), _skipped()))
    assert text.startswith("1 artifact x provider check;") and "2 skipped" in text
    assert "nothing was checked" in summary_count(_report(_skipped()))


def test_a_report_with_no_candidates_does_not_pass() -> None:
    assert _report(baseline=_passing()).passed is False


def test_an_errored_candidate_fails() -> None:
    errored = CandidateResult("a.onnx", "cpu", "fp32", status="error", reason="session creation failed: bad graph")
    assert errored.verdict == "error" and not errored.passed
    assert errored.failures() == ["session creation failed: bad graph"]
    assert _report(_passing(), errored).passed is False


def test_required_determinism_spread_fails_the_candidate() -> None:
    candidate = _passing()
    candidate.determinism = DeterminismCheck(False, 2.5e-6, True)
    assert not candidate.passed
    assert any("determinism" in line and "2.5e-06" in line for line in candidate.failures())


def test_a_case_the_runtime_refused_fails_the_candidate() -> None:
    candidate = _passing()
    candidate.cases.append(CaseComparison("ragged", 8, 20, [], error="Non-zero status code"))
    assert not candidate.passed
    assert "ragged: Non-zero status code" in candidate.failures()


def test_failures_name_the_case_output_and_task() -> None:
    lines = _failing().failures()
    output_lines = [line for line in lines if line.startswith("long / c_out:")]
    assert len(output_lines) == 1
    assert "non-finite" in output_lines[0] and "inf" in output_lines[0]
    assert any(line.startswith("data / top1_agreement: 0.9") and "9 of 10" in line for line in lines)
    assert not any("accuracy_delta" in line for line in lines)  # passing checks are not failures
    assert not any("determinism" in line for line in lines)  # not required here
    assert len(lines) == 2


def test_passing_and_skipped_candidates_have_no_failures() -> None:
    assert _passing().failures() == []
    assert _skipped().failures() == []


def test_worst_prefers_the_failing_comparison() -> None:
    worst = _failing().worst()
    assert worst is not None
    assert worst[0] == "long" and worst[1].name == "c_out"
    assert _skipped().worst() is None


# --- JUnit ----------------------------------------------------------------------------------------------------


def _suites(report: ParityReport) -> tuple[ET.Element, dict[str, ET.Element]]:
    root = ET.fromstring(junit_report(report))
    return root, {s.get("name", ""): s for s in root.findall("testsuite")}


def test_junit_has_one_suite_per_candidate_with_matching_counts() -> None:
    root, suites = _suites(_full())
    assert root.tag == "testsuites"
    assert set(suites) == {"model_fp32.onnx [cpu]", "model_int8.onnx [cpu]", "model_fp16.onnx [cuda]"}
    total = 0
    for suite in suites.values():
        cases = suite.findall("testcase")
        failed = sum(1 for c in cases if c.find("failure") is not None)
        skipped = sum(1 for c in cases if c.find("skipped") is not None)
        assert int(suite.get("tests", "-1")) == len(cases)
        assert int(suite.get("failures", "-1")) == failed
        assert int(suite.get("skipped", "-1")) == skipped
        total += failed
    assert int(root.get("failures", "-1")) == total == 2
    assert suites["model_fp32.onnx [cpu]"].get("failures") == "0"
    assert suites["model_int8.onnx [cpu]"].get("failures") == "2"
    assert suites["model_int8.onnx [cpu]"].get("time") == "1.500"


def test_junit_failure_names_the_case() -> None:
    _, suites = _suites(_full())
    cases = {c.get("name"): c for c in suites["model_int8.onnx [cpu]"].findall("testcase")}
    assert cases["output output"].find("failure") is None
    failure = cases["output c_out"].find("failure")
    assert failure is not None
    assert failure.text is not None and failure.text.startswith("long:")
    assert "non-finite" in failure.text
    task = cases["task data top1_agreement"].find("failure")
    assert task is not None and "0.98" in (task.text or "")
    assert cases["task data accuracy_delta"].find("failure") is None
    assert cases["determinism"].find("failure") is None


def test_junit_skipped_candidate_has_a_skipped_element() -> None:
    _, suites = _suites(_full())
    suite = suites["model_fp16.onnx [cuda]"]
    (case,) = suite.findall("testcase")
    skipped = case.find("skipped")
    assert skipped is not None and skipped.get("message") == "onnxruntime has no CUDAExecutionProvider here"
    assert case.find("failure") is None
    assert suite.get("failures") == "0"


def test_junit_errored_candidate_is_a_failure() -> None:
    errored = CandidateResult("a.onnx", "cpu", "fp32", status="error", reason="session creation failed")
    _, suites = _suites(_report(errored))
    failure = suites["a.onnx [cpu]"].find("testcase/failure")
    assert failure is not None and failure.text == "session creation failed"


def test_junit_excludes_the_baseline() -> None:
    root, suites = _suites(_report(_passing(), baseline=_baseline_failing()))
    assert list(suites) == ["model_fp32.onnx [cpu]"]
    assert root.get("failures") == "0"


# --- Markdown -------------------------------------------------------------------------------------------------


def _rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("| `")]


def test_markdown_has_a_row_per_candidate_and_the_baseline() -> None:
    text = markdown_report(_full())
    assert text.startswith("### edgelstm parity: FAIL")
    rows = _rows(text)
    assert len(rows) == 4
    by_name = {row.split("`")[1]: row for row in rows}
    assert "**pass**" in by_name["model_fp32.onnx"]
    assert "**FAIL**" in by_name["model_int8.onnx"] and "long / c_out" in by_name["model_int8.onnx"]
    assert "**skipped**" in by_name["model_fp16.onnx"]
    assert "baseline, not gated" in by_name["torch fp32"]
    assert "(grows)" in by_name["model_int8.onnx"]
    assert "(grows)" not in by_name["model_fp32.onnx"]


def test_markdown_details_list_failures_and_skips() -> None:
    text = markdown_report(_full())
    assert "- FAIL `model_int8.onnx` on cpu: long / c_out" in text
    assert "- skipped `model_fp16.onnx` on cuda: onnxruntime has no CUDAExecutionProvider here" in text


def test_markdown_pass_headline() -> None:
    text = markdown_report(_report(_passing(), _skipped(), baseline=_baseline_failing()))
    assert text.startswith("### edgelstm parity: PASS")
    assert "FAIL `" not in text  # the baseline's failures are not listed as gate failures
    assert len(_rows(text)) == 3


# --- error growth over time -----------------------------------------------------------------------------------


def test_clearly_growing_error_grows() -> None:
    profile = _profile(_growing())
    assert profile.slope_per_1k_steps > 0
    assert profile.grows is True
    assert to_jsonable(profile)["grows"] is True


def test_flat_noisy_error_does_not_grow() -> None:
    errors = _flat_noisy()
    assert max(errors) / min(errors) > 5  # noisy enough that first/last single points could mislead
    assert _profile(errors).grows is False


def test_falling_error_does_not_grow() -> None:
    assert _profile(list(reversed(_growing()))).grows is False


def test_zero_error_does_not_grow() -> None:
    assert _profile([0.0] * 50).grows is False


# --- PNG ------------------------------------------------------------------------------------------------------


def test_plot_writes_a_png(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "error_vs_time.png"
    report = _full()
    plot_time_profiles(report, path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    plot_time_profiles(report, path)  # regenerated on every CI run: overwrites
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_plot_without_profiles_raises(tmp_path: Path) -> None:
    path = tmp_path / "plot.png"
    with pytest.raises(EdgelstmError, match="no error-vs-time profile"):
        plot_time_profiles(_report(_skipped()), path)
    assert not path.exists()
