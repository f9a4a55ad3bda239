"""Per-layer sensitivity and mixed precision: the weight filter, the greedy choice, the gated publish."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgelstm.artifact.session import session_from_onnx
from edgelstm.errors import ConfigError
from edgelstm.jsonio import to_jsonable
from edgelstm.parity.stream_verdict import StreamCheckConfig
from edgelstm.quantize.api import Gate, QuantizeResult
from edgelstm.quantize.config import WeightOnlyInt8Config, WeightOnlyMixedConfig, config_from_dict
from edgelstm.quantize.mixed import initial_choice, lower_while_passing, lowering_steps, mixed_config, raise_one
from edgelstm.quantize.rounding_plan import plan_rounding
from edgelstm.quantize.sensitivity import LayerSensitivity, task_cost
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
    assert config_from_dict(json.loads(json.dumps(to_jsonable(config)))) == config
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


def test_a_stream_layers_cost_is_its_worst_voice_not_the_whole_stream() -> None:
    """The streaming gate holds the budget per voice: 3 flips in one 300-decision voice spend that voice's whole
    budget, though they are a fifth of the stream's 15."""
    gate = cast(Gate, SimpleNamespace(config=StreamCheckConfig()))  # task_cost reads the budget only
    quiet = {"name": "voice low", "flips": 0, "decisions": 300, "max_abs_delta": 0.01}
    hard = {"name": "voice child", "flips": 3, "decisions": 300, "max_abs_delta": 0.02}
    summary = {"flips": 3, "decisions": 1500, "max_abs_delta": 0.02, "rows": [quiet, hard]}
    assert task_cost(summary, gate) == pytest.approx(1.0)
    assert task_cost({**summary, "rows": [quiet]}, gate) == pytest.approx(0.2)  # the stream alone: 3 of 15


def _outlier_conv_and_matmul() -> onnx.ModelProto:
    """A 1x1 Conv whose input channels carry outliers (blocks pay off, but cost 6 % extra scales of its own
    elements) beside a large MatMul: within 2 % of the graph's weights, not of the conv's."""
    conv_w = _weight(8, 256, 1)
    conv_w[:, ::64, :] *= 40.0  # one outlier input channel per block of 64
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "conv_w"], ["c"], name="conv"),
            helper.make_node("Flatten", ["c"], ["f"], axis=1),
            helper.make_node("MatMul", ["f", "big_w"], ["y"], name="big"),
        ],
        "outliers",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 256])],
        initializer=[numpy_helper.from_array(conv_w, "conv_w"), numpy_helper.from_array(_weight(256, 256), "big_w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_mixed_layer_gets_the_blocks_it_gets_in_whole_graph_int8_whatever_else_the_mix_holds() -> None:
    """mixed ranks each layer alone and publishes mixes of some layers: the block allowance (2 % extra scales) is
    a share of the graph's weights, so the conv's blocks do not depend on whether the MatMul is in the mix."""
    model = _outlier_conv_and_matmul()
    whole = plan_rounding(model, WeightOnlyInt8Config(granularity="auto", block_size=16))
    alone = plan_rounding(model, WeightOnlyMixedConfig(granularity="auto", block_size=16, precisions=(("conv_w", "int8"),)))
    assert whole.weights["conv_w"].granularity == "block"
    assert alone.weights["conv_w"].granularity == "block"  # 120 extra scales: 6 % of the conv, 0.2 % of the graph
    assert set(alone.weights) == {"conv_w"}


def _passing_when(rule: Callable[[dict[str, str]], bool], layers: list[LayerSensitivity], log: list[dict[str, str]]):
    def trial() -> QuantizeResult:
        mix = {layer.name: layer.chosen for layer in layers}
        log.append(mix)
        return QuantizeResult("mixed", {}, "src", 1, parity={"passed": rule(mix)}, parity_passed=rule(mix))

    return trial


def test_lowering_keeps_a_layer_that_fails_alone_where_the_mix_still_passes() -> None:
    """Costs do not add up: a layer over budget alone (inconclusive) can fit in the mix; a resolved failure alone,
    a step below objective speed's int8 and a layer the data never reaches are not tried."""
    inconclusive = _layer("a", 1.6, 20.0, size=500_000)
    inconclusive.alone["int8"]["verdict"], inconclusive.alone["int4"]["verdict"] = "inconclusive", "FAIL"
    refused = _layer("b", 2.2, 30.0)
    refused.alone["int8"]["verdict"] = "FAIL"
    unreached = _layer("c", 0.0, 0.0)
    small = _layer("d", 0.5, 1.5, size=4000)
    small.alone["int4"]["verdict"] = "inconclusive"
    layers = [inconclusive, refused, unreached, small]
    for layer, chosen in zip(layers, ("float", "float", "int8", "int8"), strict=True):
        layer.chosen = chosen
    assert [(la.name, step) for la, step in lowering_steps(layers, "speed")] == [("a", "int8")]
    log: list[dict[str, str]] = []
    lower_while_passing(layers, _passing_when(lambda mix: mix["d"] != "int4", layers, log), "size")
    assert [la.chosen for la in layers] == ["int8", "float", "int8", "int8"]
    # a (cost 1.6 over 375 kB saved) before d (1.5 over 2 kB); each step tried once, d's int4 put back
    assert [(m["a"], m["d"]) for m in log] == [("int8", "int8"), ("int8", "int4")]


def test_search_ranks_and_publishes_mixes_at_blocked_gptq_int8_and_only_the_last_passing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With calibration data mixed's int8 is auto's rounded int8 (GPTQ, blocks where they pay): the per-layer
    ranking and every mix get it; trials are gated in a scratch folder and only the mix that passed last is
    published in out_dir (with a sidecar naming where it is)."""
    from edgelstm.quantize import mixed

    ranked: dict[str, object] = {}
    layers = [_layer("a", 1.6, 20.0, size=500_000), _layer("b", 0.2, 9.0), _layer("c", 0.4, 0.9, size=2000)]
    layers[0].alone["int8"]["verdict"] = "inconclusive"
    layers[0].alone["int4"]["verdict"], layers[1].alone["int4"]["verdict"] = "FAIL", "inconclusive"

    def sensitivity(*_args: object, **kwargs: object) -> list[LayerSensitivity]:
        ranked.update(kwargs)
        return layers

    calls: list[tuple[Path, WeightOnlyMixedConfig]] = []

    def fake_quantize(_model: object, config: WeightOnlyMixedConfig, out: Path, *_a: object, **_k: object) -> QuantizeResult:
        calls.append((Path(out), config))
        ok = dict(config.precisions)["b_w"] != "int4"  # lowering b fails the mix: the mix before it is published
        result = QuantizeResult("mixed", to_jsonable(config), "src", 1, parity={"passed": ok}, parity_passed=ok)
        if ok:
            result.path = Path(out) / "m.onnx"
            result.path.write_bytes(repr(config.precisions).encode())
        return result

    monkeypatch.setattr(mixed, "_fp32_source", lambda *_a: (tmp_path / "fp32.onnx", None))
    monkeypatch.setattr(mixed, "_ranking_moments", lambda *_a: object())
    monkeypatch.setattr(mixed, "measure_sensitivity", sensitivity)
    monkeypatch.setattr(mixed, "quantize", fake_quantize)
    result = mixed.search_mixed(tmp_path / "model.onnx", cast(Gate, SimpleNamespace()), tmp_path / "out", rounding="gptq")
    assert ranked["granularity"] == "auto" and ranked["rounding"] == "gptq"
    assert {config.granularity for _, config in calls} == {"auto"}
    both = {"a_w": "int8", "b_w": "int8", "c_w": "int4"}
    # a starts at int8 and b at int4 (inconclusive alone); that mix fails, b is raised and the mix passes; lowering b
    # again would be the mix that failed: not gated twice
    tried = [{**both, "b_w": "int4"}, both]
    assert [dict(config.precisions) for _, config in calls] == tried
    assert all(out != tmp_path / "out" for out, _ in calls)  # every trial in the scratch folder
    published = tmp_path / "out" / "m.onnx"
    assert result.result is not None and result.result.path == published and result.published_trial == 1
    assert published.read_bytes() == repr(tuple(both.items())).encode()
    assert json.loads(published.with_suffix(".quant.json").read_text())["path"] == str(published)


def test_a_layer_starts_quantized_unless_it_failed_alone_on_resolved_evidence() -> None:
    """Inconclusive alone (4-6 flips of a hard voice's 313 against 3 allowed: the data cannot tell) starts at that
    precision, as a pass does; a resolved FAIL starts one step up. On equal costs the smaller layer is raised."""
    unresolved, refuted = _layer("a", 1.6, 20.0, size=264_000), _layer("b", 2.2, 30.0, size=49_000)
    unresolved.alone["int8"]["verdict"], unresolved.alone["int4"]["verdict"] = "inconclusive", "FAIL"
    refuted.alone["int8"]["verdict"] = refuted.alone["int4"]["verdict"] = "FAIL"
    assert (initial_choice(unresolved, "size"), initial_choice(refuted, "size")) == ("int8", "float")
    big, small = _layer("c", 1.6, 9.0, size=264_000), _layer("d", 1.6, 9.0, size=49_000)
    big.chosen = small.chosen = "int8"
    assert raise_one([big, small]) and (big.chosen, small.chosen) == ("int8", "float")


def test_a_layer_alone_is_gated_in_both_int8_forms_and_its_mixes_keep_the_one_that_costs_the_task_less(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """granularity auto picks blocks by output error on calibration inputs; the task may disagree (silero's
    encoder.2: 0 flips alone per channel, 8 with blocks). A layer auto gives blocks is gated both ways and its
    mixes store the cheaper form; a layer without blocks is gated once."""
    from edgelstm.quantize import sensitivity

    model = _outlier_conv_and_matmul()
    source = tmp_path / "fp32.onnx"
    onnx.save(model, str(source))
    gated: list[str] = []

    class BlocksHurtGate:  # the task cost of a variant: the per-channel conv is the better one here
        def run(self, path: Path) -> dict[str, object]:
            gated.append(path.name)
            return {"passed": True, "max_rel_error": 0.1 if path.name.endswith("-channel.onnx") else 0.5}

    monkeypatch.setattr(sensitivity, "attach_metadata", lambda *_a: None)  # a bare graph needs no interface here
    args = (source, None, BlocksHurtGate(), 256, 16, ("int8",))
    layers = {la.name: la for la in sensitivity.measure_sensitivity(*args, granularity="auto")}  # type: ignore[arg-type]
    assert sorted(gated) == ["0-int8-channel.onnx", "0-int8.onnx", "1-int8.onnx"]
    conv, big = layers["conv"], layers["big"]
    assert conv.int8_form == "channel" and conv.cost["int8"] == 0.1 and conv.int8_forms == {"blocks": 0.5, "channel": 0.1}
    assert big.int8_form == "" and big.cost["int8"] == 0.5
    conv.chosen = big.chosen = "int8"
    config = mixed_config([conv, big], 256, 16, granularity="auto")
    assert config.channel == ("conv_w",)
    assert plan_rounding(model, config).weights["conv_w"].granularity == "channel"  # blocks withheld in the mix
    assert config_from_dict(json.loads(json.dumps(to_jsonable(config)))) == config
