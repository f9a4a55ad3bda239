"""GPTQ on weights stored in other axes than their slot's: a 2-D matrix reaching a fused LSTM's 3-D W through
Unsqueeze, and R through a Slice/Concat gate reordering (torch's export of nn.LSTM, silero-vad's decoder), and a
matrix whose rows are split between layers that read different inputs (one summed H would be wrong: nearest)."""

from __future__ import annotations

import numpy as np
import onnx
import onnx_ir as ir
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from edgelstm.artifact.file import generic_interface
from edgelstm.quantize.calibration import CalibrationSource, gather_moments
from edgelstm.quantize.config import WeightOnlyInt8Config
from edgelstm.quantize.plan import RoundingPlan
from edgelstm.quantize.rounding import WeightLayout
from edgelstm.quantize.rounding_plan import plan_rounding
from edgelstm.quantize.weight_only import quantize_weights
from edgelstm.quantize.weight_rows import slot_rows

HIDDEN, FEATURES, STEPS = 8, 16, 60
MIXING = np.random.default_rng(21).standard_normal((3, FEATURES))


def _inputs(rng: np.random.Generator, batch: int) -> np.ndarray:
    """[steps, batch, features] whose features are strongly correlated (3 latent factors and a little noise)."""
    latent = rng.standard_normal((STEPS, batch, 3))
    return (latent @ MIXING + 0.05 * rng.standard_normal((STEPS, batch, FEATURES))).astype(np.float32)


def _lstm_through_layout_ops() -> onnx.ModelProto:
    """LSTM whose W is Unsqueeze(W2 [4H, F]) and R is Unsqueeze(Concat(gates of R2 [4H, H] reordered by Slice))."""
    rng = np.random.default_rng(20)
    w2 = (rng.standard_normal((4 * HIDDEN, FEATURES)) * 0.4).astype(np.float32)
    r2 = (rng.standard_normal((4 * HIDDEN, HIDDEN)) * 0.4).astype(np.float32)
    consts = {"zero": [0], "h": [HIDDEN], "h2": [2 * HIDDEN], "h4": [4 * HIDDEN]}
    nodes = [helper.make_node("Unsqueeze", ["W2", "zero"], ["W"])]
    for k, (start, end) in enumerate((("zero", "h"), ("h2", "h4"), ("h", "h2"))):  # gates i, (o, c), f -> i o c f
        nodes.append(helper.make_node("Slice", ["R2", start, end, "zero"], [f"gate{k}"]))
    nodes += [
        helper.make_node("Concat", ["gate0", "gate1", "gate2"], ["R_reordered"], axis=0),
        helper.make_node("Unsqueeze", ["R_reordered", "zero"], ["R"]),
        helper.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=HIDDEN),
    ]
    initializers = [numpy_helper.from_array(w2, "W2"), numpy_helper.from_array(r2, "R2")]
    initializers += [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in consts.items()]
    graph = helper.make_graph(
        nodes,
        "lstm_layout",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [STEPS, "b", FEATURES])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [STEPS, 1, "b", HIDDEN])],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _plan(model: onnx.ModelProto, rounding: str, x: np.ndarray) -> tuple[WeightOnlyInt8Config, RoundingPlan]:
    config = WeightOnlyInt8Config(rounding=rounding, granularity="channel")  # type: ignore[arg-type]
    source = CalibrationSource(generic_interface(model), [{"x": x}], None, "correlated rows")
    return config, plan_rounding(model, config, gather_moments(model, source))


def _with_weights(model: onnx.ModelProto, weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    copy = onnx.ModelProto.FromString(model.SerializeToString())
    for tensor in copy.graph.initializer:
        if tensor.name in weights:
            tensor.CopyFrom(numpy_helper.from_array(weights[tensor.name].astype(np.float32), tensor.name))
    return copy


def test_gptq_plan_in_stored_axes_reaches_an_lstm_through_unsqueeze_and_gate_reordering() -> None:
    model = _lstm_through_layout_ops()
    x = _inputs(np.random.default_rng(22), 8)
    config, plan = _plan(model, "gptq", x)
    assert plan.uncalibrated == {}
    assert {n: (w.rounding, w.q.shape) for n, w in plan.weights.items()} == {
        "W2": ("gptq", (4 * HIDDEN, FEATURES)),
        "R2": ("gptq", (4 * HIDDEN, HIDDEN)),
    }
    quantized, report = quantize_weights(model, config, plan=plan)
    assert {t.name: t.rounding for t in report.quantized} == {"W2": "gptq", "R2": "gptq"}
    # The artifact computes what the plan computed: the float graph with the plan's dequantized weights.
    held_out = _inputs(np.random.default_rng(23), 4)
    (got,) = ReferenceEvaluator(quantized).run(None, {"x": held_out})
    planned = _with_weights(model, {n: w.dequantized() for n, w in plan.weights.items()})
    (want,) = ReferenceEvaluator(planned).run(None, {"x": held_out})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_gptq_through_layout_ops_beats_nearest_on_held_out_correlated_inputs() -> None:
    model = _lstm_through_layout_ops()
    x = _inputs(np.random.default_rng(22), 8)
    (_, gptq), (_, nearest) = _plan(model, "gptq", x), _plan(model, "nearest", x)
    w2 = numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == "W2")).astype(np.float64)
    held_out = _inputs(np.random.default_rng(24), 8).reshape(-1, FEATURES).astype(np.float64)
    # W's own output error (x W^T) on inputs calibration never saw, from the same source.
    errors = [float(np.square(held_out @ (p.weights["W2"].dequantized() - w2).T).mean()) for p in (nearest, gptq)]
    assert errors[1] < 0.5 * errors[0]
    # And the LSTM's output, end to end.
    (reference,) = ReferenceEvaluator(model).run(None, {"x": held_out.reshape(STEPS, 8, FEATURES).astype(np.float32)})
    drift = []
    for plan in (nearest, gptq):
        rounded = _with_weights(model, {n: w.dequantized() for n, w in plan.weights.items()})
        (y,) = ReferenceEvaluator(rounded).run(None, {"x": held_out.reshape(STEPS, 8, FEATURES).astype(np.float32)})
        drift.append(float(np.square(y - reference).mean()))
    assert drift[1] < drift[0]


def _matmuls_sharing(split_rows: bool) -> onnx.ModelProto:
    """M [K=16, N=16] used by x1 @ . and x2 @ . (x1, x2 different inputs): whole by both, or its output channels
    (columns, MatMul B's rows in the matrix view) split 0:8 to the first, 8:16 to the second."""
    m = np.random.default_rng(25).standard_normal((16, 16)).astype(np.float32)
    nodes, initializers = [], [numpy_helper.from_array(m, "M")]
    if split_rows:
        bounds = {"s0": 0, "s8": 8, "s16": 16, "one": 1}
        initializers += [numpy_helper.from_array(np.array([v], np.int64), n) for n, v in bounds.items()]
        nodes += [
            helper.make_node("Slice", ["M", "s0", "s8", "one"], ["Ma"]),
            helper.make_node("Slice", ["M", "s8", "s16", "one"], ["Mb"]),
        ]
    nodes += [
        helper.make_node("MatMul", ["x1", "Ma" if split_rows else "M"], ["y1"]),
        helper.make_node("MatMul", ["x2", "Mb" if split_rows else "M"], ["y2"]),
    ]
    n = 8 if split_rows else 16
    graph = helper.make_graph(
        nodes,
        "shared",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n", 16]) for name in ("x1", "x2")],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n", n]) for name in ("y1", "y2")],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_rows_split_between_layers_with_different_inputs_fall_back_to_nearest_with_the_reason() -> None:
    rng = np.random.default_rng(26)
    feeds = {"x1": rng.standard_normal((64, 16)).astype(np.float32), "x2": _inputs(rng, 2).reshape(-1, 16)[:64].copy()}
    config = WeightOnlyInt8Config(rounding="gptq", granularity="channel")
    for split_rows, rounding in ((True, "nearest"), (False, "gptq")):  # whole by both: the summed H is every row's
        model = _matmuls_sharing(split_rows)
        moments = gather_moments(model, CalibrationSource(generic_interface(model), [feeds], None, "rows"))
        plan = plan_rounding(model, config, moments)
        assert plan.weights["M"].rounding == rounding
        _, report = quantize_weights(model, config, plan=plan)
        assert [t.rounding for t in report.quantized] == [rounding]
        if split_rows:
            assert "split between layers that read different inputs" in plan.uncalibrated["M"]
            assert any(f"{plan.uncalibrated['M']}: 1" in note for note in plan.notes())  # the reason, in the result
        else:
            assert plan.uncalibrated == {}


def test_rows_reaching_a_slot_are_followed_through_slice_concat_and_unsqueeze() -> None:
    model = _lstm_through_layout_ops()
    graph = ir.from_proto(model).graph
    stored = graph.initializers["R2"]
    layout = WeightLayout((4 * HIDDEN, HIDDEN), 0, (1,), 1)
    lstm = next(n for n in graph if n.op_type == "LSTM")
    assert slot_rows(stored, layout, lstm.inputs[2]) == frozenset(range(4 * HIDDEN))  # every gate row, reordered
    model.graph.node[3].input[1:3] = ["zero", "h"]  # the third gate now repeats the first: rows 8:16 never reach R
    graph = ir.from_proto(model).graph
    lstm = next(n for n in graph if n.op_type == "LSTM")
    assert slot_rows(graph.initializers["R2"], layout, lstm.inputs[2]) == frozenset(range(HIDDEN)) | frozenset(range(16, 32))
    assert slot_rows(graph.initializers["W2"], layout, lstm.inputs[2]) is None  # R holds nothing of W2
