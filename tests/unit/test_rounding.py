"""Scale granularity and error-compensating rounding (edgelstm.quantize.rounding, rounding_plan, calibration) and
the calibration / gate split (edgelstm.quantize.split)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx_ir as ir
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from edgelstm.artifact.file import generic_interface
from edgelstm.errors import ConfigError
from edgelstm.jsonio import to_jsonable
from edgelstm.parity.data import SequenceData
from edgelstm.parity.speech_corpus import builtin_speech
from edgelstm.parity.stream_data import Segment, StreamData, StreamRow
from edgelstm.quantize.calibration import CalibrationSource, _im2col, gather_moments
from edgelstm.quantize.config import WeightOnlyInt4Config, WeightOnlyInt8Config, config_from_dict
from edgelstm.quantize.rounding import WeightLayout, round_weight
from edgelstm.quantize.rounding_plan import plan_rounding
from edgelstm.quantize.split import check_disjoint, check_disjoint_rows, split_sequences, split_stream, stream_split
from edgelstm.quantize.weight_only import quantize_weights

MIXING = np.random.default_rng(99).standard_normal((4, 64))


def _correlated_inputs(rng: np.random.Generator, rows: int, features: int) -> np.ndarray:
    """Inputs whose features are strongly correlated: 4 latent factors mixed the same way every call, a little noise."""
    latent = rng.standard_normal((rows, 4))
    return latent @ MIXING[:, :features] + 0.05 * rng.standard_normal((rows, features))


@pytest.mark.parametrize("storage, block", [("int8", 0), ("int4", 16)])
def test_gptq_beats_nearest_on_correlated_inputs(storage: str, block: int) -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 24)).astype(np.float32)  # MatMul B [K=64, N=24]
    layout = WeightLayout(w.shape, 1, (0,), 0)
    calibration, held_out = _correlated_inputs(rng, 2000, 64), _correlated_inputs(rng, 2000, 64)
    hessian = calibration.T @ calibration / len(calibration)
    nearest = round_weight(w, layout, storage, block, hessian, "nearest")
    gptq = round_weight(w, layout, storage, block, hessian, "gptq")
    assert nearest.scale.shape == gptq.scale.shape and nearest.q.dtype == gptq.q.dtype == np.int8  # equal storage
    errors = [float(np.square(held_out @ (r.dequantized() - w)).mean()) for r in (nearest, gptq)]
    assert errors[1] < 0.5 * errors[0]  # on inputs calibration never saw, from the same source
    assert gptq.output_error < nearest.output_error


def test_gptq_with_identity_statistics_is_round_to_nearest() -> None:
    w = np.random.default_rng(1).standard_normal((16, 32)).astype(np.float32)
    layout = WeightLayout(w.shape, 0, (1,), 1)
    nearest = round_weight(w, layout, "int8", 0, None, "nearest")
    gptq = round_weight(w, layout, "int8", 0, np.eye(32), "gptq", damp=0.0)
    np.testing.assert_array_equal(nearest.q, gptq.q)


def _two_matmuls(outlier: bool = True) -> onnx.ModelProto:
    """x [N, 64] -> x @ A and x @ B; A's input channel 5 carries a planted outlier, B is plain."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((64, 16)).astype(np.float32)
    if outlier:
        a[5] *= 40.0
    b = rng.standard_normal((64, 16)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "A"], ["ya"]), helper.make_node("MatMul", ["x", "B"], ["yb"])],
        "two",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 64])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", 16]) for n in ("ya", "yb")],
        [numpy_helper.from_array(a, "A"), numpy_helper.from_array(b, "B")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_blocks_where_an_input_channel_outlier_sits_channel_elsewhere() -> None:
    config = WeightOnlyInt8Config(granularity="auto", block_size=16, max_extra_scales=0.5)
    plan = plan_rounding(_two_matmuls(), config)
    assert plan.weights["A"].granularity == "block" and plan.weights["A"].block_size == 16
    assert plan.weights["B"].granularity == "channel"
    assert plan_rounding(_two_matmuls(outlier=False), config).weights["A"].granularity == "channel"
    tight = WeightOnlyInt8Config(granularity="auto", block_size=16, max_extra_scales=0.0)  # no room for scales
    assert plan_rounding(_two_matmuls(), tight).weights["A"].granularity == "channel"


def test_planned_blocks_and_gptq_reach_the_graph_and_run_as_computed() -> None:
    model = _two_matmuls()
    x = _correlated_inputs(np.random.default_rng(3), 256, 64).astype(np.float32)
    source = CalibrationSource(generic_interface(model), [{"x": x}], None, "test rows")
    config = WeightOnlyInt8Config(rounding="gptq", granularity="block", block_size=16)
    plan = plan_rounding(model, config, gather_moments(model, source))
    assert {w.rounding for w in plan.weights.values()} == {"gptq"}
    quantized, report = quantize_weights(model, config, plan=plan)
    assert sorted(t.block_size for t in report.quantized) == [16, 16]
    # The published (Cast) form spreads each block's scale over its 16 input channels with one Expand.
    assert sum(n.op_type == "Expand" for n in quantized.graph.node) == 2
    assert {t.rounding for t in report.quantized} == {"gptq"}
    (ya, _) = ReferenceEvaluator(quantized).run(None, {"x": x})
    np.testing.assert_allclose(ya, x @ plan.weights["A"].dequantized().astype(np.float32), rtol=1e-4, atol=1e-3)


def _if_model() -> onnx.ModelProto:
    """y = x @ W16 if sr == 16000 else x @ W8: weights inside the If branches, as silero-vad keeps them."""
    rng = np.random.default_rng(4)

    def branch(name: str) -> onnx.GraphProto:
        array = rng.standard_normal((32, 8)).astype(np.float32)
        array[3] *= 40.0  # an input-channel outlier: blocks would pay off if measured
        w = numpy_helper.from_array(array, name)
        return helper.make_graph(
            [helper.make_node("Constant", [], [name], value=w), helper.make_node("MatMul", ["x", name], [f"y_{name}"])],
            name,
            [],
            [helper.make_tensor_value_info(f"y_{name}", TensorProto.FLOAT, None)],
        )

    nodes = [
        helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.array(16000, np.int64))),
        helper.make_node("Equal", ["sr", "k"], ["is16"]),
        helper.make_node("If", ["is16"], ["y"], then_branch=branch("W16"), else_branch=branch("W8")),
    ]
    graph = helper.make_graph(
        nodes,
        "if",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 32]),
            helper.make_tensor_value_info("sr", TensorProto.INT64, []),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 8])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_if_body_weights_get_gptq_for_the_branch_the_calls_take() -> None:
    model = _if_model()
    x = _correlated_inputs(np.random.default_rng(5), 128, 32).astype(np.float32)
    source = CalibrationSource(generic_interface(model), [{"x": x, "sr": np.array(16000, np.int64)}], None, "rows")
    moments = gather_moments(model, source)
    assert moments.opened_branches == 1
    np.testing.assert_allclose(moments.second_moment("W16"), x.T.astype(np.float64) @ x / len(x), rtol=1e-4)
    plan = plan_rounding(model, WeightOnlyInt8Config(rounding="gptq"), moments)
    assert plan.weights["W16"].rounding == "gptq"
    assert plan.weights["W8"].rounding == "nearest" and "W8" in plan.uncalibrated  # never run: said so
    blocks = WeightOnlyInt8Config(rounding="gptq", granularity="auto", block_size=8, max_extra_scales=1.0)
    auto = plan_rounding(model, blocks, moments)
    assert auto.weights["W8"].granularity == "channel"  # never reached: no measured gain, no bytes spent on blocks
    assert auto.weights["W16"].granularity == "block"
    _, report = quantize_weights(model, WeightOnlyInt8Config(rounding="gptq"), plan=plan)
    assert {t.name: t.rounding for t in report.quantized} == {"W16": "gptq", "W8": "nearest"}
    assert onnx.load_from_string(model.SerializeToString()).graph.node[2].op_type == "If"  # the original untouched


def test_recurrent_weight_statistics_come_from_the_previous_hidden_state() -> None:
    """R of a fused LSTM sees h_{t-1}: initial_h first, then Y shifted one step."""
    rng = np.random.default_rng(6)
    hidden, features, steps = 8, 4, 5
    weights = {n: rng.standard_normal(s).astype(np.float32) * 0.5 for n, s in (("W", (1, 32, features)), ("R", (1, 32, hidden)))}
    graph = helper.make_graph(
        [helper.make_node("LSTM", ["x", "W", "R", "", "", "h0"], ["y"], hidden_size=hidden)],
        "lstm",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [steps, 1, features]),
            helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, 1, hidden]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [steps, 1, 1, hidden])],
        [numpy_helper.from_array(v, n) for n, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x, h0 = rng.standard_normal((steps, 1, features)).astype(np.float32), rng.standard_normal((1, 1, hidden)).astype(np.float32)
    source = CalibrationSource(generic_interface(model), [{"x": x, "h0": h0}], None, "rows")
    moments = gather_moments(model, source)
    (y,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x, "h0": h0})
    previous = np.concatenate([h0[0], y[:-1, 0, 0]]).astype(np.float64)
    np.testing.assert_allclose(moments.second_moment("R"), previous.T @ previous / steps, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(moments.second_moment("W"), x[:, 0].T.astype(np.float64) @ x[:, 0] / steps, rtol=1e-4)


def test_weight_only_rounding_options_round_trip_json_and_name_the_artifact() -> None:
    config = WeightOnlyInt8Config(rounding="gptq", granularity="auto", block_size=16, max_extra_scales=0.01)
    assert config_from_dict(to_jsonable(config)) == config
    assert config.tag == "weight-only-int8-gptq-auto" and WeightOnlyInt8Config().tag == "weight-only-int8"
    assert config_from_dict(to_jsonable(WeightOnlyInt4Config(rounding="gptq"))) == WeightOnlyInt4Config(rounding="gptq")
    for bad in ({"rounding": "adaround"}, {"granularity": "tensor"}, {"max_extra_scales": 2.0}):
        with pytest.raises(ConfigError):
            WeightOnlyInt8Config(**bad)  # type: ignore[arg-type]


def test_sequence_split_keeps_calibration_and_gate_rows_apart() -> None:
    x = np.arange(30 * 4 * 2, dtype=np.float32).reshape(30, 4, 2)
    data = SequenceData(x, None, np.arange(30), "rows.npz", "abc")
    calibration, gate, split = split_sequences(data)
    assert calibration.count + gate.count == 30 and calibration.count == 10
    assert not {r.tobytes() for r in calibration.x} & {r.tobytes() for r in gate.x}
    assert "rows 0-27 step 3" in split.calibration and split.calibration_sha256 != split.gate_sha256
    with pytest.raises(ConfigError, match="both calibrate and gate"):
        check_disjoint_rows(np.array([0, 3]), np.array([1, 3]))
    with pytest.raises(ConfigError):
        split_sequences(SequenceData(x[:1], None, None, "one.npz"))


def test_stream_split_and_builtin_calibration_audio_are_apart_from_the_gate() -> None:
    calibration, gate, split = split_stream(
        StreamData(np.random.default_rng(7).standard_normal((1, 9000)).astype(np.float32), "a.npy"), 512, 16_000
    )
    assert calibration.samples == 2560 and gate.samples == 9000 - 2560 and "samples 0-2560" in split.calibration
    builtin = stream_split(builtin_speech("calibration", 1.0, 16_000, 512), builtin_speech("gate", 1.0, 16_000, 512))
    assert builtin.calibration_sha256 != builtin.gate_sha256 and "calibration stream" in builtin.calibration
    same = builtin_speech("gate", 1.0, 16_000, 512)
    with pytest.raises(ConfigError, match="also calibration rows"):
        stream_split(same, same)
    with pytest.raises(ConfigError):
        check_disjoint(gate.x, gate.x)


@pytest.mark.parametrize("attrs", [{}, {"strides": [2], "pads": [1, 2], "dilations": [2]}, {"auto_pad": "SAME_UPPER"}])
def test_conv_inputs_unfold_in_the_weight_column_order(attrs: dict) -> None:
    """im2col rows times the weight's matrix view are the Conv's outputs: the statistics line up with its columns."""
    rng = np.random.default_rng(9)
    w = rng.standard_normal((6, 4, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "W"], ["y"], kernel_shape=[3], **attrs)],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4, 11])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = rng.standard_normal((2, 4, 11)).astype(np.float32)
    (y,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    node = ir.from_proto(model).graph.node(0)
    columns = _im2col(x.astype(np.float64), node)
    expected = np.transpose(y, (0, 2, 1)).reshape(-1, 6)  # [N * positions, O]
    np.testing.assert_allclose(columns @ w.reshape(6, -1).T, expected, rtol=1e-4, atol=1e-4)


def test_bias_correction_removes_the_mean_output_shift_of_rounding() -> None:
    rng = np.random.default_rng(10)
    b = rng.standard_normal((24, 8)).astype(np.float32)
    c = rng.standard_normal(8).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "B", "C"], ["y"])],
        "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 24])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 8])],
        [numpy_helper.from_array(b, "B"), numpy_helper.from_array(c, "C")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = (_correlated_inputs(rng, 512, 24) + 3.0).astype(np.float32)  # inputs with a mean: rounding shifts outputs
    source = CalibrationSource(generic_interface(model), [{"x": x}], None, "rows")
    plan = plan_rounding(model, WeightOnlyInt4Config(rounding="gptq", block_size=8), gather_moments(model, source))
    assert set(plan.bias) == {"C"}
    quantized, _ = quantize_weights(model, WeightOnlyInt4Config(rounding="gptq", block_size=8), plan=plan)
    (y,) = ReferenceEvaluator(quantized).run(None, {"x": x})
    shift = (x @ plan.weights["B"].dequantized() - x @ b).mean(axis=0)  # what rounding alone does to the outputs
    assert np.abs(shift).max() > 1e-3
    np.testing.assert_allclose((y - (x @ b + c)).mean(axis=0), 0.0, atol=1e-4)


def test_stream_split_keeps_each_part_s_row_descriptions_in_its_own_samples() -> None:
    segments = (Segment("speech", 0, 3000, {}), Segment("silence", 3000, 9000, {}))
    one = StreamData(np.zeros((1, 9000), np.float32), "a.npy", rows=(StreamRow("voice a", {}, segments),))
    calibration, gate, _ = split_stream(one, 512, 16_000)
    assert [(s.kind, s.start, s.end) for s in calibration.rows[0].segments] == [("speech", 0, 2560)]
    assert [(s.kind, s.start, s.end) for s in gate.rows[0].segments] == [("speech", 0, 440), ("silence", 440, 6440)]
    rows = tuple(StreamRow(f"voice {k}", {}) for k in range(6))
    several = StreamData(np.arange(6 * 600, dtype=np.float32).reshape(6, 600), "b.npy", rows=rows)
    calibration, gate, split = split_stream(several, 512, 16_000)
    assert [r.name for r in calibration.rows] == ["voice 0", "voice 3"] and len(gate.rows) == 4
    assert "rows 0,3" in split.calibration and "rows 1,2,4,5" in split.gate


def test_mixed_ranks_each_layer_at_the_rounding_the_mix_will_get(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With layer statistics, each single-layer variant of mixed's ranking is GPTQ-rounded like the published mix:
    a layer that only fails at round-to-nearest must not be kept in float for it."""
    from edgelstm.quantize import sensitivity

    model = _two_matmuls(outlier=False)
    rng = np.random.default_rng(5)
    x = _correlated_inputs(rng, 512, 64).astype(np.float32)
    held_out = _correlated_inputs(rng, 512, 64).astype(np.float32)
    source_path = tmp_path / "fp32.onnx"
    onnx.save(model, str(source_path))
    (float_a, float_b) = ReferenceEvaluator(model).run(None, {"x": held_out})

    def no_metadata(_quantized: onnx.ModelProto, _metadata: object) -> None:  # a bare graph needs no interface here
        return None

    class OutputErrorGate:  # the layer's held-out output error, as a share of its output's size
        def run(self, path: Path) -> dict[str, object]:
            ya, yb = ReferenceEvaluator(onnx.load(str(path))).run(None, {"x": held_out})
            error = max(
                float(np.abs(ya - float_a).max() / np.abs(float_a).max()),
                float(np.abs(yb - float_b).max() / np.abs(float_b).max()),
            )
            return {"passed": True, "max_rel_error": error}

    monkeypatch.setattr(sensitivity, "attach_metadata", no_metadata)
    moments = gather_moments(model, CalibrationSource(generic_interface(model), [{"x": x}], None, "test rows"))
    args = (source_path, None, OutputErrorGate(), 256, 16, ("int8",))
    nearest = sensitivity.measure_sensitivity(*args)
    gptq = sensitivity.measure_sensitivity(*args, rounding="gptq", moments=moments)
    assert [layer.name for layer in nearest] == [layer.name for layer in gptq] and len(gptq) == 2
    for n_layer, g_layer in zip(nearest, gptq, strict=True):
        assert g_layer.cost["int8"] < 0.5 * n_layer.cost["int8"]  # the GPTQ variant is what was gated
    # without statistics there is nothing to round with: the ranking stays at nearest, as the mix itself would
    again = sensitivity.measure_sensitivity(*args, rounding="gptq", moments=None)
    assert [layer.cost for layer in again] == [layer.cost for layer in nearest]
