"""The one serialiser writes what the hand-written `to_dict` methods it replaced wrote (issue 18): renamed keys,
fields left out while at their old default, derived verdicts after the fields. Each expected dict below is the
JSON the old method produced, written out by hand, so a changed key, order or value fails here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.interface import RAW_INPUT_NOTE, GraphInterface, InputNormalization, TensorSpec, ValueInfo
from edgelstm.bench.results import SizeResult
from edgelstm.bench.rows import LatencyResult
from edgelstm.comparison import CaseComparison, TensorComparison
from edgelstm.jsonio import dumps, is_empty, is_none, json_meta, to_jsonable
from edgelstm.parity.report import DeterminismCheck, TimeProfile
from edgelstm.parity.stream_verdict import StreamRowResult
from edgelstm.quantize.compact import CompactReport
from edgelstm.state import StateSpec


@dataclass
class _Row:
    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("double",)

    value: int
    old_name: str = field(default="", metadata=json_meta(name="new_name"))
    note: str = field(default="", metadata=json_meta(omit_if=is_empty))
    limit: int | None = field(default=None, metadata=json_meta(omit_if=is_none))

    @property
    def double(self) -> int:
        return 2 * self.value


def test_field_metadata_renames_omits_and_extras_come_last() -> None:
    assert to_jsonable(_Row(3)) == {"value": 3, "new_name": "", "double": 6}
    assert list(to_jsonable(_Row(3, "a", "n", 0))) == ["value", "new_name", "note", "limit", "double"]
    assert to_jsonable([_Row(1, limit=5)]) == [{"value": 1, "new_name": "", "limit": 5, "double": 2}]


@dataclass
class _Ordered:
    JSON_EXTRAS: ClassVar[tuple[str | tuple[str, str], ...]] = ("ok", "total", ("a_squared", "square"))
    JSON_ORDER: ClassVar[tuple[str, ...]] = ("ok", "b", "total", "renamed", "only_when_big")
    ok: ClassVar[bool] = True

    a: int
    b: int
    c: float = field(default=0.0, metadata=json_meta(name="renamed", convert=lambda v: round(v, 1)))
    only_when_big: str = field(default="", metadata=json_meta(when=lambda o: o.a > 10))
    pairs: tuple[int, ...] = field(default=(), metadata=json_meta(compute=lambda o: [[o.a, p] for p in o.pairs]))
    scratch: list[int] = field(default_factory=list, metadata=json_meta(skip=True))

    @property
    def total(self) -> int:
        return self.a + self.b

    @property
    def square(self) -> int:
        return self.a * self.a


def test_order_when_convert_compute_and_skip() -> None:
    small = to_jsonable(_Ordered(1, 2, 0.26, "x", (5,), [9]))
    assert list(small.items()) == [
        ("ok", True),
        ("b", 2),
        ("total", 3),
        ("renamed", 0.3),
        ("a", 1),
        ("pairs", [[1, 5]]),
        ("a_squared", 1),
    ]
    big = to_jsonable(_Ordered(11, 2))
    assert list(big) == ["ok", "b", "total", "renamed", "only_when_big", "a", "pairs", "a_squared"]


def test_an_order_naming_a_key_never_written_is_refused() -> None:
    @dataclass
    class Typo:
        JSON_ORDER: ClassVar[tuple[str, ...]] = ("valeu",)
        value: int

    with pytest.raises(TypeError, match="valeu"):
        to_jsonable(Typo(1))
    with pytest.raises(ValueError, match="not both"):
        json_meta(convert=str, compute=str)


def _interface(**optional: object) -> GraphInterface:
    return GraphInterface(
        form="streaming",
        impl="fused",
        inputs=[TensorSpec("input", "float32", ["batch", "time", 6])],
        outputs=[TensorSpec("output", "float32", ["batch", 7], "logits")],
        states=[StateSpec("h", "h_in", "h_out", [1, "batch", 8], ["layer0"], 0.0, "float32", "hidden")],
        **optional,  # type: ignore[arg-type]
    )


INPUT = {"name": "input", "dtype": "float32", "shape": ["batch", "time", 6], "description": ""}
OUTPUT = {"name": "output", "dtype": "float32", "shape": ["batch", 7], "description": "logits"}
STATE = {
    "name": "h",
    "input_name": "h_in",
    "output_name": "h_out",
    "shape": [1, "batch", 8],
    "rows": ["layer0"],
    "initial_value": 0.0,
    "dtype": "float32",
    "description": "hidden",
}


def test_graph_interface_writes_optional_fields_only_when_set() -> None:
    plain = {"form": "streaming", "impl": "fused", "inputs": [INPUT], "outputs": [OUTPUT], "states": [STATE]}
    assert to_jsonable(_interface()) == plain
    full = _interface(constants={"sr": 16000}, chunk=512, context=64, normalization=InputNormalization([0.5], [2.0]))
    assert to_jsonable(full) == {
        **plain,
        "constants": {"sr": 16000},
        "chunk": 512,
        "context": 64,
        "input_normalization": {"mean": [0.5], "std": [2.0], "note": RAW_INPUT_NOTE},
    }
    assert GraphInterface.from_dict(json.loads(dumps(full))) == full


def test_export_config_leaves_out_normalize_input_while_on() -> None:
    on = {"form": "sequence", "impl": "auto", "opset": 17, "with_lengths": True, "with_state_inputs": False}
    assert to_jsonable(ExportConfig()) == {**on, "fixed_steps": None, "fixed_batch": None}
    assert to_jsonable(ExportConfig(normalize_input=False))["normalize_input"] is False


def test_value_info_shape_is_a_list() -> None:
    assert dumps(ValueInfo("x", "float32", ("frames", 576))) == dumps({"name": "x", "dtype": "float32", "shape": ["frames", 576]})


def test_reports_carry_their_derived_verdicts_after_the_fields() -> None:
    out = TensorComparison("y", [1, 2], 0.5, 0.25, False, "drift")
    case = CaseComparison("B=1 T=7", 1, 7, [out], "")
    assert to_jsonable(case) == {
        "label": "B=1 T=7",
        "batch": 1,
        "steps": 7,
        "outputs": [
            {
                "name": "y",
                "shape": [1, 2],
                "max_abs_error": 0.5,
                "max_rel_error": 0.25,
                "passed": False,
                "problem": "drift",
                "mean_abs_error": 0.0,
                "cosine_similarity": 1.0,
                "snr_db": float("inf"),
                "atol": 0.0,
                "rtol": 0.0,
                "min_snr_db": float("-inf"),
                "max_noise_floor": 0.0,
            }
        ],
        "error": "",
        "passed": False,
    }
    assert to_jsonable(DeterminismCheck(False, 1e-3, False)) == {
        "identical": False,
        "max_spread": 1e-3,
        "required": False,
        "passed": True,
    }
    profile = TimeProfile("B=1", "output", [1, 1000], [1e-7, 1e-3], 1.0, 1e-7, 1e-3)
    assert list(to_jsonable(profile))[-1] == "grows" and to_jsonable(profile)["grows"] is True
    row = StreamRowResult("row 0", decisions=10, flips=0)
    assert to_jsonable(row) == {
        "name": "row 0",
        "decisions": 10,
        "flips": 0,
        "max_abs_delta": 0.0,
        "flips_by_kind": {},
        "failures": [],
        "flip_evidence": None,
        "passed": True,
        "verdict": "pass",
    }


def test_bench_and_compact_rows_carry_their_throughputs() -> None:
    latency = LatencyResult("m.onnx", "artifact", "cpu", 2, 50, 1, "sequence", 4.0, 5.0, 6.0, 4.5, 30)
    assert to_jsonable(latency) == {
        "name": "m.onnx",
        "kind": "artifact",
        "provider": "cpu",
        "batch": 2,
        "steps": 50,
        "threads": 1,
        "mode": "sequence",
        "p50_ms": 4.0,
        "p90_ms": 5.0,
        "p99_ms": 6.0,
        "mean_ms": 4.5,
        "samples": 30,
        "allow_spinning": None,
        "execution_mode": "sequential",
        "sequences_per_s": 500.0,
        "steps_per_s": 25000.0,
    }
    size = to_jsonable(SizeResult("m.onnx", 4000, 3000, 1000, 1.0))
    assert size == {
        "name": "m.onnx",
        "file_bytes": 4000,
        "gzip_bytes": 3000,
        "parameters": 1000,
        "vs_fp32": 1.0,
        "bytes_per_parameter": 4.0,
    }
    compact = to_jsonable(CompactReport(100, 60, 3, 1, 2, 10, 9))
    assert list(compact) == [
        "bytes_before",
        "bytes_after",
        "values_renamed",
        "zero_states_dropped",
        "types_dropped",
        "nodes_before",
        "nodes_after",
        "bytes_saved",
    ]
    assert compact["bytes_saved"] == 40


def test_paths_in_results_are_strings() -> None:
    assert to_jsonable({"out_dir": Path("runs/x")}) == {"out_dir": "runs/x"}
