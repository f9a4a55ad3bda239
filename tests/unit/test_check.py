"""The parity gate catches real faults (exit 1, naming the comparison) and passes clean exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgelstm.loading import load_model
from edgelstm.parity import CheckConfig, run_check
from edgelstm.parity.data import load_sequence_data
from tests.support import check as shared

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
workspace = shared.workspace


def test_report_covers_time_streaming_determinism_and_tasks(workspace: Path) -> None:
    loaded = load_model(str(workspace / "ckpt"))
    data = load_sequence_data(workspace / "data.npz", feature_size=5)
    report = run_check([workspace / "onnx/streaming_fused.onnx"], loaded, data, CheckConfig(providers=("cpu",)))
    (candidate,) = report.candidates
    assert candidate.passed and candidate.providers_used == ["CPUExecutionProvider"]
    assert {c.label.split(" ")[0] for c in candidate.cases} >= {"data", "long", "zeros", "large", "ragged", "batch1"}
    assert any(c.steps == 120 for c in candidate.cases if c.label == "long")  # 10x the longest sequence seen
    assert {s.label for s in candidate.streaming} >= {"chunks of 1 vs one call", "chunks of 32 vs reference"}
    assert candidate.determinism is not None and candidate.determinism.identical
    assert {t.metric for t in candidate.tasks} == {"top1_agreement", "accuracy_delta"}
    profile = candidate.time_profiles[0]
    assert profile.steps[-1] == 120 and len(profile.errors) == 120
    assert report.versions["onnxruntime"] and report.reference_dtype == "float64"
    assert report.baseline is not None and not report.baseline.gated


def test_report_records_the_tolerance_each_comparison_was_judged_against(workspace: Path) -> None:
    loaded = load_model(str(workspace / "ckpt"))
    data = load_sequence_data(workspace / "data.npz", feature_size=5)
    report = run_check([workspace / "onnx/sequence_fused.onnx"], loaded, data, CheckConfig(providers=("cpu",), stress=False))
    for case in report.candidates[0].cases:
        for output in case.outputs:
            assert (output.atol, output.rtol) == (1e-5, 1e-4)
            assert output.max_abs_error <= 1e-5 + 1e-4 * output.max_abs_error / max(output.max_rel_error, 1e-30)


# -- bounded work on long inputs ----------------------------------------------------------------------------------


def test_stress_cases_are_capped_beyond_the_data() -> None:
    from edgelstm.loading import InputSignature
    from edgelstm.parity.cases import build_cases
    from edgelstm.parity.data import SequenceData

    x = np.random.default_rng(0).standard_normal((1, 50, 5)).astype(np.float32)
    cases = {c.name: c for c in build_cases(SequenceData(x, None, None, "t"), InputSignature("features", 5), True, 10, 0, 20, 16)}
    assert cases["long"].steps == 70  # 10x would be 500: at most 20 steps beyond the longest
    assert cases["zeros"].steps == cases["large"].steps == cases["ragged"].steps == 16
    assert cases["data"].steps == cases["batch1"].steps == 50  # the data itself is never cut
    uncapped = {c.name: c for c in build_cases(SequenceData(x, None, None, "t"), InputSignature("features", 5))}
    assert uncapped["long"].steps == 500


def test_reference_provider_and_profile_are_bounded(workspace: Path) -> None:
    loaded = load_model(str(workspace / "ckpt"))
    data = load_sequence_data(workspace / "data.npz", feature_size=5)
    config = CheckConfig(providers=("cpu", "reference"), reference_max_steps=8, profile_step_budget=360)
    report = run_check([workspace / "onnx/sequence_fused.onnx"], loaded, data, config)
    cpu, reference = report.candidates
    assert report.passed
    assert all(c.steps <= 8 for c in reference.cases) and any("first 8 steps" in n for n in reference.notes)
    assert len(cpu.time_profiles[0].steps) == 3  # 360 prefix steps over a 120-step input: 3 prefix lengths
    assert cpu.time_profiles[0].steps[-1] == 120
