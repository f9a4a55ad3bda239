"""MACs and weight bytes counted from a graph, by hand; ceilings measured beside every artifact row."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgelstm.artifact.file import open_artifact
from edgelstm.bench import BenchConfig, BenchReport, run_bench
from edgelstm.bench.ceiling import CeilingSpec, gemm_rows, measure_ceilings
from edgelstm.bench.macs import count_macs
from edgelstm.bench.roofline import add_roofline
from edgelstm.jsonio import dumps, to_jsonable
from edgelstm.timing import TimerSettings


def _weight(name: str, *shape: int, dtype: type = np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ones(shape, dtype), name)


def _model(nodes: list, inputs: list, outputs: list, initializers: list, opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _x(name: str, dims: list, elem: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, dims)


def test_bidirectional_lstm_by_hand() -> None:
    t, b, i, h = 6, 2, 5, 8
    node = helper.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=h, direction="bidirectional")
    model = _model(
        [node], [_x("x", ["time", "batch", i])], [_x("y", None)], [_weight("W", 2, 4 * h, i), _weight("R", 2, 4 * h, h)]
    )
    count = count_macs(model, {"x": (t, b, i)}, b, t)
    # every step, every sequence, both directions: the input and the recurrent weights once each
    assert count.macs == t * b * 2 * (4 * h * i + 4 * h * h) == 9984
    # W once per call (ORT projects the whole sequence at once), R once per step
    assert count.weight_bytes_read == 4 * (2 * 4 * h * i + t * 2 * 4 * h * h)
    assert count.stored_weight_bytes == 4 * (2 * 4 * h * i + 2 * 4 * h * h)
    assert count.largest_matmul == (h, 4 * h) and not count.assumptions


def test_gru_by_hand() -> None:
    t, i, h = 6, 5, 8
    node = helper.make_node("GRU", ["x", "W", "R"], ["y"], hidden_size=h)
    model = _model(
        [node], [_x("x", ["time", "batch", i])], [_x("y", None)], [_weight("W", 1, 3 * h, i), _weight("R", 1, 3 * h, h)]
    )
    count = count_macs(model, {"x": (t, 1, i)}, 1, t)
    assert count.macs == t * (3 * h * i + 3 * h * h) == 1872
    assert count.weight_bytes_read == 4 * (3 * h * i) + t * 4 * (3 * h * h)


def test_matmul_gemm_and_int8_matmul_by_hand() -> None:
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["y"]),  # [3, 4, 16] x [16, 10]
        helper.make_node("Gemm", ["v", "G"], ["z"], transB=1),  # [3, 16] x [10, 16]^T
        helper.make_node("MatMulInteger", ["q", "Q"], ["r"]),  # [2, 8] x [8, 3]
    ]
    inputs = [_x("x", ["batch", "time", 16]), _x("v", ["batch", 16]), _x("q", ["batch", 8], TensorProto.UINT8)]
    weights = [_weight("W", 16, 10), _weight("G", 10, 16), _weight("Q", 8, 3, dtype=np.int8)]
    model = _model(nodes, inputs, [_x("y", None), _x("z", None), _x("r", None)], weights)
    count = count_macs(model, {"x": (3, 4, 16), "v": (3, 16), "q": (2, 8)}, 3, 4)
    assert [o.macs for o in count.ops] == [3 * 4 * 16 * 10, 3 * 16 * 10, 2 * 8 * 3]
    assert [o.weight_bytes_read for o in count.ops] == [16 * 10 * 4, 10 * 16 * 4, 8 * 3]  # int8 read as int8
    assert count.largest_matmul == (16, 10)


def test_grouped_conv_by_hand() -> None:
    node = helper.make_node("Conv", ["x", "W"], ["y"], group=2, pads=[1, 1], kernel_shape=[3])
    model = _model([node], [_x("x", ["batch", 4, "time"])], [_x("y", None)], [_weight("W", 6, 2, 3)])
    count = count_macs(model, {"x": (1, 4, 10)}, 1, 10)
    # output [1, 6, 10], each output element a 2-channel x 3-tap dot product
    assert count.macs == 6 * 10 * 2 * 3 == 360


def _loop_model(trip_count: onnx.NodeProto) -> onnx.ModelProto:
    """A time loop over h [batch, 8] x R [8, 32] (R read from the outer graph), trip count from `trip_count`."""
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["h_in", "R"], ["hr"]),
            helper.make_node("Slice", ["hr", "zero", "eight", "one"], ["h_out"]),
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        ],
        "body",
        [_x("t", [], TensorProto.INT64), _x("cond_in", [], TensorProto.BOOL), _x("h_in", None)],
        [_x("cond_out", [], TensorProto.BOOL), _x("h_out", None)],
        initializer=[
            numpy_helper.from_array(np.array([0]), "zero"),
            numpy_helper.from_array(np.array([8]), "eight"),
            numpy_helper.from_array(np.array([1]), "one"),
        ],
    )
    nodes = [
        trip_count,
        helper.make_node("Constant", [], ["cond"], value=numpy_helper.from_array(np.array(True))),
        helper.make_node("Loop", ["trips", "cond", "h0"], ["h_last"], body=body),
    ]
    return _model(nodes, [_x("x", ["batch", "time", 5]), _x("h0", ["batch", 8])], [_x("h_last", None)], [_weight("R", 8, 32)])


def test_loop_body_counted_once_per_iteration() -> None:
    fixed = _loop_model(helper.make_node("Constant", [], ["trips"], value=numpy_helper.from_array(np.array(5))))
    count = count_macs(fixed, {"x": (2, 7, 5), "h0": (2, 8)}, 2, 7)
    assert count.macs == 5 * 2 * 8 * 32 and not count.assumptions
    assert count.weight_bytes_read == 5 * 8 * 32 * 4  # an outer weight read inside the body, every iteration
    # trip count from the input's time axis (how edgelstm's loops count): evaluated from the shapes
    shape_nodes = _loop_model(helper.make_node("Shape", ["x"], ["trips"], start=1, end=2))
    assert count_macs(shape_nodes, {"x": (2, 7, 5), "h0": (2, 8)}, 2, 7).macs == 7 * 2 * 8 * 32


def test_if_counts_the_branch_the_constant_selects_or_says_it_took_the_costlier() -> None:
    def branch(name: str, n: int) -> onnx.GraphProto:
        return helper.make_graph([helper.make_node("MatMul", ["x", f"W{n}"], [f"y{n}"])], name, [], [_x(f"y{n}", None)])

    nodes = [
        helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.array(16000))),
        helper.make_node("Equal", ["sr", "k"], ["is16k"]),
        helper.make_node("If", ["is16k"], ["y"], then_branch=branch("then", 4), else_branch=branch("else", 2)),
    ]
    inputs = [_x("x", ["batch", 8]), _x("sr", [], TensorProto.INT64)]
    model = _model(nodes, inputs, [_x("y", None)], [_weight("W4", 8, 4), _weight("W2", 8, 2)])
    shapes = {"x": (1, 8), "sr": ()}
    assert count_macs(model, shapes, 1, 1, {"sr": np.array(8000)}).macs == 8 * 2
    assert count_macs(model, shapes, 1, 1, {"sr": np.array(16000)}).macs == 8 * 4
    unknown = count_macs(model, shapes, 1, 1)
    assert unknown.macs == 8 * 4 and any("costlier branch" in a for a in unknown.assumptions)


def test_exported_forms_of_one_model_count_the_same_work(bench_artifacts: list[Path]) -> None:
    """The fused graph, edgelstm's Loop form and its dynamic-int8 graph do the same multiplications."""
    counts = []
    for path in bench_artifacts:
        model = onnx.load(str(path))
        counts.append(count_macs(model, {"x": (1, 7, 5), "lengths": (1,)}, 1, 7, {"lengths": np.array([7])}))
    # 2 LSTM layers (5 -> 8, 8 -> 8) over 7 steps and a 8 -> 3 head once
    expected = 7 * (4 * 8 * 5 + 4 * 8 * 8) + 7 * (4 * 8 * 8 * 2) + 8 * 3
    assert [c.macs for c in counts] == [expected] * len(counts)
    assert all(not c.assumptions for c in counts)
    fp32, _, int8 = counts
    assert int8.weight_bytes_read < fp32.weight_bytes_read / 3  # int8 weights are read as int8


@pytest.fixture(scope="module")
def bench_artifacts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from edgelstm.artifact.export_config import ExportConfig
    from edgelstm.checkpoint import save_checkpoint
    from edgelstm.export.api import export_model
    from edgelstm.loading import load_model
    from edgelstm.quantize.api import quantize
    from edgelstm.quantize.config import DynamicInt8Config
    from tests.conftest import tiny_model

    root = tmp_path_factory.mktemp("roofline")
    save_checkpoint(tiny_model(cell="lstm", layers=2), root / "ckpt")
    loaded = load_model(str(root / "ckpt"))
    paths = [export_model(loaded, root / impl, ExportConfig(form="sequence", impl=impl)).path for impl in ("fused", "loop")]
    int8 = quantize(loaded, DynamicInt8Config(), root / "int8").path  # DynamicQuantizeLSTM + MatMulInteger
    assert int8 is not None
    return [*paths, int8]


def test_ceiling_rows_carry_their_settings() -> None:
    specs = [CeilingSpec(kind, 4, 8, 32, threads, threads > 1) for kind in ("fp32", "int8") for threads in (1, 2)]
    measured = measure_ceilings(specs + specs[:1], TimerSettings(rounds=3, calls_per_round=1))
    assert [s for s, _ in measured] == specs  # each distinct setting once
    assert all(t.samples == 3 and t.p50_ms > 0 for _, t in measured)
    assert gemm_rows(10_000, 8, 32, batch=1) == 40 and gemm_rows(10, 8, 32, batch=3) == 3


def test_roofline_beside_every_artifact_row(bench_artifacts: list[Path]) -> None:
    config = BenchConfig(
        batches=(1, 2), steps=(6,), threads=(1, 2), rounds=3, calls_per_round=1, baselines=False, cold_start=False, settle_ms=0
    )
    report = run_bench(bench_artifacts[:2], None, config)
    add_roofline(report, [open_artifact(p) for p in bench_artifacts[:2]])
    ours = [r for r in report.latencies if r.mode == "run"]  # plain-session rows (issue 19) get no roofline
    assert len(report.roofline) == len(ours) == 2 * 2 * 2
    for row in report.roofline:
        assert row.macs_per_call == row.batch * 6 * (4 * 8 * 5 + 4 * 8 * 8 + 4 * 8 * 16) + row.batch * 8 * 3
        assert row.achieved_gmacs > 0 and row.weight_gb_per_s > 0 and row.weight_bytes > 0
        assert row.ceiling_fp32_gmacs and row.ceiling_int8_gmacs and row.gemm and row.gemm[1:] == (8, 32)
    for c in report.ceilings:
        assert c.kind in ("fp32", "int8") and c.threads in (1, 2) and c.allow_spinning is False and c.samples == 3
    assert {(c.kind, c.threads) for c in report.ceilings} == {(k, t) for k in ("fp32", "int8") for t in (1, 2)}
    data = json.loads(dumps(report))
    row = data["roofline"][0]
    assert {
        "weight_bytes",
        "macs_per_step",
        "achieved_gmacs",
        "weight_gb_per_s",
        "ceiling_fp32_gmacs",
        "ceiling_int8_gmacs",
    } <= set(row)
    assert {"kind", "m", "k", "n", "threads", "allow_spinning", "p50_ms", "gmacs_per_s"} <= set(data["ceilings"][0])
    assert to_jsonable(BenchReport.from_dict(data)) == data
