"""Weight-only int8 / int4: per-channel and blockwise storage expanded by Cast + Mul (folded by ORT), on any graph."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnx.reference
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgelstm.artifact.chunks import run_in_chunks
from edgelstm.artifact.feeds import sequence_feeds
from edgelstm.artifact.foreign import describe_onnx
from edgelstm.artifact.session import session_from_onnx
from edgelstm.jsonio import to_jsonable
from edgelstm.parity.stream_data import synthetic_speech
from edgelstm.quantize.config import WeightOnlyInt4Config, WeightOnlyInt8Config, config_from_dict, scheme_config
from edgelstm.quantize.stored_weight import DEQUANTIZE, quantize_int4_blockwise, quantize_int8_per_channel
from edgelstm.quantize.weight_only import quantize_weights
from tests.support.weight_only import _dequantize_nodes, _expansion_casts, _model, _op_list

RNG = np.random.default_rng(0)


def _weight(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32) * 0.2


def _ops(model: onnx.ModelProto) -> set[str]:
    return set(_op_list(model))


def _ort_optimized(model: onnx.ModelProto, tmp_path: Path) -> onnx.ModelProto:
    """The graph a default ONNX Runtime session runs (no session config entry), as ORT writes it out."""
    import onnxruntime as ort

    options = ort.SessionOptions()  # defaults on purpose: what a user's InferenceSession(path) does
    options.optimized_model_filepath = str(tmp_path / "ort_optimized.onnx")
    ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return onnx.load(options.optimized_model_filepath)


def _assert_valid_and_close(original: onnx.ModelProto, quantized: onnx.ModelProto, feeds: dict, atol: float) -> None:
    """Full checker, strict shape inference, ORT and onnx.reference agree with the float graph within `atol`."""
    onnx.checker.check_model(quantized, full_check=True)
    onnx.shape_inference.infer_shapes(quantized, check_type=True, strict_mode=True)
    expected = onnx.reference.ReferenceEvaluator(original).run(None, feeds)
    for actual in (
        session_from_onnx(quantized.SerializeToString()).run(None, feeds),
        onnx.reference.ReferenceEvaluator(quantized).run(None, feeds),
    ):
        for a, e in zip(actual, expected, strict=True):
            np.testing.assert_allclose(a, e, atol=atol)


def test_int8_scale_is_max_abs_over_127_per_output_channel() -> None:
    weights = np.array([[0.5, -1.27, 0.0], [0.0, 0.0, 0.0], [2.54, 1.0, -0.3]], np.float32)
    q, scale = quantize_int8_per_channel(weights, axis=0)
    np.testing.assert_array_equal(scale, np.array([1.27 / 127, 1.0, 2.54 / 127], np.float32))
    assert q.dtype == np.int8 and q[0, 1] == -127 and q[2, 0] == 127 and not q[1].any()
    np.testing.assert_allclose(q * scale[:, None], weights, atol=float(scale.max()) / 2)
    _, columns = quantize_int8_per_channel(weights, axis=1)
    np.testing.assert_array_equal(columns, np.array([2.54, 1.27, 0.3], np.float32) / np.float32(127))


def test_matmul_weights_inside_if_branches_are_quantized_per_output_column() -> None:
    """silero_vad.onnx keeps every weight inside If branches: as Constant nodes there, or as branch initializers."""
    w_then, w_else = _weight(64, 32), _weight(64, 32)
    then_graph = helper.make_graph(
        [
            helper.make_node("Constant", [], ["w_then"], value=numpy_helper.from_array(w_then)),
            helper.make_node("MatMul", ["x", "w_then"], ["y_then"]),
        ],
        "then",
        [],
        [helper.make_tensor_value_info("y_then", TensorProto.FLOAT, [2, 32])],
    )
    else_graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w_else"], ["y_else"])],
        "else",
        [],
        [helper.make_tensor_value_info("y_else", TensorProto.FLOAT, [2, 32])],
        initializer=[numpy_helper.from_array(w_else, "w_else")],
    )
    graph = helper.make_graph(
        [helper.make_node("If", ["cond"], ["y"], then_branch=then_graph, else_branch=else_graph)],
        "branches",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 64]),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 32])],
    )
    model = _model(graph)
    quantized, report = quantize_weights(model, WeightOnlyInt8Config())
    assert sorted(t.name for t in report.quantized) == ["w_else", "w_then"]
    assert all(t.axis == 1 and t.op == "MatMul" and t.bytes_after < t.bytes_before / 3.5 for t in report.quantized)
    assert len(_expansion_casts(quantized)) == 2
    x = _weight(2, 64)
    for cond in (True, False):
        _assert_valid_and_close(model, quantized, {"x": x, "cond": np.array(cond)}, atol=0.02)


def test_a_shared_initializer_is_quantized_once_and_biases_stay_float() -> None:
    w, bias = _weight(48, 48), _weight(48)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["h"]),
            helper.make_node("Add", ["h", "bias"], ["hb"]),
            helper.make_node("MatMul", ["hb", "w"], ["y"]),
        ],
        "shared",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 48])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 48])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(bias, "bias")],
    )
    model = _model(graph)
    quantized, report = quantize_weights(model, WeightOnlyInt8Config(min_elements=16))
    assert [t.name for t in report.quantized] == ["w"]
    assert len(_expansion_casts(quantized)) == 1
    assert {i.name for i in quantized.graph.initializer} == {"w_quantized", "w_scale", "bias"}
    _assert_valid_and_close(model, quantized, {"x": _weight(3, 48)}, atol=0.02)


def test_weights_stay_float_only_where_quantizing_saves_no_bytes_and_gemm_follows_trans_b() -> None:
    w = _weight(20, 40)  # 800 elements, stored transposed (transB=1): output channels on axis 0
    tiny = _weight(4, 4)  # 64 float bytes: 16 int8 + 16 of scales + Cast and Mul nodes is no saving
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["x", "w"], ["h"], transB=1),
            helper.make_node("Slice", ["h", "zero", "four", "one"], ["h4"]),
            helper.make_node("MatMul", ["h4", "tiny"], ["y4"]),
        ],
        "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 40])],
        [
            helper.make_tensor_value_info("h", TensorProto.FLOAT, [2, 20]),
            helper.make_tensor_value_info("y4", TensorProto.FLOAT, [2, 4]),
        ],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(tiny, "tiny")]
        + [numpy_helper.from_array(np.array([v], np.int64), k) for k, v in (("zero", 0), ("four", 4), ("one", 1))],
    )
    model = _model(graph)
    kept, report = quantize_weights(model, WeightOnlyInt8Config(min_elements=1024))  # an explicit floor still holds
    assert not report.quantized and "under 1024 elements" in report.kept[0].reason
    assert not _expansion_casts(kept)
    quantized, report = quantize_weights(model, WeightOnlyInt8Config())
    assert [(t.name, t.axis) for t in report.quantized] == [("w", 0)]
    assert [(k.name, k.reason.split(" (")[0]) for k in report.kept] == [("tiny", "no smaller quantized")]
    (scale,) = [i for i in quantized.graph.initializer if i.name == "w_scale"]
    assert list(scale.dims) == [20, 1]  # one per output channel, shaped to broadcast over the weight in Mul
    _assert_valid_and_close(model, quantized, {"x": _weight(2, 40)}, atol=0.02)


@pytest.mark.parametrize("config", [WeightOnlyInt8Config(), WeightOnlyInt4Config(block_size=16)], ids=lambda c: c.scheme)
def test_fused_gru_biases_are_stored_int8_with_one_scale_per_direction(config) -> None:
    hidden, inputs = 16, 24
    w, r, b = _weight(2, 3 * hidden, inputs), _weight(2, 3 * hidden, hidden), _weight(2, 6 * hidden)
    b[1] *= 10  # the backward direction's biases are 10x larger: a shared scale would blur the forward ones
    graph = helper.make_graph(
        [helper.make_node("GRU", ["x", "w", "r", "b"], ["y"], hidden_size=hidden, direction="bidirectional")],
        "bigru",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [7, 2, inputs])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [7, 2, 2, hidden])],
        initializer=[numpy_helper.from_array(t, n) for t, n in ((w, "w"), (r, "r"), (b, "b"))],
    )
    model = _model(graph)
    quantized, report = quantize_weights(model, config)
    (bias,) = [t for t in report.quantized if t.name == "b"]
    assert (bias.storage, bias.axis, bias.op) == ("int8", 0, "GRU")  # no reduced axis: int4 configs store it int8
    assert bias.max_abs_error <= np.abs(b[0]).max() / 254 * 1.01 * 10  # per direction: within half a step of the larger
    scale = {i.name: numpy_helper.to_array(i) for i in quantized.graph.initializer}["b_scale"]
    np.testing.assert_allclose(scale.reshape(-1), np.abs(b).max(axis=1) / 127, rtol=1e-6)
    _assert_valid_and_close(model, quantized, {"x": _weight(7, 2, inputs)}, atol=0.1 if config.storage == "int4" else 0.05)


def test_lstm_weights_reached_through_gate_reordering_are_quantized_per_gate_row() -> None:
    """torch exports nn.LSTM's gate order as Slice/Concat/Unsqueeze of the stored [4H, in] matrix (silero-vad)."""
    hidden, inputs = 16, 32
    w, r = _weight(4 * hidden, inputs), _weight(4 * hidden, hidden)
    const = {"zero": [0], "one_gate": [hidden], "all_gates": [4 * hidden]}
    nodes = [
        helper.make_node("Constant", [], [k], value=numpy_helper.from_array(np.array(v, np.int64))) for k, v in const.items()
    ]
    for name in ("w", "r"):
        nodes += [
            helper.make_node("Slice", [name, "zero", "one_gate", "zero"], [f"{name}_head"]),
            helper.make_node("Slice", [name, "one_gate", "all_gates", "zero"], [f"{name}_tail"]),
            helper.make_node("Concat", [f"{name}_tail", f"{name}_head"], [f"{name}_gates"], axis=0),
            helper.make_node("Unsqueeze", [f"{name}_gates", "zero"], [f"{name}_lstm"]),
        ]
    nodes.append(helper.make_node("LSTM", ["x", "w_lstm", "r_lstm"], ["", "h"], hidden_size=hidden))
    graph = helper.make_graph(
        nodes,
        "torch_lstm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 1, inputs])],
        [helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, 1, hidden])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(r, "r")],
    )
    model = _model(graph)
    quantized, report = quantize_weights(model, WeightOnlyInt8Config())
    assert sorted((t.name, t.op, t.axis) for t in report.quantized) == [("r", "LSTM", 0), ("w", "LSTM", 0)]
    _assert_valid_and_close(model, quantized, {"x": _weight(5, 1, inputs)}, atol=0.01)


def test_int4_is_blockwise_along_the_reduced_axis_and_raises_the_opset(tmp_path: Path) -> None:
    w = _weight(64, 48)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "int4",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 48])],
        initializer=[numpy_helper.from_array(w, "w")],
    )
    model = _model(graph)
    quantized, report = quantize_weights(model, WeightOnlyInt4Config(block_size=32))
    (entry,) = report.quantized
    assert (entry.storage, entry.axis, entry.block_size) == ("int4", 0, 32)
    assert (report.opset_before, report.opset_after) == (17, 21) and quantized.ir_version >= 10  # Cast from INT4
    stored = {i.name: i for i in quantized.graph.initializer}
    # blocks of 32 along K (axis 0), one scale each, laid out [blocks, 1, N] so Expand spreads it over the block
    assert stored["w_quantized"].data_type == TensorProto.INT4 and list(stored["w_scale"].dims) == [2, 1, 48]
    assert [n.op_type for n in quantized.graph.node] == ["Expand", "Reshape", "Cast", "Mul", "MatMul"]
    assert entry.bytes_after < entry.bytes_before / 6
    x = _weight(2, 64)
    _assert_valid_and_close(model, quantized, {"x": x}, atol=0.3)
    # Both runtimes read the blocks along K as they were written; ORT folds them to the same float weight.
    q, scale = quantize_int4_blockwise(w, 0, 32)
    expected = x @ (q * np.repeat(scale, 32, axis=0))
    np.testing.assert_allclose(onnx.reference.ReferenceEvaluator(quantized).run(None, {"x": x})[0], expected, atol=1e-5)
    np.testing.assert_allclose(session_from_onnx(quantized.SerializeToString()).run(None, {"x": x})[0], expected, atol=1e-5)
    assert _ops(_ort_optimized(quantized, tmp_path)) == {"MatMul"}  # expanded once, at session creation


def test_configs_round_trip_and_are_registered() -> None:
    for config in (WeightOnlyInt8Config(min_elements=64), WeightOnlyInt4Config(block_size=64)):
        assert config_from_dict(json.loads(json.dumps(to_jsonable(config)))) == config
        assert scheme_config(config.scheme) == type(config)()


def test_silero_vad_stream_keeps_its_decisions(tmp_path: Path) -> None:
    silero = pytest.importorskip("silero_vad", reason="silero-vad 6.2.3 is a dev dependency (pip install -e '.[dev]')")
    path = Path(silero.__file__).parent / "data" / "silero_vad_16k_op15.onnx"
    model = onnx.load(str(path))
    quantized, report = quantize_weights(model, WeightOnlyInt8Config())
    assert {t.op for t in report.quantized} == {"Conv", "LSTM"}
    assert len(model.SerializeToString()) / len(quantized.SerializeToString()) > 3.0
    int8_path = tmp_path / "int8.onnx"
    onnx.save(quantized, str(int8_path))
    audio = synthetic_speech(3.0, 16_000, seed=0, chunk=512).x
    # silero's own wrapper feeds each 512-sample chunk after the previous chunk's last 64 samples
    interface = describe_onnx(path, constants={"sr": 16_000}, chunk=512).to_graph_interface(context=64)
    probabilities = []
    for graph in (path, int8_path):
        session = session_from_onnx(graph)
        feeds = sequence_feeds(interface, audio, None, graph.name)
        outputs = run_in_chunks(lambda f, s=session: s.run(None, f), interface, feeds, 512)
        probabilities.append(np.asarray(outputs[0]).reshape(-1))
    reference, quantized_p = np.array(probabilities[0]), np.array(probabilities[1])
    assert (reference > 0.5).sum() >= 3  # the stream has speech for the VAD: the comparison means something
    worst = float(np.abs(reference - quantized_p).max())
    assert worst < 0.2, worst  # 0.14 over the 10 s stream of scripts/bench_weight_only.py


def _graph_case(case: str) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """Small graphs whose weights take each path of the expansion: per channel, int4 blocks with a partial last
    block (Slice), fp16 weights (expanded in float32), LSTM W/R, weights as Constants inside If branches."""
    if case == "lstm":
        hidden, inputs = 16, 24
        w, r = _weight(1, 4 * hidden, inputs), _weight(1, 4 * hidden, hidden)
        graph = helper.make_graph(
            [helper.make_node("LSTM", ["x", "w", "r"], ["", "h"], hidden_size=hidden)],
            "lstm",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 1, inputs])],
            [helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, 1, hidden])],
            initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(r, "r")],
        )
        return _model(graph), {"x": _weight(5, 1, inputs)}
    if case == "if-branches":
        branches = [
            helper.make_graph(
                [
                    helper.make_node("Constant", [], [f"w_{b}"], value=numpy_helper.from_array(_weight(40, 32))),
                    helper.make_node("MatMul", ["x", f"w_{b}"], [f"y_{b}"]),
                ],
                b,
                [],
                [helper.make_tensor_value_info(f"y_{b}", TensorProto.FLOAT, [2, 32])],
            )
            for b in ("then", "else")
        ]
        graph = helper.make_graph(
            [helper.make_node("If", ["cond"], ["y"], then_branch=branches[0], else_branch=branches[1])],
            "branches",
            [
                helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 40]),
                helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            ],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 32])],
        )
        return _model(graph), {"x": _weight(2, 40), "cond": np.array(False)}
    dtype, elem = (np.float16, TensorProto.FLOAT16) if case == "fp16" else (np.float32, TensorProto.FLOAT)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "matmul",
        [helper.make_tensor_value_info("x", elem, [2, 40])],  # K = 40: blocks of 16 end in a partial block
        [helper.make_tensor_value_info("y", elem, [2, 48])],
        initializer=[numpy_helper.from_array(_weight(40, 48).astype(dtype), "w")],
    )
    return _model(graph), {"x": _weight(2, 40).astype(dtype)}


FOLD_CASES = [
    ("matmul", WeightOnlyInt8Config()),
    ("matmul", WeightOnlyInt4Config(block_size=16)),
    ("fp16", WeightOnlyInt8Config()),
    ("fp16", WeightOnlyInt4Config(block_size=16)),
    ("lstm", WeightOnlyInt8Config()),
    ("lstm", WeightOnlyInt4Config(block_size=16)),
    ("if-branches", WeightOnlyInt8Config()),
    ("if-branches", WeightOnlyInt4Config(block_size=16)),
]


@pytest.mark.parametrize(("case", "config"), FOLD_CASES, ids=[f"{c}-{k.storage}" for c, k in FOLD_CASES])
def test_a_default_ort_session_folds_every_expansion_to_the_dequantized_weights(case, config, tmp_path: Path) -> None:
    """Issue 19: a plain InferenceSession(path) must run the weights as float initializers, computed once at load:
    nothing of the expansion (Cast, Mul, Expand, Reshape, Slice) is left in the graph ORT runs, in If bodies too.
    The folded weights are exactly q * scale: ORT, onnx.reference and numpy agree."""
    model, feeds = _graph_case(case)
    quantized, report = quantize_weights(model, config)
    assert report.quantized and report.form == "cast"
    assert len(_expansion_casts(quantized)) == len(report.quantized)
    assert not _dequantize_nodes(quantized)
    if config.storage == "int4" and case != "lstm":
        assert "Slice" in _ops(quantized)  # 40 = 2 x 16 + 8: the last block's scales are cropped
    # ORT runs the same nodes as for the float graph (fp16: its own Casts around the fp16 MatMul, in both)
    # (ORT writes a float Constant node back as it was: stored tensors, not computation, so not compared)
    ran, float_ran = (sorted(op for op in _op_list(_ort_optimized(m, tmp_path)) if op != "Constant") for m in (quantized, model))
    assert ran == float_ran
    ort_out = session_from_onnx(quantized.SerializeToString()).run(None, feeds)
    reference_out = onnx.reference.ReferenceEvaluator(quantized).run(None, feeds)
    for a, e in zip(ort_out, reference_out, strict=True):
        np.testing.assert_allclose(a.astype(np.float32), e.astype(np.float32), atol=2e-3 if case == "fp16" else 1e-5)
    assert all(t.max_abs_error > 0 for t in report.quantized)  # the report measures the stored weights' error
    if case != "if-branches":  # the report's bytes are the stored values and scales (fp16: float32 scales)
        stored = {i.name: len(i.raw_data) for i in quantized.graph.initializer}
        for t in report.quantized:
            assert t.bytes_after == stored[f"{t.name}_quantized"] + stored[f"{t.name}_scale"]


def test_expanded_weights_equal_q_times_scale(tmp_path: Path) -> None:
    """The expansion's output, read as a graph output, is exactly the quantizer's q * scale (int8 per channel and
    int4 blocks with a partial last block)."""
    for config, q_scale in (
        (WeightOnlyInt8Config(), lambda w: quantize_int8_per_channel(w, 1)),
        (WeightOnlyInt4Config(block_size=16), lambda w: quantize_int4_blockwise(w, 0, 16)),
    ):
        model, _ = _graph_case("matmul")
        w = numpy_helper.to_array(model.graph.initializer[0])
        quantized, _ = quantize_weights(model, config)
        (mul,) = [n for n in quantized.graph.node if n.op_type == "Mul"]
        quantized.graph.output.append(helper.make_tensor_value_info(mul.output[0], TensorProto.FLOAT, [40, 48]))
        q, scale = q_scale(w)
        spread = scale.reshape(1, -1) if config.storage == "int8" else np.repeat(scale, 16, axis=0)[:40]
        feeds = {"x": np.zeros((2, 40), np.float32)}
        for runner in (session_from_onnx(quantized.SerializeToString()), onnx.reference.ReferenceEvaluator(quantized)):
            np.testing.assert_array_equal(runner.run(None, feeds)[-1], q.astype(np.float32) * spread)


def test_the_dequantize_form_is_kept_for_comparison_and_ort_leaves_it_unfolded(tmp_path: Path) -> None:
    """Why the published form changed: without session.disable_quant_qdq ORT keeps DequantizeLinear and runs it
    on every call. The DequantizeLinear form still raises int8 graphs to opset 19 (onnx.reference)."""
    model, feeds = _graph_case("matmul")
    quantized, report = quantize_weights(model, WeightOnlyInt8Config(), form=DEQUANTIZE)
    assert report.form == DEQUANTIZE and report.opset_after == 19 and len(_dequantize_nodes(quantized)) == 1
    # kept as DequantizeLinear, or fused with the MatMul into MatMulNBits: either way not the float graph's MatMul
    assert _ops(_ort_optimized(quantized, tmp_path)) & {"DequantizeLinear", "MatMulNBits"}
    assert "behind DequantizeLinear" in report.notes()[0]
    cast, cast_report = quantize_weights(model, WeightOnlyInt8Config())
    assert cast_report.opset_after == 17 and "Cast and Mul" in cast_report.notes()[0]  # int8 casts need no new opset
    np.testing.assert_allclose(
        session_from_onnx(cast.SerializeToString()).run(None, feeds)[0],
        session_from_onnx(quantized.SerializeToString()).run(None, feeds)[0],
        atol=1e-5,
    )


@pytest.mark.parametrize("config", [WeightOnlyInt8Config(), WeightOnlyInt4Config(block_size=16)], ids=lambda c: c.storage)
def test_the_ort_format_file_loads_runs_and_keeps_int8_weights_small(config, tmp_path: Path) -> None:
    """The bundle's .ort (convert_to_ort): int8 weights stay int8 (ConstantFolding off at conversion, else the .ort
    would hold float32 weights); int4 is folded because the ORT format cannot store 4-bit tensors, and still loads."""
    from edgelstm.artifact.runners import convert_to_ort
    from edgelstm.artifact.session import SessionSettings

    model, feeds = _graph_case("lstm")
    quantized, _ = quantize_weights(model, config)
    sizes = {}
    for name, graph in (("float", model), ("quantized", quantized)):
        onnx.save(graph, str(tmp_path / f"{name}.onnx"))
        ort_file = convert_to_ort(tmp_path / f"{name}.onnx", tmp_path)
        sizes[name] = ort_file.stat().st_size
        session = session_from_onnx(ort_file, SessionSettings(graph_optimization="disable"))  # as a minimal build loads it
        np.testing.assert_allclose(
            session.run(None, feeds)[0], onnx.reference.ReferenceEvaluator(graph).run(None, feeds)[0], atol=1e-5
        )
    if config.storage == "int8":
        # 10 kB of float weights, 2.5 kB int8 (+ scales and the file's own ~2-4 kB): folded, it would be >= float
        assert sizes["quantized"] < sizes["float"] * 0.65, sizes
    else:
        assert sizes["quantized"] >= sizes["float"] * 0.9, sizes  # float32 weights: said so in convert_to_ort


def test_a_plain_session_carries_no_session_entry_and_ort_default_threads(tmp_path: Path) -> None:
    """SessionSettings.ort_defaults(): what InferenceSession(path) gets. An old DequantizeLinear artifact gets
    edgelstm's disable_quant_qdq entry in edgelstm's session, but not in a plain one (that is what a user has)."""
    from edgelstm.artifact.session import SessionSettings

    model, _ = _graph_case("matmul")
    old, _ = quantize_weights(model, WeightOnlyInt8Config(), form=DEQUANTIZE)
    serialized = old.SerializeToString()
    ours = session_from_onnx(serialized).get_session_options()
    assert ours.get_session_config_entry("session.disable_quant_qdq") == "1" and ours.intra_op_num_threads == 1
    for threads in (0, 1):
        options = session_from_onnx(serialized, SessionSettings.ort_defaults(threads)).get_session_options()
        assert options.intra_op_num_threads == threads
        for key in ("session.disable_quant_qdq", "session.intra_op.allow_spinning"):
            with pytest.raises(RuntimeError, match="does not have configuration"):
                options.get_session_config_entry(key)


def test_artifacts_are_recognised_as_int8_or_int4_without_dequantize_linear() -> None:
    """The gate's tolerances follow the detected precision: a Cast + Mul int8 graph must not be judged as fp32."""
    from edgelstm.artifact.file import detect_precision

    model, _ = _graph_case("if-branches")  # weights as Constants inside If branches
    assert detect_precision(model) == "fp32"
    assert detect_precision(quantize_weights(model, WeightOnlyInt8Config())[0]) == "int8"
    assert detect_precision(quantize_weights(model, WeightOnlyInt4Config(block_size=16))[0]) == "int4"
