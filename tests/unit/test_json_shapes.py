"""Every typed result's JSON, pinned byte for byte as it was written by the hand-written `to_dict` methods before they
were replaced by the one serialiser (issue 18): key order, renamed keys, derived values and the keys written only in
some states. Users' CI compares these reports byte for byte, so a pin that changes is a behaviour change.

Each pin is the `json.dumps(..., indent=2)` text the old method produced for a representative instance (both sides of
every conditional key), generated once from it before the conversion (commit 6b2d771, where they were string
literals in this file) and frozen in tests/support/json_pins/; the results are now written by
`edgelstm.jsonio.to_jsonable`, as edgelstm's report writers write them."""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.interface import GraphInterface, TensorSpec
from edgelstm.artifact.litert_file import LiteRTShape
from edgelstm.artifact.session import SessionSettings
from edgelstm.bench.best import BestSetting
from edgelstm.bench.macs import MacCount, OpCount
from edgelstm.bench.results import BenchReport, SizeResult
from edgelstm.bench.rows import LatencyResult
from edgelstm.bundle.verify import VerifyResult
from edgelstm.comparison import CaseComparison, TensorComparison, Tolerance
from edgelstm.distill.metrics import TaskMetric
from edgelstm.distill.report import ArtifactScore, DistillReport
from edgelstm.export.api import ExportResult
from edgelstm.export.litert import LiteRTArtifact, LiteRTExportResult
from edgelstm.export.rnn_rewrite import RefusedNode, RewriteReport
from edgelstm.export.state_exposure import ChunkParity, ExposedState, StateExposureResult
from edgelstm.export.time_major import TimeMajorRewrite
from edgelstm.export.unrolled_file import UnrolledGraphResult
from edgelstm.export.verify import VerificationResult
from edgelstm.jsonio import to_jsonable
from edgelstm.model_source import ModelOptions, ModelSource
from edgelstm.parity.cases import CaseInfo
from edgelstm.parity.evidence_strength import Evidence
from edgelstm.parity.report import CandidateResult, DeterminismCheck, ParityReport, TaskCheck, TimeProfile
from edgelstm.parity.speech_synth import VoiceSpec
from edgelstm.parity.stream_verdict import StreamCandidate, StreamCheckConfig, StreamCheckReport, StreamRowResult
from edgelstm.pipeline.recipe import Recipe
from edgelstm.quantize.api import QuantizeResult
from edgelstm.quantize.config import DynamicInt8Config, Int4Config, WeightOnlyInt4Config
from edgelstm.quantize.litert import LiteRTQuantizeResult
from edgelstm.quantize.mixed import MixedResult
from edgelstm.quantize.plan import RoundingPlan
from edgelstm.quantize.rounding import RoundedWeight
from edgelstm.quantize.selection_table import Candidate, SelectionResult
from edgelstm.quantize.sensitivity import LayerSensitivity
from edgelstm.quantize.weight_only_report import KeptTensor, QuantizedTensor, WeightOnlyReport
from edgelstm.session_policy import PolicyEntry, SessionPolicy, StreamingPolicy
from edgelstm.state import StateSpec
from edgelstm.user_module import ForwardSignature

REPO = Path(__file__).resolve().parents[2]


def _comparison(passed: bool = True) -> CaseComparison:
    out = TensorComparison("y", [1, 2], 0.5 if not passed else 1e-6, 0.25, passed, "" if passed else "drift")
    return CaseComparison("B=1 T=7", 1, 7, [out], "")


def _evidence() -> Evidence:
    return Evidence(40, "sequence", 0.975, 0.95, 0.87, 0.99, "wilson", True, 0.05, 0.025, "inconclusive", False, 200, "few")


def _candidate(status: str = "run", passed: bool = True) -> CandidateResult:
    return CandidateResult(
        "m.onnx",
        "cpu",
        "fp32",
        ["CPUExecutionProvider"],
        status,
        "ab" * 32,
        "" if status == "run" else "no such provider",
        True,
        [_comparison(passed)],
        [TaskCheck("B=4", "top1_agreement", 0.975, 0.95, True, "39/40", 0.9, 0.92, _evidence())],
        [_comparison()],
        [TimeProfile("B=1", "y", [1, 1000], [1e-7, 1e-6], 0.001, 1e-7, 1e-6)],
        DeterminismCheck(True, 0.0, True) if status == "run" else None,
        ["a note"],
        1.25,
    )


def _parity(baseline: bool) -> ParityReport:
    # the candidate's own JSON is pinned whole above; here plain ones, passing (baseline) or failing (none)
    ran = CandidateResult("m.onnx", "cpu", "fp32", seconds=0.5)
    failed = CandidateResult("m.onnx", "cpu", "int8", status="error", reason="crash")
    skipped = CandidateResult("m.onnx", "cuda", "fp32", status="skipped", reason="no CUDA")
    return ParityReport(
        "runs/m",
        "float64",
        "heldout.npz",
        "defaults",
        [CaseInfo("B=1 T=7", 1, 7, False, "one short row")],
        [ran, skipped] if baseline else [ran, failed, skipped],
        CandidateResult("torch", "cpu", "fp32", gated=False) if baseline else None,
        {"onnxruntime": "1.22"},
        {"threads": 1},
        {"weights.pt": "cd" * 32},
        "ef" * 32 if baseline else "",
        ["cpu", "cuda"],
    )


def _stream_report() -> StreamCheckReport:
    row = StreamRowResult("row 0", 10, 1, 0.2, {"onset": 1}, ["row 0: 1 flip"], _evidence())
    candidate = StreamCandidate(
        "cpu",
        ["CPUExecutionProvider"],
        "ran",
        "",
        10,
        1,
        0.2,
        [TimeProfile("row 0", "p", [1, 2], [0.1, 0.2], 0.5, 0.1, 0.2)],
        [row],
        ["1 flip"],
        _evidence(),
    )
    return StreamCheckReport(
        "s.onnx",
        "ab" * 32,
        "ref.onnx",
        "cd" * 32,
        "speech",
        "ef" * 32,
        512,
        8,
        2,
        "p",
        StreamCheckConfig(chunk=512, providers=("cpu", "cuda")),
        {"sr": 16000},
        ["h -> hn"],
        64,
        "onnxruntime cpu",
        [{"voice": "a"}],
        False,
        [candidate, StreamCandidate("cuda", status="skipped", reason="no CUDA")],
    )


def _interface() -> GraphInterface:
    return GraphInterface(
        form="sequence",
        impl="fused",
        inputs=[TensorSpec("input", "float32", ["batch", "time", 6])],
        outputs=[TensorSpec("output", "float32", ["batch", 7], "logits")],
        states=[StateSpec("h", "h_in", "h_out", [1, "batch", 8], ["layer0"], 0.0, "float32", "hidden")],
    )


def _verification() -> VerificationResult:
    return VerificationResult([_comparison()], Tolerance(1e-4, 1e-3), SessionSettings())


def _quantize_result(path: Path | None = Path("out/m.int8.onnx")) -> QuantizeResult:
    return QuantizeResult(
        "dynamic-int8",
        {"scheme": "dynamic-int8", "per_channel": True},
        "m.onnx",
        4000,
        path,
        1000 if path else 0,
        3600,
        900 if path else 0,
        "MatMulInteger",
        ["a note"],
        "" if path else "no int8 kernel",
        {"passed": True} if path else None,
        True if path else None,
        path is None,
        {"calibration": "first half"} if path else None,
        "Loop" if path else "",
    )


def _score(role: str, scheme: str, latency: float, gate: bool | None) -> ArtifactScore:
    metric = TaskMetric("accuracy", 0.9 if role == "teacher" else 0.89, True)
    return ArtifactScore(
        role,
        1000,
        4000,
        1.0 if role == "teacher" else 5.0,
        metric,
        0.0 if role == "teacher" else 1.0,
        latency,
        latency * 1.2,
        scheme,
        gate,
        [] if gate is not False else ["drift"],
        "" if gate is None else "pass",
    )


def _candidate_row(scheme: str, **kw: Any) -> Candidate:
    return Candidate(scheme, **kw)


def _selection(winner: bool) -> SelectionResult:
    ref = Candidate(
        "fp32",
        _quantize_result(Path("out/fp32.onnx")),
        passed=True,
        latency_ms=1.0,
        role="reference",
        summary={"passed": True},
        speed_ratio=1.0,
        size_ratio=1.0,
    )
    won = Candidate(
        "dynamic-int8",
        _quantize_result(),
        passed=True,
        latency_ms=1.1,
        summary={"passed": True},
        on_front=True,
        speed_ratio=1.1,
        size_ratio=4.0,
        plain_latency_ms=1.2,
        plain_1thread_latency_ms=1.3,
        plain_speed_ratio=1.3,
        details={"k": 1},
    )
    lost = Candidate("int4", _quantize_result(None), refused="no MatMul", lost="refused")
    if not winner:
        return SelectionResult([lost], None, "size-at-any-cost")
    return SelectionResult([ref, won, lost], won)


def _layer() -> LayerSensitivity:
    return LayerSensitivity(
        "layer0", ["W", "R"], 4096, {"int8": {"agreement": 0.99}}, {"int8": 0.01}, "int8", "cast", {"cast": 0.01}
    )


def _recipe(options: bool) -> Recipe:
    kw: dict[str, Any] = {}
    if options:
        kw["model_options"] = ModelOptions(input_size=6, constants={"sr": 16000}, chunk=512)
    return Recipe(
        "runs/m",
        Path("/data/heldout.npz"),
        Path("/runs/out"),
        Path("/runs/w.pt"),
        ("sequence", "streaming"),
        distill={"epochs": 2} if options else None,
        raw={"model": {"source": "runs/m"}},
        **kw,
    )


CASES: dict[str, Callable[[], Any]] = {
    "policy_entry": lambda: PolicyEntry(8, 2, True, {"100": 1.0}, 1, "parallel"),
    "streaming_policy": lambda: StreamingPolicy(),
    "session_policy_measured": lambda: SessionPolicy(
        "measured",
        (PolicyEntry(1, 1, False, {"100": 0.1}), PolicyEntry(32, 2, True)),
        "",
        "a.onnx",
        "bench.json",
        {"cpu_count": "2"},
    ),
    "session_policy_measured_reason_and_no_source": lambda: SessionPolicy("measured", (PolicyEntry(1, 1, False),), "left over"),
    "session_policy_not_measured": lambda: SessionPolicy("not measured", (), "no bench", "a.onnx", "stray.json", {"x": "y"}),
    "bundle_verify": lambda: VerifyResult(
        2, "m.ort", ["y"], {"m.ort": "ab" * 32, "m.onnx": "cd" * 32}, "ab" * 32, "pass", "m.onnx", "cd" * 32, "1 thread"
    ),
    "recipe_plain": lambda: _recipe(False),
    "recipe_with_model_options": lambda: _recipe(True),
    "parity_candidate": lambda: _candidate(),
    "parity_report": lambda: _parity(True),
    "parity_report_no_baseline": lambda: _parity(False),
    "voice": lambda: VoiceSpec("alto", 165.123456, 260.0, 1.1666666, 4.25, 0.1234567, -23.0),
    "stream_report": _stream_report,
    "forward_plain": lambda: ForwardSignature(),
    "forward_states": lambda: ForwardSignature(
        "bct", "lengths", {"sr": 16000}, ("state", "h"), ((2, 4, 8), (1, 4)), (1, 1), True
    ),
    "distill_report": lambda: DistillReport(
        "classify",
        "heldout.npz",
        40,
        100,
        {"intra_op_threads": 1, "allow_spinning": False},
        5,
        [
            _score("teacher", "fp32", 1.0, None),
            _score("student", "dynamic-int8", 0.5, True),
            _score("student", "int4", 2.0, False),
        ],
        ["student (fp16): no float16 kernel"],
    ),
    "model_source_plain": lambda: ModelSource("runs/m"),
    "model_source_full": lambda: ModelSource(
        "pkg.mod:build",
        Path("w.pt"),
        6,
        True,
        True,
        {"sr": 16000},
        (("state", "stateN"),),
        512,
        64,
        (("input", ("time", "features")),),
    ),
    "litert_shape_chunk": lambda: LiteRTShape(1, chunk=16),
    "litert_shape_steps": lambda: LiteRTShape(2, steps=100),
    "mac_count": lambda: MacCount(
        1, 10, 5000, 400, 800, (OpCount("MatMul", "main", 5000, 400, 8, 32), OpCount("Gemm", "loop", 10, 4, 2, 2)), ("a",)
    ),
    "mac_count_no_ops": lambda: MacCount(1, 10, 0, 0, 0, ()),
    "bench_report": lambda: BenchReport(
        {"threads": [1]},
        {"onnxruntime": "1.22"},
        [
            LatencyResult("m.onnx", "artifact", "cpu", 1, 50, 1, "run", 4.0, 5.0, 6.0, 4.5, 30, False),
            LatencyResult("m.onnx", "artifact", "cpu", 1, 50, 2, "run", 3.0, 5.0, 6.0, 3.5, 30, True),
            LatencyResult("m.onnx", "artifact", "cpu", 1, 50, 0, "plain", 3.5, 5.0, 6.0, 3.6, 30),
        ],
        sizes=[SizeResult("m.onnx", 4000, 3000, 1000, 1.0)],
    ),
    "best_setting": lambda: BestSetting("m.onnx", "artifact", 1, 2, True, {50: 3.0, 100: 6.5}),
    "verification": _verification,
    "export_result": lambda: ExportResult(
        Path("out/m.onnx"), _interface(), ExportConfig(), "runs/m", _verification(), ["onnx.checker"], "ab" * 32, 1234, True
    ),
    "unrolled": lambda: UnrolledGraphResult(
        "s.onnx",
        "ab" * 32,
        16,
        RewriteReport(["GRU g (forward)"], [RefusedNode("l", "LSTM", "peepholes")]),
        1e-6,
        "out/s.unrolled.onnx",
        "cd" * 32,
    ),
    "litert_artifact": lambda: LiteRTArtifact(
        Path("out/m_b1_k16.tflite"), LiteRTShape(1, chunk=16), _verification(), "ab" * 32, 999, True
    ),
    "litert_export": lambda: LiteRTExportResult(
        _interface(),
        [LiteRTArtifact(Path("out/m_b2_t100.tflite"), LiteRTShape(2, steps=100), _verification())],
        {"ai-edge-torch": "0.5"},
    ),
    "state_exposure_written": lambda: StateExposureResult(
        "v.onnx",
        "ab" * 32,
        [ExposedState("n", "LSTM", "h_in", "h_out", [1, "batch", 64])],
        [ChunkParity(512, 1e-7, 1.0), ChunkParity(256, 1e-1, 1.0, "")],
        Path("out/v.stream.onnx"),
        "cd" * 32,
        TimeMajorRewrite(True, "input", ("y",), ("t0",)),
        ChunkParity(512, 1e-7, 1.0),
    ),
    "state_exposure_refused": lambda: StateExposureResult(
        "v.onnx", "ab" * 32, [], [ChunkParity(512, float("nan"), 1.0, "failed")]
    ),
    "scheme_config_dynamic": lambda: DynamicInt8Config(per_channel=True, exclude=("head",)),
    "scheme_config_int4": lambda: Int4Config(),
    "scheme_config_weight_only": lambda: WeightOnlyInt4Config(),
    "weight_only_report": lambda: WeightOnlyReport(
        "int8",
        17,
        21,
        "dequantize",
        [QuantizedTensor("W", "MatMul", (8, 32), "int8", 1, 0, 1024, 288, 0.01, ("mm",))],
        [KeptTensor("b", (32,), "bias")],
    ),
    "quantize_result": lambda: _quantize_result(),
    "quantize_result_refused": lambda: _quantize_result(None),
    "rounding_plan": lambda: RoundingPlan(
        {"W": RoundedWeight(np.zeros((2, 2), np.int8), np.ones(2, np.float32), 1, 0, "int8", "gptq", 0.5)},
        {"b": np.zeros(2, np.float32)},
        {"b": "W"},
        {"R": "no input statistics"},
        [],
        "heldout.npz",
    ),
    "mixed": lambda: MixedResult([_layer()], _quantize_result(), [{"mix": {"layer0": "int8"}, "passed": True}], "8 rows", 0),
    "litert_quantize": lambda: LiteRTQuantizeResult(
        "dynamic-int8",
        Path("m.tflite"),
        Path("m.int8.tflite"),
        "ab" * 32,
        100,
        400,
        {"passed": True},
        True,
        True,
        [{"scheme": "dynamic-int8", "bytes": 100}],
    ),
    "litert_quantize_unchecked": lambda: LiteRTQuantizeResult(
        "weight-only-int8", Path("m.tflite"), Path("m.w8.tflite"), "ab" * 32, 100, 400
    ),
    "candidate_row": lambda: _selection(True).candidates[1],
    "candidate_untimed": lambda: Candidate("int4", _quantize_result(None), refused="no MatMul", latency_ms=None, speed_ratio=1.5),
    "candidate_never_built": lambda: Candidate("int4", refused="no MatMul", lost="refused"),
    "selection": lambda: _selection(True),
    "selection_no_winner": lambda: _selection(False),
}


# The JSON each result's hand-written to_dict wrote before the conversion (generated from it once, then frozen):
# one file per case, the `json.dumps(..., indent=2)` text and a final newline.
PINS = REPO / "tests" / "support" / "json_pins"


@pytest.mark.parametrize("name", list(CASES))
def test_the_json_of_each_result_is_unchanged(name: str) -> None:
    pinned = (PINS / f"{name}.json").read_text(encoding="utf-8")
    assert json.dumps(to_jsonable(CASES[name]()), indent=2) + "\n" == pinned


def test_every_case_has_its_pin() -> None:
    assert sorted(CASES) == sorted(path.stem for path in PINS.glob("*.json"))


def test_a_recipe_with_context_and_axes_has_a_fingerprint() -> None:
    # the hand-written to_dict raised KeyError here: the defaults' JSON has neither key
    options = ModelOptions(chunk=512, context=64, axes=(("input", ("time", "features")),))
    recipe = Recipe("runs/m", Path("/data/heldout.npz"), Path("/runs/out"), model_options=options)
    assert to_jsonable(recipe)["model_options"] == {"chunk": 512, "context": 64, "axes": {"input": ["time", "features"]}}


def classes_with_to_dict(source: str) -> set[str]:
    """The classes in `source` that define their own `to_dict`."""
    return {
        node.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ClassDef)
        and any(isinstance(item, ast.FunctionDef) and item.name == "to_dict" for item in node.body)
    }


def test_no_class_hand_writes_its_json() -> None:
    # a new result goes through the one serialiser (`from_dict` readers stay: reading is not serialising)
    found = {
        str(path.relative_to(REPO)): names
        for folder in ("edgelstm", "export", "quantize")
        for path in sorted((REPO / folder).rglob("*.py"))
        if (names := classes_with_to_dict(path.read_text(encoding="utf-8")))
    }
    assert found == {}, f"write these with json_meta / JSON_EXTRAS / JSON_ORDER (edgelstm.jsonio) instead: {found}"


def test_the_scan_sees_a_to_dict_only_where_a_class_defines_it() -> None:
    source = "class A:\n    def to_dict(self):\n        return {}\nclass B(A):\n    pass\ndef to_dict():\n    pass\n"
    assert classes_with_to_dict(source) == {"A"}
