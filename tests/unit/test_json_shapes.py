"""Every typed result's JSON, pinned byte for byte as it was written by the hand-written `to_dict` methods before they
were replaced by the one serialiser (issue 18): key order, renamed keys, derived values and the keys written only in
some states. Users' CI compares these reports byte for byte, so a pin that changes is a behaviour change.

Each pin is the `json.dumps(..., indent=2)` text the old method produced for a representative instance (both sides of
every conditional key), generated once from it before the conversion (commit 293364f) and frozen; the results are now
written by `edgelstm.jsonio.to_jsonable`, as edgelstm's report writers write them."""

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


@pytest.mark.parametrize("name", list(CASES))
def test_the_json_of_each_result_is_unchanged(name: str) -> None:
    assert json.dumps(to_jsonable(CASES[name]()), indent=2) == PINS[name]


def test_every_case_has_its_pin() -> None:
    assert list(CASES) == list(PINS)


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


# The JSON each result's hand-written to_dict wrote before the conversion (generated from it once, then frozen).
PINS: dict[str, str] = {}
PINS["policy_entry"] = """{
  "from_batch": 8,
  "intra_op_threads": 2,
  "inter_op_threads": 1,
  "execution_mode": "parallel",
  "allow_spinning": true,
  "p50_ms": {
    "100": 1.0
  }
}"""
PINS["streaming_policy"] = """{
  "intra_op_threads": 1,
  "allow_spinning": false,
  "memory_pattern": true,
  "cpu_arena": false,
  "io_binding": true,
  "measured_by": "scripts/bench_slim_step.py (session settings table): threads 1 and 2 x spinning x memory pattern x CPU arena, 2x128 LSTM and GRU streaming graphs at one step per call through StreamingSession, thread CPU time",
  "summary": "1 thread, no spinning, memory pattern on, CPU arena off, states bound (IO binding)"
}"""
PINS["session_policy_measured"] = """{
  "status": "measured",
  "summary": "batch < 32: 1 thread, no spinning; batch >= 32: 2 threads, spinning",
  "by_batch": [
    {
      "from_batch": 1,
      "intra_op_threads": 1,
      "inter_op_threads": 1,
      "execution_mode": "sequential",
      "allow_spinning": false,
      "p50_ms": {
        "100": 0.1
      }
    },
    {
      "from_batch": 32,
      "intra_op_threads": 2,
      "inter_op_threads": 1,
      "execution_mode": "sequential",
      "allow_spinning": true,
      "p50_ms": {}
    }
  ],
  "rule": "a session for batch B uses the entry with the largest from_batch <= B; smaller batches use the first entry",
  "defaults": {
    "intra_op_threads": 1,
    "allow_spinning": false
  },
  "artifact": "a.onnx",
  "streaming": {
    "intra_op_threads": 1,
    "allow_spinning": false,
    "memory_pattern": true,
    "cpu_arena": false,
    "io_binding": true,
    "measured_by": "scripts/bench_slim_step.py (session settings table): threads 1 and 2 x spinning x memory pattern x CPU arena, 2x128 LSTM and GRU streaming graphs at one step per call through StreamingSession, thread CPU time",
    "summary": "1 thread, no spinning, memory pattern on, CPU arena off, states bound (IO binding)"
  },
  "source": "bench.json",
  "measured_on": {
    "cpu_count": "2"
  }
}"""
PINS["session_policy_measured_reason_and_no_source"] = """{
  "status": "measured",
  "summary": "every batch: 1 thread, no spinning",
  "by_batch": [
    {
      "from_batch": 1,
      "intra_op_threads": 1,
      "inter_op_threads": 1,
      "execution_mode": "sequential",
      "allow_spinning": false,
      "p50_ms": {}
    }
  ],
  "rule": "a session for batch B uses the entry with the largest from_batch <= B; smaller batches use the first entry",
  "defaults": {
    "intra_op_threads": 1,
    "allow_spinning": false
  },
  "artifact": "",
  "streaming": {
    "intra_op_threads": 1,
    "allow_spinning": false,
    "memory_pattern": true,
    "cpu_arena": false,
    "io_binding": true,
    "measured_by": "scripts/bench_slim_step.py (session settings table): threads 1 and 2 x spinning x memory pattern x CPU arena, 2x128 LSTM and GRU streaming graphs at one step per call through StreamingSession, thread CPU time",
    "summary": "1 thread, no spinning, memory pattern on, CPU arena off, states bound (IO binding)"
  },
  "source": "",
  "measured_on": {}
}"""
PINS["session_policy_not_measured"] = """{
  "status": "not measured",
  "summary": "not measured (no bench): 1 thread, no spinning (defaults)",
  "by_batch": [],
  "rule": "a session for batch B uses the entry with the largest from_batch <= B; smaller batches use the first entry",
  "defaults": {
    "intra_op_threads": 1,
    "allow_spinning": false
  },
  "artifact": "a.onnx",
  "streaming": {
    "intra_op_threads": 1,
    "allow_spinning": false,
    "memory_pattern": true,
    "cpu_arena": false,
    "io_binding": true,
    "measured_by": "scripts/bench_slim_step.py (session settings table): threads 1 and 2 x spinning x memory pattern x CPU arena, 2x128 LSTM and GRU streaming graphs at one step per call through StreamingSession, thread CPU time",
    "summary": "1 thread, no spinning, memory pattern on, CPU arena off, states bound (IO binding)"
  },
  "reason": "no bench"
}"""
PINS["bundle_verify"] = """{
  "ok": true,
  "files_checked": 2,
  "files": {
    "m.ort": "abababababababababababababababababababababababababababababababab",
    "m.onnx": "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
  },
  "ran": "m.ort",
  "ran_sha256": "abababababababababababababababababababababababababababababababab",
  "outputs": [
    "y"
  ],
  "parity": "pass",
  "parity_artifact": "m.onnx",
  "parity_sha256": "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
  "session_policy": "1 thread"
}"""
PINS["recipe_plain"] = """{
  "source": "runs/m",
  "heldout": "/data/heldout.npz",
  "out_dir": "/runs/out",
  "weights": "/runs/w.pt",
  "forms": [
    "sequence",
    "streaming"
  ],
  "impl": "auto",
  "target": "onnx",
  "chunks": [
    1
  ],
  "schemes": [
    "auto"
  ],
  "providers": [
    "cpu",
    "mobile"
  ],
  "allow_missing": [],
  "tolerances": null,
  "batches": [
    1,
    32
  ],
  "steps": [
    100
  ],
  "threads": [
    1
  ],
  "spinning": [
    false
  ],
  "bundle_artifact": "best",
  "bundle_form": "sequence",
  "bundle_zip": true,
  "distill": null,
  "model_options": {}
}"""
PINS["recipe_with_model_options"] = """{
  "source": "runs/m",
  "heldout": "/data/heldout.npz",
  "out_dir": "/runs/out",
  "weights": "/runs/w.pt",
  "forms": [
    "sequence",
    "streaming"
  ],
  "impl": "auto",
  "target": "onnx",
  "chunks": [
    1
  ],
  "schemes": [
    "auto"
  ],
  "providers": [
    "cpu",
    "mobile"
  ],
  "allow_missing": [],
  "tolerances": null,
  "batches": [
    1,
    32
  ],
  "steps": [
    100
  ],
  "threads": [
    1
  ],
  "spinning": [
    false
  ],
  "bundle_artifact": "best",
  "bundle_form": "sequence",
  "bundle_zip": true,
  "distill": {
    "epochs": 2
  },
  "model_options": {
    "input_size": 6,
    "constants": {
      "sr": 16000
    },
    "chunk": 512
  }
}"""
PINS["parity_candidate"] = """{
  "artifact": "m.onnx",
  "artifact_sha256": "abababababababababababababababababababababababababababababababab",
  "provider": "cpu",
  "precision": "fp32",
  "providers_used": [
    "CPUExecutionProvider"
  ],
  "status": "run",
  "verdict": "pass",
  "passed": true,
  "reason": "",
  "gated": true,
  "cases": [
    {
      "label": "B=1 T=7",
      "batch": 1,
      "steps": 7,
      "outputs": [
        {
          "name": "y",
          "shape": [
            1,
            2
          ],
          "max_abs_error": 1e-06,
          "max_rel_error": 0.25,
          "passed": true,
          "problem": "",
          "mean_abs_error": 0.0,
          "cosine_similarity": 1.0,
          "snr_db": Infinity,
          "atol": 0.0,
          "rtol": 0.0,
          "min_snr_db": -Infinity,
          "max_noise_floor": 0.0
        }
      ],
      "error": "",
      "passed": true
    }
  ],
  "tasks": [
    {
      "case": "B=4",
      "metric": "top1_agreement",
      "value": 0.975,
      "limit": 0.95,
      "passed": true,
      "detail": "39/40",
      "candidate_value": 0.9,
      "reference_value": 0.92,
      "evidence": {
        "n": 40,
        "unit": "sequence",
        "value": 0.975,
        "limit": 0.95,
        "low": 0.87,
        "high": 0.99,
        "method": "wilson",
        "higher_is_better": true,
        "budget": 0.05,
        "step": 0.025,
        "verdict": "inconclusive",
        "resolved": false,
        "needed_n": 200,
        "reason": "few",
        "confidence": 0.95
      },
      "verdict": "inconclusive"
    }
  ],
  "streaming": [
    {
      "label": "B=1 T=7",
      "batch": 1,
      "steps": 7,
      "outputs": [
        {
          "name": "y",
          "shape": [
            1,
            2
          ],
          "max_abs_error": 1e-06,
          "max_rel_error": 0.25,
          "passed": true,
          "problem": "",
          "mean_abs_error": 0.0,
          "cosine_similarity": 1.0,
          "snr_db": Infinity,
          "atol": 0.0,
          "rtol": 0.0,
          "min_snr_db": -Infinity,
          "max_noise_floor": 0.0
        }
      ],
      "error": "",
      "passed": true
    }
  ],
  "time_profiles": [
    {
      "case": "B=1",
      "output": "y",
      "steps": [
        1,
        1000
      ],
      "errors": [
        1e-07,
        1e-06
      ],
      "slope_per_1k_steps": 0.001,
      "first_error": 1e-07,
      "last_error": 1e-06,
      "grows": true
    }
  ],
  "determinism": {
    "identical": true,
    "max_spread": 0.0,
    "required": true,
    "passed": true
  },
  "notes": [
    "a note"
  ],
  "seconds": 1.25
}"""
PINS["parity_report"] = """{
  "passed": true,
  "verdict": "pass",
  "reference": "runs/m",
  "reference_dtype": "float64",
  "reference_files": {
    "weights.pt": "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
  },
  "data_source": "heldout.npz",
  "data_sha256": "efefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefef",
  "providers": [
    "cpu",
    "cuda"
  ],
  "checks_run": 1,
  "checks_skipped": 1,
  "tolerance_source": "defaults",
  "cases": [
    {
      "name": "B=1 T=7",
      "batch": 1,
      "steps": 7,
      "ragged": false,
      "description": "one short row"
    }
  ],
  "candidates": [
    {
      "artifact": "m.onnx",
      "artifact_sha256": "",
      "provider": "cpu",
      "precision": "fp32",
      "providers_used": [],
      "status": "run",
      "verdict": "pass",
      "passed": true,
      "reason": "",
      "gated": true,
      "cases": [],
      "tasks": [],
      "streaming": [],
      "time_profiles": [],
      "determinism": null,
      "notes": [],
      "seconds": 0.5
    },
    {
      "artifact": "m.onnx",
      "artifact_sha256": "",
      "provider": "cuda",
      "precision": "fp32",
      "providers_used": [],
      "status": "skipped",
      "verdict": "skipped",
      "passed": true,
      "reason": "no CUDA",
      "gated": true,
      "cases": [],
      "tasks": [],
      "streaming": [],
      "time_profiles": [],
      "determinism": null,
      "notes": [],
      "seconds": 0.0
    }
  ],
  "baseline": {
    "artifact": "torch",
    "artifact_sha256": "",
    "provider": "cpu",
    "precision": "fp32",
    "providers_used": [],
    "status": "run",
    "verdict": "pass",
    "passed": true,
    "reason": "",
    "gated": false,
    "cases": [],
    "tasks": [],
    "streaming": [],
    "time_profiles": [],
    "determinism": null,
    "notes": [],
    "seconds": 0.0
  },
  "versions": {
    "onnxruntime": "1.22"
  },
  "settings": {
    "threads": 1
  }
}"""
PINS["parity_report_no_baseline"] = """{
  "passed": false,
  "verdict": "FAIL",
  "reference": "runs/m",
  "reference_dtype": "float64",
  "reference_files": {
    "weights.pt": "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
  },
  "data_source": "heldout.npz",
  "data_sha256": "",
  "providers": [
    "cpu",
    "cuda"
  ],
  "checks_run": 2,
  "checks_skipped": 1,
  "tolerance_source": "defaults",
  "cases": [
    {
      "name": "B=1 T=7",
      "batch": 1,
      "steps": 7,
      "ragged": false,
      "description": "one short row"
    }
  ],
  "candidates": [
    {
      "artifact": "m.onnx",
      "artifact_sha256": "",
      "provider": "cpu",
      "precision": "fp32",
      "providers_used": [],
      "status": "run",
      "verdict": "pass",
      "passed": true,
      "reason": "",
      "gated": true,
      "cases": [],
      "tasks": [],
      "streaming": [],
      "time_profiles": [],
      "determinism": null,
      "notes": [],
      "seconds": 0.5
    },
    {
      "artifact": "m.onnx",
      "artifact_sha256": "",
      "provider": "cpu",
      "precision": "int8",
      "providers_used": [],
      "status": "error",
      "verdict": "error",
      "passed": false,
      "reason": "crash",
      "gated": true,
      "cases": [],
      "tasks": [],
      "streaming": [],
      "time_profiles": [],
      "determinism": null,
      "notes": [],
      "seconds": 0.0
    },
    {
      "artifact": "m.onnx",
      "artifact_sha256": "",
      "provider": "cuda",
      "precision": "fp32",
      "providers_used": [],
      "status": "skipped",
      "verdict": "skipped",
      "passed": true,
      "reason": "no CUDA",
      "gated": true,
      "cases": [],
      "tasks": [],
      "streaming": [],
      "time_profiles": [],
      "determinism": null,
      "notes": [],
      "seconds": 0.0
    }
  ],
  "baseline": null,
  "versions": {
    "onnxruntime": "1.22"
  },
  "settings": {
    "threads": 1
  }
}"""
PINS["voice"] = """{
  "name": "alto",
  "f0_low": 165.123,
  "f0_high": 260.0,
  "tract_scale": 1.167,
  "syllables_per_s": 4.25,
  "breathiness": 0.123,
  "level_db": -23.0
}"""
PINS["stream_report"] = """{
  "artifact": "s.onnx",
  "artifact_sha256": "abababababababababababababababababababababababababababababababab",
  "reference": "ref.onnx",
  "reference_sha256": "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
  "data_source": "speech",
  "data_sha256": "efefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefef",
  "chunk": 512,
  "chunks": 8,
  "rows": 2,
  "output": "p",
  "constants": {
    "sr": 16000
  },
  "states": [
    "h -> hn"
  ],
  "context": 64,
  "reference_runtime": "onnxruntime cpu",
  "data_rows": [
    {
      "voice": "a"
    }
  ],
  "batched": false,
  "config": {
    "chunk": 512,
    "threshold": 0.5,
    "max_flip_fraction": 0.01,
    "max_abs_delta": 0.1,
    "output": null,
    "providers": [
      "cpu",
      "cuda"
    ],
    "profile_points": 10,
    "threads": 1,
    "strict_evidence": false
  },
  "candidates": [
    {
      "artifact": "s.onnx",
      "artifact_sha256": "abababababababababababababababababababababababababababababababab",
      "provider": "cpu",
      "providers_used": [
        "CPUExecutionProvider"
      ],
      "status": "ran",
      "reason": "",
      "decisions": 10,
      "flips": 1,
      "max_abs_delta": 0.2,
      "profiles": [
        {
          "case": "row 0",
          "output": "p",
          "steps": [
            1,
            2
          ],
          "errors": [
            0.1,
            0.2
          ],
          "slope_per_1k_steps": 0.5,
          "first_error": 0.1,
          "last_error": 0.2,
          "grows": false
        }
      ],
      "rows": [
        {
          "name": "row 0",
          "decisions": 10,
          "flips": 1,
          "max_abs_delta": 0.2,
          "flips_by_kind": {
            "onset": 1
          },
          "failures": [
            "row 0: 1 flip"
          ],
          "flip_evidence": {
            "n": 40,
            "unit": "sequence",
            "value": 0.975,
            "limit": 0.95,
            "low": 0.87,
            "high": 0.99,
            "method": "wilson",
            "higher_is_better": true,
            "budget": 0.05,
            "step": 0.025,
            "verdict": "inconclusive",
            "resolved": false,
            "needed_n": 200,
            "reason": "few",
            "confidence": 0.95
          },
          "passed": false,
          "verdict": "FAIL"
        }
      ],
      "failures": [
        "1 flip"
      ],
      "flip_evidence": {
        "n": 40,
        "unit": "sequence",
        "value": 0.975,
        "limit": 0.95,
        "low": 0.87,
        "high": 0.99,
        "method": "wilson",
        "higher_is_better": true,
        "budget": 0.05,
        "step": 0.025,
        "verdict": "inconclusive",
        "resolved": false,
        "needed_n": 200,
        "reason": "few",
        "confidence": 0.95
      },
      "passed": false,
      "verdict": "FAIL"
    },
    {
      "artifact": "s.onnx",
      "artifact_sha256": "abababababababababababababababababababababababababababababababab",
      "provider": "cuda",
      "providers_used": [],
      "status": "skipped",
      "reason": "no CUDA",
      "decisions": 0,
      "flips": 0,
      "max_abs_delta": 0.0,
      "profiles": [],
      "rows": [],
      "failures": [],
      "flip_evidence": null,
      "passed": true,
      "verdict": "skipped"
    }
  ],
  "reference_dtype": "float32",
  "kind": "streaming-check",
  "passed": false,
  "verdict": "FAIL"
}"""
PINS["forward_plain"] = """{
  "layout": "btc",
  "lengths": null,
  "constants": {},
  "states": [],
  "states_required": false
}"""
PINS["forward_states"] = """{
  "layout": "bct",
  "lengths": "lengths",
  "constants": {
    "sr": 16000
  },
  "states": [
    {
      "name": "state",
      "shape": [
        2,
        "batch",
        8
      ],
      "batch_axis": 1
    },
    {
      "name": "h",
      "shape": [
        1,
        "batch"
      ],
      "batch_axis": 1
    }
  ],
  "states_required": true
}"""
PINS["distill_report"] = """{
  "task": "classify",
  "data": "heldout.npz",
  "sequences": 40,
  "steps": 100,
  "settings": {
    "intra_op_threads": 1,
    "allow_spinning": false
  },
  "rounds": 5,
  "rows": [
    {
      "role": "teacher",
      "parameters": 1000,
      "file_bytes": 4000,
      "compression": 1.0,
      "metric": {
        "name": "accuracy",
        "value": 0.9,
        "higher_is_better": true
      },
      "metric_drop": 0.0,
      "latency_ms": 1.0,
      "latency_p90_ms": 1.2,
      "scheme": "fp32",
      "gate_passed": null,
      "gate_failures": [],
      "gate_verdict": "",
      "size_target_met": false,
      "metric_target_met": true,
      "speed_target_met": true,
      "target_met": false
    },
    {
      "role": "student",
      "parameters": 1000,
      "file_bytes": 4000,
      "compression": 5.0,
      "metric": {
        "name": "accuracy",
        "value": 0.89,
        "higher_is_better": true
      },
      "metric_drop": 1.0,
      "latency_ms": 0.5,
      "latency_p90_ms": 0.6,
      "scheme": "dynamic-int8",
      "gate_passed": true,
      "gate_failures": [],
      "gate_verdict": "pass",
      "size_target_met": false,
      "metric_target_met": true,
      "speed_target_met": true,
      "target_met": false
    },
    {
      "role": "student",
      "parameters": 1000,
      "file_bytes": 4000,
      "compression": 5.0,
      "metric": {
        "name": "accuracy",
        "value": 0.89,
        "higher_is_better": true
      },
      "metric_drop": 1.0,
      "latency_ms": 2.0,
      "latency_p90_ms": 2.4,
      "scheme": "int4",
      "gate_passed": false,
      "gate_failures": [
        "drift"
      ],
      "gate_verdict": "pass",
      "size_target_met": false,
      "metric_target_met": true,
      "speed_target_met": false,
      "target_met": false
    }
  ],
  "refused": [
    "student (fp16): no float16 kernel"
  ]
}"""
PINS["model_source_plain"] = """{
  "spec": "runs/m",
  "weights": null,
  "input_size": null,
  "allow_pickle": false,
  "allow_torchscript": false,
  "constants": {},
  "states": [],
  "chunk": null
}"""
PINS["model_source_full"] = """{
  "spec": "pkg.mod:build",
  "weights": "w.pt",
  "input_size": 6,
  "allow_pickle": true,
  "allow_torchscript": true,
  "constants": {
    "sr": 16000
  },
  "states": [
    [
      "state",
      "stateN"
    ]
  ],
  "chunk": 512,
  "context": 64,
  "axes": {
    "input": [
      "time",
      "features"
    ]
  }
}"""
PINS["litert_shape_chunk"] = """{
  "batch": 1,
  "chunk": 16
}"""
PINS["litert_shape_steps"] = """{
  "batch": 2,
  "steps": 100
}"""
PINS["mac_count"] = """{
  "batch": 1,
  "steps": 10,
  "macs": 5000,
  "weight_bytes_read": 400,
  "stored_weight_bytes": 800,
  "largest_matmul": [
    8,
    32
  ],
  "assumptions": [
    "a"
  ]
}"""
PINS["mac_count_no_ops"] = """{
  "batch": 1,
  "steps": 10,
  "macs": 0,
  "weight_bytes_read": 0,
  "stored_weight_bytes": 0,
  "largest_matmul": null,
  "assumptions": []
}"""
PINS["bench_report"] = """{
  "settings": {
    "threads": [
      1
    ]
  },
  "versions": {
    "onnxruntime": "1.22"
  },
  "latencies": [
    {
      "name": "m.onnx",
      "kind": "artifact",
      "provider": "cpu",
      "batch": 1,
      "steps": 50,
      "threads": 1,
      "mode": "run",
      "p50_ms": 4.0,
      "p90_ms": 5.0,
      "p99_ms": 6.0,
      "mean_ms": 4.5,
      "samples": 30,
      "allow_spinning": false,
      "execution_mode": "sequential",
      "sequences_per_s": 250.0,
      "steps_per_s": 12500.0
    },
    {
      "name": "m.onnx",
      "kind": "artifact",
      "provider": "cpu",
      "batch": 1,
      "steps": 50,
      "threads": 2,
      "mode": "run",
      "p50_ms": 3.0,
      "p90_ms": 5.0,
      "p99_ms": 6.0,
      "mean_ms": 3.5,
      "samples": 30,
      "allow_spinning": true,
      "execution_mode": "sequential",
      "sequences_per_s": 333.3333333333333,
      "steps_per_s": 16666.666666666668
    },
    {
      "name": "m.onnx",
      "kind": "artifact",
      "provider": "cpu",
      "batch": 1,
      "steps": 50,
      "threads": 0,
      "mode": "plain",
      "p50_ms": 3.5,
      "p90_ms": 5.0,
      "p99_ms": 6.0,
      "mean_ms": 3.6,
      "samples": 30,
      "allow_spinning": null,
      "execution_mode": "sequential",
      "sequences_per_s": 285.7142857142857,
      "steps_per_s": 14285.714285714286
    }
  ],
  "cold_starts": [],
  "streaming": [],
  "sizes": [
    {
      "name": "m.onnx",
      "file_bytes": 4000,
      "gzip_bytes": 3000,
      "parameters": 1000,
      "vs_fp32": 1.0,
      "bytes_per_parameter": 4.0
    }
  ],
  "ceilings": [],
  "roofline": [],
  "interfaces": [],
  "best": [
    {
      "name": "m.onnx",
      "kind": "artifact",
      "batch": 1,
      "intra_op_threads": 2,
      "allow_spinning": true,
      "p50_ms": {
        "50": 3.0
      },
      "execution_mode": "sequential"
    }
  ],
  "policy": {
    "1": {
      "intra_op_threads": 2,
      "inter_op_threads": 1,
      "execution_mode": "sequential",
      "allow_spinning": true,
      "artifact": "m.onnx",
      "p50_ms": {
        "50": 3.0
      }
    }
  },
  "policy_by_artifact": {
    "m.onnx": {
      "1": {
        "intra_op_threads": 2,
        "inter_op_threads": 1,
        "execution_mode": "sequential",
        "allow_spinning": true,
        "artifact": "m.onnx",
        "p50_ms": {
          "50": 3.0
        }
      }
    }
  },
  "plain_session": [
    {
      "name": "m.onnx",
      "batch": 1,
      "steps": 50,
      "plain_default_p50_ms": 3.5,
      "plain_1thread_p50_ms": null,
      "policy_p50_ms": 3.0,
      "policy_setting": {
        "threads": 2,
        "allow_spinning": true
      },
      "plain_default_vs_policy": 1.1666666666666667,
      "plain_1thread_vs_policy": null
    }
  ]
}"""
PINS["best_setting"] = """{
  "name": "m.onnx",
  "kind": "artifact",
  "batch": 1,
  "intra_op_threads": 2,
  "allow_spinning": true,
  "p50_ms": {
    "50": 3.0,
    "100": 6.5
  },
  "execution_mode": "sequential"
}"""
PINS["verification"] = """{
  "passed": true,
  "max_abs_error": 1e-06,
  "max_rel_error": 0.25,
  "tolerance": {
    "atol": 0.0001,
    "rtol": 0.001,
    "min_snr_db": -Infinity
  },
  "session": {
    "provider": "cpu",
    "intra_op_threads": 1,
    "inter_op_threads": 1,
    "allow_spinning": false,
    "graph_optimization": "all",
    "execution_mode": "sequential",
    "plain": false,
    "memory_pattern": true,
    "cpu_arena": true
  },
  "cases": [
    {
      "label": "B=1 T=7",
      "batch": 1,
      "steps": 7,
      "outputs": [
        {
          "name": "y",
          "shape": [
            1,
            2
          ],
          "max_abs_error": 1e-06,
          "max_rel_error": 0.25,
          "passed": true,
          "problem": "",
          "mean_abs_error": 0.0,
          "cosine_similarity": 1.0,
          "snr_db": Infinity,
          "atol": 0.0,
          "rtol": 0.0,
          "min_snr_db": -Infinity,
          "max_noise_floor": 0.0
        }
      ],
      "error": "",
      "passed": true
    }
  ]
}"""
PINS["export_result"] = """{
  "path": "out/m.onnx",
  "written": true,
  "passed": true,
  "sha256": "abababababababababababababababababababababababababababababababab",
  "size_bytes": 1234,
  "source": "runs/m",
  "checks": [
    "onnx.checker"
  ],
  "export_config": {
    "form": "sequence",
    "impl": "auto",
    "opset": 17,
    "with_lengths": true,
    "with_state_inputs": false,
    "fixed_steps": null,
    "fixed_batch": null
  },
  "interface": {
    "form": "sequence",
    "impl": "fused",
    "inputs": [
      {
        "name": "input",
        "dtype": "float32",
        "shape": [
          "batch",
          "time",
          6
        ],
        "description": ""
      }
    ],
    "outputs": [
      {
        "name": "output",
        "dtype": "float32",
        "shape": [
          "batch",
          7
        ],
        "description": "logits"
      }
    ],
    "states": [
      {
        "name": "h",
        "input_name": "h_in",
        "output_name": "h_out",
        "shape": [
          1,
          "batch",
          8
        ],
        "rows": [
          "layer0"
        ],
        "initial_value": 0.0,
        "dtype": "float32",
        "description": "hidden"
      }
    ]
  },
  "verification": {
    "passed": true,
    "max_abs_error": 1e-06,
    "max_rel_error": 0.25,
    "tolerance": {
      "atol": 0.0001,
      "rtol": 0.001,
      "min_snr_db": -Infinity
    },
    "session": {
      "provider": "cpu",
      "intra_op_threads": 1,
      "inter_op_threads": 1,
      "allow_spinning": false,
      "graph_optimization": "all",
      "execution_mode": "sequential",
      "plain": false,
      "memory_pattern": true,
      "cpu_arena": true
    },
    "cases": [
      {
        "label": "B=1 T=7",
        "batch": 1,
        "steps": 7,
        "outputs": [
          {
            "name": "y",
            "shape": [
              1,
              2
            ],
            "max_abs_error": 1e-06,
            "max_rel_error": 0.25,
            "passed": true,
            "problem": "",
            "mean_abs_error": 0.0,
            "cosine_similarity": 1.0,
            "snr_db": Infinity,
            "atol": 0.0,
            "rtol": 0.0,
            "min_snr_db": -Infinity,
            "max_noise_floor": 0.0
          }
        ],
        "error": "",
        "passed": true
      }
    ]
  }
}"""
PINS["unrolled"] = """{
  "source": "s.onnx",
  "source_sha256": "abababababababababababababababababababababababababababababababab",
  "steps": 16,
  "rewritten": [
    "rewritten to Loop: GRU g (forward)",
    "left fused: LSTM l: peepholes"
  ],
  "max_abs_error": 1e-06,
  "path": "out/s.unrolled.onnx",
  "sha256": "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
}"""
PINS["litert_artifact"] = """{
  "path": "out/m_b1_k16.tflite",
  "sidecar": "out/m_b1_k16.tflite.json",
  "shape": {
    "batch": 1,
    "chunk": 16
  },
  "sha256": "abababababababababababababababababababababababababababababababab",
  "size_bytes": 999,
  "written": true,
  "verification": {
    "passed": true,
    "max_abs_error": 1e-06,
    "max_rel_error": 0.25,
    "tolerance": {
      "atol": 0.0001,
      "rtol": 0.001,
      "min_snr_db": -Infinity
    },
    "session": {
      "provider": "cpu",
      "intra_op_threads": 1,
      "inter_op_threads": 1,
      "allow_spinning": false,
      "graph_optimization": "all",
      "execution_mode": "sequential",
      "plain": false,
      "memory_pattern": true,
      "cpu_arena": true
    },
    "cases": [
      {
        "label": "B=1 T=7",
        "batch": 1,
        "steps": 7,
        "outputs": [
          {
            "name": "y",
            "shape": [
              1,
              2
            ],
            "max_abs_error": 1e-06,
            "max_rel_error": 0.25,
            "passed": true,
            "problem": "",
            "mean_abs_error": 0.0,
            "cosine_similarity": 1.0,
            "snr_db": Infinity,
            "atol": 0.0,
            "rtol": 0.0,
            "min_snr_db": -Infinity,
            "max_noise_floor": 0.0
          }
        ],
        "error": "",
        "passed": true
      }
    ]
  }
}"""
PINS["litert_export"] = """{
  "target": "litert",
  "passed": true,
  "converter": {
    "ai-edge-torch": "0.5"
  },
  "interface": {
    "form": "sequence",
    "impl": "fused",
    "inputs": [
      {
        "name": "input",
        "dtype": "float32",
        "shape": [
          "batch",
          "time",
          6
        ],
        "description": ""
      }
    ],
    "outputs": [
      {
        "name": "output",
        "dtype": "float32",
        "shape": [
          "batch",
          7
        ],
        "description": "logits"
      }
    ],
    "states": [
      {
        "name": "h",
        "input_name": "h_in",
        "output_name": "h_out",
        "shape": [
          1,
          "batch",
          8
        ],
        "rows": [
          "layer0"
        ],
        "initial_value": 0.0,
        "dtype": "float32",
        "description": "hidden"
      }
    ]
  },
  "artifacts": [
    {
      "path": "out/m_b2_t100.tflite",
      "sidecar": "out/m_b2_t100.tflite.json",
      "shape": {
        "batch": 2,
        "steps": 100
      },
      "sha256": "",
      "size_bytes": 0,
      "written": false,
      "verification": {
        "passed": true,
        "max_abs_error": 1e-06,
        "max_rel_error": 0.25,
        "tolerance": {
          "atol": 0.0001,
          "rtol": 0.001,
          "min_snr_db": -Infinity
        },
        "session": {
          "provider": "cpu",
          "intra_op_threads": 1,
          "inter_op_threads": 1,
          "allow_spinning": false,
          "graph_optimization": "all",
          "execution_mode": "sequential",
          "plain": false,
          "memory_pattern": true,
          "cpu_arena": true
        },
        "cases": [
          {
            "label": "B=1 T=7",
            "batch": 1,
            "steps": 7,
            "outputs": [
              {
                "name": "y",
                "shape": [
                  1,
                  2
                ],
                "max_abs_error": 1e-06,
                "max_rel_error": 0.25,
                "passed": true,
                "problem": "",
                "mean_abs_error": 0.0,
                "cosine_similarity": 1.0,
                "snr_db": Infinity,
                "atol": 0.0,
                "rtol": 0.0,
                "min_snr_db": -Infinity,
                "max_noise_floor": 0.0
              }
            ],
            "error": "",
            "passed": true
          }
        ]
      }
    }
  ]
}"""
PINS["state_exposure_written"] = """{
  "source": "v.onnx",
  "source_sha256": "abababababababababababababababababababababababababababababababab",
  "states": [
    {
      "node": "n",
      "op_type": "LSTM",
      "input_name": "h_in",
      "output_name": "h_out",
      "shape": [
        1,
        "batch",
        64
      ]
    }
  ],
  "parity": [
    {
      "chunk": 512,
      "max_abs_error": 1e-07,
      "scale": 1.0,
      "error": "",
      "passed": true
    },
    {
      "chunk": 256,
      "max_abs_error": 0.1,
      "scale": 1.0,
      "error": "",
      "passed": false
    }
  ],
  "passed": false,
  "path": "out/v.stream.onnx",
  "sha256": "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
  "layout": "time_major",
  "layout_note": "time-major (input, y: [time, batch, ...]; 1 layout Transpose(s) dropped)",
  "source_parity": {
    "chunk": 512,
    "max_abs_error": 1e-07,
    "scale": 1.0,
    "error": "",
    "passed": true
  }
}"""
PINS["state_exposure_refused"] = """{
  "source": "v.onnx",
  "source_sha256": "abababababababababababababababababababababababababababababababab",
  "states": [],
  "parity": [
    {
      "chunk": 512,
      "max_abs_error": NaN,
      "scale": 1.0,
      "error": "failed",
      "passed": false
    }
  ],
  "passed": false,
  "path": null,
  "sha256": "",
  "layout": "batch_first",
  "layout_note": "batch-first, as the source graph (not run)",
  "source_parity": null
}"""
PINS["scheme_config_dynamic"] = """{
  "scheme": "dynamic-int8",
  "per_channel": true,
  "weight_type": "int8",
  "reduce_range": null,
  "quantize_embedding": true,
  "exclude": [
    "head"
  ]
}"""
PINS["scheme_config_int4"] = """{
  "scheme": "int4",
  "block_size": 32,
  "symmetric": true
}"""
PINS["scheme_config_weight_only"] = """{
  "scheme": "weight-only-int4",
  "min_elements": 1,
  "rounding": "nearest",
  "granularity": "channel",
  "max_extra_scales": 0.02,
  "block_size": 32
}"""
PINS["weight_only_report"] = """{
  "storage": "int8",
  "opset_before": 17,
  "opset_after": 21,
  "form": "dequantize",
  "bytes_before": 1024,
  "bytes_after": 288,
  "quantized": [
    {
      "name": "W",
      "op": "MatMul",
      "shape": [
        8,
        32
      ],
      "storage": "int8",
      "axis": 1,
      "block_size": 0,
      "bytes_before": 1024,
      "bytes_after": 288,
      "max_abs_error": 0.01,
      "nodes": [
        "mm"
      ],
      "rounding": "nearest"
    }
  ],
  "kept": [
    {
      "name": "b",
      "shape": [
        32
      ],
      "reason": "bias"
    }
  ]
}"""
PINS["quantize_result"] = """{
  "scheme": "dynamic-int8",
  "config": {
    "scheme": "dynamic-int8",
    "per_channel": true
  },
  "source": "m.onnx",
  "source_bytes": 4000,
  "path": "out/m.int8.onnx",
  "size_bytes": 1000,
  "size_is_floor": false,
  "compression": 4.0,
  "source_weight_bytes": 3600,
  "weight_bytes": 900,
  "weight_compression": 4.0,
  "impl": "MatMulInteger",
  "slower_form": "Loop",
  "notes": [
    "a note"
  ],
  "refused": "",
  "parity_passed": true,
  "parity": {
    "passed": true
  },
  "data_split": {
    "calibration": "first half"
  }
}"""
PINS["quantize_result_refused"] = """{
  "scheme": "dynamic-int8",
  "config": {
    "scheme": "dynamic-int8",
    "per_channel": true
  },
  "source": "m.onnx",
  "source_bytes": 4000,
  "path": null,
  "size_bytes": 0,
  "size_is_floor": true,
  "compression": 0.0,
  "source_weight_bytes": 3600,
  "weight_bytes": 0,
  "weight_compression": 0.0,
  "impl": "MatMulInteger",
  "slower_form": "",
  "notes": [
    "a note"
  ],
  "refused": "no int8 kernel",
  "parity_passed": null,
  "parity": null,
  "data_split": null
}"""
PINS["rounding_plan"] = """{
  "calibration": "heldout.npz",
  "weights": {
    "W": {
      "storage": "int8",
      "granularity": "channel",
      "block_size": 0,
      "rounding": "gptq",
      "output_error": 0.5
    }
  },
  "bias_corrected": [
    "b"
  ],
  "uncalibrated": {
    "R": "no input statistics"
  }
}"""
PINS["mixed"] = """{
  "layers": [
    {
      "name": "layer0",
      "tensors": [
        "W",
        "R"
      ],
      "float_bytes": 4096,
      "alone": {
        "int8": {
          "agreement": 0.99
        }
      },
      "cost": {
        "int8": 0.01
      },
      "chosen": "int8",
      "int8_form": "cast",
      "int8_forms": {
        "cast": 0.01
      },
      "reached": true
    }
  ],
  "precisions": {
    "layer0": "int8"
  },
  "trials": [
    {
      "mix": {
        "layer0": "int8"
      },
      "passed": true
    }
  ],
  "ranking_data": "8 rows",
  "published_trial": 0
}"""
PINS["litert_quantize"] = """{
  "target": "litert",
  "scheme": "dynamic-int8",
  "recipe": "dynamic_wi8_afp32",
  "source": "m.tflite",
  "path": "m.int8.tflite",
  "written": true,
  "sha256": "abababababababababababababababababababababababababababababababab",
  "size_bytes": 100,
  "source_size_bytes": 400,
  "parity_passed": true,
  "parity": {
    "passed": true
  },
  "candidates": [
    {
      "scheme": "dynamic-int8",
      "bytes": 100
    }
  ]
}"""
PINS["litert_quantize_unchecked"] = """{
  "target": "litert",
  "scheme": "weight-only-int8",
  "recipe": "weight_only_wi8_afp32",
  "source": "m.tflite",
  "path": "m.w8.tflite",
  "written": false,
  "sha256": "abababababababababababababababababababababababababababababababab",
  "size_bytes": 100,
  "source_size_bytes": 400,
  "parity_passed": null,
  "parity": "not checked"
}"""
PINS["candidate_row"] = """{
  "scheme": "dynamic-int8",
  "role": "candidate",
  "refused": "",
  "passed": true,
  "gated": true,
  "size_bytes": 1000,
  "size_is_floor": false,
  "x_smaller": 4.0,
  "latency_ms_batch1": 1.1,
  "latency_vs_fp32": 1.1,
  "plain_session": {
    "latency_ms_batch1": 1.2,
    "latency_ms_batch1_1thread": 1.3,
    "latency_vs_fp32": 1.3
  },
  "speed_rule_judged_on": "plain session",
  "on_front": true,
  "lost": "",
  "summary": {
    "passed": true
  },
  "details": {
    "k": 1
  },
  "result": {
    "scheme": "dynamic-int8",
    "config": {
      "scheme": "dynamic-int8",
      "per_channel": true
    },
    "source": "m.onnx",
    "source_bytes": 4000,
    "path": "out/m.int8.onnx",
    "size_bytes": 1000,
    "size_is_floor": false,
    "compression": 4.0,
    "source_weight_bytes": 3600,
    "weight_bytes": 900,
    "weight_compression": 4.0,
    "impl": "MatMulInteger",
    "slower_form": "Loop",
    "notes": [
      "a note"
    ],
    "refused": "",
    "parity_passed": true,
    "parity": {
      "passed": true
    },
    "data_split": {
      "calibration": "first half"
    }
  }
}"""
PINS["candidate_untimed"] = """{
  "scheme": "int4",
  "role": "candidate",
  "refused": "no MatMul",
  "passed": false,
  "gated": true,
  "size_bytes": 0,
  "size_is_floor": true,
  "x_smaller": null,
  "latency_ms_batch1": null,
  "latency_vs_fp32": 1.5,
  "plain_session": {
    "latency_ms_batch1": null,
    "latency_ms_batch1_1thread": null,
    "latency_vs_fp32": null
  },
  "speed_rule_judged_on": "edgelstm session",
  "on_front": false,
  "lost": "",
  "summary": {},
  "details": {},
  "result": {
    "scheme": "dynamic-int8",
    "config": {
      "scheme": "dynamic-int8",
      "per_channel": true
    },
    "source": "m.onnx",
    "source_bytes": 4000,
    "path": null,
    "size_bytes": 0,
    "size_is_floor": true,
    "compression": 0.0,
    "source_weight_bytes": 3600,
    "weight_bytes": 0,
    "weight_compression": 0.0,
    "impl": "MatMulInteger",
    "slower_form": "",
    "notes": [
      "a note"
    ],
    "refused": "no int8 kernel",
    "parity_passed": null,
    "parity": null,
    "data_split": null
  }
}"""
# added after the conversion, generated by the old Candidate.to_dict (git show 293364f:quantize/selection_table.py)
PINS["candidate_never_built"] = """{
  "scheme": "int4",
  "role": "candidate",
  "refused": "no MatMul",
  "passed": false,
  "gated": false,
  "size_bytes": null,
  "size_is_floor": false,
  "x_smaller": null,
  "latency_ms_batch1": null,
  "latency_vs_fp32": null,
  "plain_session": {
    "latency_ms_batch1": null,
    "latency_ms_batch1_1thread": null,
    "latency_vs_fp32": null
  },
  "speed_rule_judged_on": null,
  "on_front": false,
  "lost": "refused",
  "summary": {},
  "details": {},
  "result": null
}"""
PINS["selection"] = """{
  "winner": "dynamic-int8",
  "objective": "size",
  "speed_limit_vs_fp32": 1.1,
  "why": "dynamic-int8: the smallest artifact that passed the parity gate among those at most 1.1x slower than the fp32 graph at batch 1 in a plain ONNX Runtime session",
  "published": "out/m.int8.onnx",
  "not_published": [],
  "candidates": [
    {
      "scheme": "fp32",
      "role": "reference",
      "refused": "",
      "passed": true,
      "gated": false,
      "size_bytes": 1000,
      "size_is_floor": false,
      "x_smaller": 1.0,
      "latency_ms_batch1": 1.0,
      "latency_vs_fp32": 1.0,
      "plain_session": {
        "latency_ms_batch1": null,
        "latency_ms_batch1_1thread": null,
        "latency_vs_fp32": null
      },
      "speed_rule_judged_on": "edgelstm session",
      "on_front": false,
      "lost": "",
      "summary": {
        "passed": true
      },
      "details": {},
      "result": {
        "scheme": "dynamic-int8",
        "config": {
          "scheme": "dynamic-int8",
          "per_channel": true
        },
        "source": "m.onnx",
        "source_bytes": 4000,
        "path": "out/fp32.onnx",
        "size_bytes": 1000,
        "size_is_floor": false,
        "compression": 4.0,
        "source_weight_bytes": 3600,
        "weight_bytes": 900,
        "weight_compression": 4.0,
        "impl": "MatMulInteger",
        "slower_form": "Loop",
        "notes": [
          "a note"
        ],
        "refused": "",
        "parity_passed": true,
        "parity": {
          "passed": true
        },
        "data_split": {
          "calibration": "first half"
        }
      }
    },
    {
      "scheme": "dynamic-int8",
      "role": "candidate",
      "refused": "",
      "passed": true,
      "gated": true,
      "size_bytes": 1000,
      "size_is_floor": false,
      "x_smaller": 4.0,
      "latency_ms_batch1": 1.1,
      "latency_vs_fp32": 1.1,
      "plain_session": {
        "latency_ms_batch1": 1.2,
        "latency_ms_batch1_1thread": 1.3,
        "latency_vs_fp32": 1.3
      },
      "speed_rule_judged_on": "plain session",
      "on_front": true,
      "lost": "",
      "summary": {
        "passed": true
      },
      "details": {
        "k": 1
      },
      "result": {
        "scheme": "dynamic-int8",
        "config": {
          "scheme": "dynamic-int8",
          "per_channel": true
        },
        "source": "m.onnx",
        "source_bytes": 4000,
        "path": "out/m.int8.onnx",
        "size_bytes": 1000,
        "size_is_floor": false,
        "compression": 4.0,
        "source_weight_bytes": 3600,
        "weight_bytes": 900,
        "weight_compression": 4.0,
        "impl": "MatMulInteger",
        "slower_form": "Loop",
        "notes": [
          "a note"
        ],
        "refused": "",
        "parity_passed": true,
        "parity": {
          "passed": true
        },
        "data_split": {
          "calibration": "first half"
        }
      }
    },
    {
      "scheme": "int4",
      "role": "candidate",
      "refused": "no MatMul",
      "passed": false,
      "gated": true,
      "size_bytes": 0,
      "size_is_floor": true,
      "x_smaller": null,
      "latency_ms_batch1": null,
      "latency_vs_fp32": null,
      "plain_session": {
        "latency_ms_batch1": null,
        "latency_ms_batch1_1thread": null,
        "latency_vs_fp32": null
      },
      "speed_rule_judged_on": null,
      "on_front": false,
      "lost": "refused",
      "summary": {},
      "details": {},
      "result": {
        "scheme": "dynamic-int8",
        "config": {
          "scheme": "dynamic-int8",
          "per_channel": true
        },
        "source": "m.onnx",
        "source_bytes": 4000,
        "path": null,
        "size_bytes": 0,
        "size_is_floor": true,
        "compression": 0.0,
        "source_weight_bytes": 3600,
        "weight_bytes": 0,
        "weight_compression": 0.0,
        "impl": "MatMulInteger",
        "slower_form": "",
        "notes": [
          "a note"
        ],
        "refused": "no int8 kernel",
        "parity_passed": null,
        "parity": null,
        "data_split": null
      }
    }
  ]
}"""
PINS["selection_no_winner"] = """{
  "winner": null,
  "objective": "size-at-any-cost",
  "speed_limit_vs_fp32": null,
  "why": "no scheme met the parity budget",
  "published": null,
  "not_published": [],
  "candidates": [
    {
      "scheme": "int4",
      "role": "candidate",
      "refused": "no MatMul",
      "passed": false,
      "gated": true,
      "size_bytes": 0,
      "size_is_floor": true,
      "x_smaller": null,
      "latency_ms_batch1": null,
      "latency_vs_fp32": null,
      "plain_session": {
        "latency_ms_batch1": null,
        "latency_ms_batch1_1thread": null,
        "latency_vs_fp32": null
      },
      "speed_rule_judged_on": null,
      "on_front": false,
      "lost": "refused",
      "summary": {},
      "details": {},
      "result": {
        "scheme": "dynamic-int8",
        "config": {
          "scheme": "dynamic-int8",
          "per_channel": true
        },
        "source": "m.onnx",
        "source_bytes": 4000,
        "path": null,
        "size_bytes": 0,
        "size_is_floor": true,
        "compression": 0.0,
        "source_weight_bytes": 3600,
        "weight_bytes": 0,
        "weight_compression": 0.0,
        "impl": "MatMulInteger",
        "slower_form": "",
        "notes": [
          "a note"
        ],
        "refused": "no int8 kernel",
        "parity_passed": null,
        "parity": null,
        "data_split": null
      }
    }
  ]
}"""
