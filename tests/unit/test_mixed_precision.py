"""Per-layer sensitivity and mixed precision: the weight filter, the greedy choice, the gated publish."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgelstm.artifact.session import session_from_onnx
from edgelstm.errors import ConfigError
from edgelstm.quantize.config import WeightOnlyMixedConfig, config_from_dict
from edgelstm.quantize.mixed import initial_choice, mixed_config, raise_one
from edgelstm.quantize.sensitivity import LayerSensitivity
from edgelstm.quantize.weight_only import NOT_SELECTED, quantize_weights, weight_layers

RNG = np.random.default_rng(0)


def _weight(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32) * 0.2


def _branchy_model() -> onnx.ModelProto:
    """A Conv, then an If whose branches each hold a MatMul weight and an LSTM (W and R): four layers."""
    hidden = 16

    def branch(tag: str) -> onnx.GraphProto:
        return helper.make_graph(
            [
                helper.make_node("MatMul", ["h", f"m_{tag}"], [f"p_{tag}"], name=f"{tag}_matmul"),
                helper.make_node("Unsqueeze", [f"p_{tag}", "one"], [f"s_{tag}"]),
                helper.make_node(
                    "LSTM", [f"s_{tag}", f"w_{tag}", f"r_{tag}"], ["", f"y_{tag}"], hidden_size=hidden, name=f"{tag}_lstm"
                ),
            ],
            tag,
            [],
            [helper.make_tensor_value_info(f"y_{tag}", TensorProto.FLOAT, [1, 4, hidden])],
            initializer=[
                numpy_helper.from_array(_weight(64, 32), f"m_{tag}"),
                numpy_helper.from_array(_weight(1, 4 * hidden, 32), f"w_{tag}"),
                numpy_helper.from_array(_weight(1, 4 * hidden, hidden), f"r_{tag}"),
            ],
        )

    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "conv_w"], ["c"], name="conv", pads=[1, 1]),
            helper.make_node("Flatten", ["c"], ["h"], axis=1),
            helper.make_node("If", ["cond"], ["y"], then_branch=branch("then"), else_branch=branch("else")),
        ],
        "branchy",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16, 4]),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, hidden])],
        initializer=[
            numpy_helper.from_array(_weight(16, 16, 3), "conv_w"),
            numpy_helper.from_array(np.array([1], np.int64), "one"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def test_layers_group_each_nodes_weights_inside_if_bodies_too() -> None:
    layers = weight_layers(_branchy_model(), min_elements=256)
    assert {name: sorted(t.name for t in tensors) for name, tensors in layers.items()} == {
        "conv": ["conv_w"],
        "then_matmul": ["m_then"],
        "then_lstm": ["r_then", "w_then"],
        "else_matmul": ["m_else"],
        "else_lstm": ["r_else", "w_else"],
    }


def test_only_listed_weights_are_quantized_each_at_its_own_precision() -> None:
    model = _branchy_model()
    config = WeightOnlyMixedConfig(
        min_elements=256, block_size=16, precisions=(("w_then", "int4"), ("r_then", "int4"), ("m_else", "int8"))
    )
    quantized, report = quantize_weights(model, config)
    assert sorted((t.name, t.storage) for t in report.quantized) == [("m_else", "int8"), ("r_then", "int4"), ("w_then", "int4")]
    assert {k.name for k in report.kept if k.reason == NOT_SELECTED} == {"conv_w", "m_then", "r_else", "w_else"}
    assert next(o.version for o in quantized.opset_import if o.domain == "") == 21  # Cast from INT4 needs 21
    onnx.checker.check_model(quantized, full_check=True)
    feeds = {"x": _weight(4, 16, 4)}
    for cond in (True, False):
        feeds["cond"] = np.array(cond)
        expected = session_from_onnx(model.SerializeToString()).run(None, feeds)[0]
        actual = session_from_onnx(quantized.SerializeToString()).run(None, feeds)[0]
        np.testing.assert_allclose(actual, expected, atol=0.05)
    int8_only, _ = quantize_weights(model, WeightOnlyMixedConfig(min_elements=256, precisions=(("m_else", "int8"),)))
    assert next(o.version for o in int8_only.opset_import if o.domain == "") == 17  # int8 Cast + Mul: the source's opset


def test_mixed_config_round_trips_and_refuses_unknown_precisions() -> None:
    config = WeightOnlyMixedConfig(precisions=(("a", "int8"), ("b", "int4")))
    assert config_from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ConfigError, match="choose int8 or int4"):
        WeightOnlyMixedConfig(precisions=(("a", "int2"),))


def _layer(name: str, int8: float, int4: float, size: int = 1000) -> LayerSensitivity:
    alone = {"int8": {"passed": int8 <= 1.0}, "int4": {"passed": int4 <= 1.0}}
    return LayerSensitivity(name, [f"{name}_w"], size, alone, {"int8": int8, "int4": int4})


def test_greedy_starts_each_layer_at_what_it_survives_alone_and_raises_the_costliest() -> None:
    robust, middling, fragile, unreached = (
        _layer("a", 0.1, 0.5),
        _layer("b", 0.3, 2.0),
        _layer("c", 3.0, 9.0),
        _layer("d", 0.0, 0.0),
    )
    layers = [robust, middling, fragile, unreached]
    for layer in layers:
        layer.chosen = initial_choice(layer, "size")
    # the unreached layer's cost is unknown (the data never runs it): int8, as whole-graph weight-only would
    assert [la.chosen for la in layers] == ["int4", "int8", "float", "int8"]
    assert initial_choice(robust, "speed") == "int8"
    assert dict(mixed_config(layers).precisions) == {"a_w": "int4", "b_w": "int8", "d_w": "int8"}
    assert raise_one(layers) and robust.chosen == "int8"  # int4 at 0.5 was the costliest current choice
    assert raise_one(layers) and middling.chosen == "float"
    while raise_one(layers):
        pass
    assert all(la.chosen == "float" for la in layers)
