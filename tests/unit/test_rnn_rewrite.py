"""Fused LSTM/GRU -> Loop rewrite: valid ONNX, same outputs as ONNX Runtime's fused kernels, honest refusals."""

from __future__ import annotations

import io

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from edgelstm.artifact.session import session_from_onnx
from edgelstm.artifact.walk import model_nodes
from edgelstm.export.rnn_rewrite import rewrite_fused_rnns
from edgelstm.quantize.graph_facts import op_counts

LENGTHS = (1, 7, 50)
BATCHES = (1, 3)
TOL = 1e-5
INPUT, HIDDEN = 5, 8


def _all_ops(model: onnx.ModelProto) -> list[str]:
    return [node.op_type for node in model_nodes(model)]


def _assert_valid(model: onnx.ModelProto) -> None:
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return session_from_onnx(model.SerializeToString()).run(None, feeds)


def _assert_same(original: onnx.ModelProto, rewritten: onnx.ModelProto, make_feeds) -> None:
    rng = np.random.default_rng(0)
    for steps in LENGTHS:
        for batch in BATCHES:
            feeds = make_feeds(rng, steps, batch)
            expected, actual = _run(original, feeds), _run(rewritten, feeds)
            assert len(expected) == len(actual)
            for e, a in zip(expected, actual, strict=True):
                assert e.shape == a.shape, (steps, batch)
                np.testing.assert_allclose(a, e, atol=TOL, rtol=0, err_msg=f"T={steps} B={batch}")


def _torch_graph(cell: str, layers: int, batch_first: bool, bidirectional: bool = False) -> onnx.ModelProto:
    torch.manual_seed(layers + 2 * batch_first)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            rnn_cls = torch.nn.GRU if cell == "gru" else torch.nn.LSTM
            self.rnn = rnn_cls(INPUT, HIDDEN, num_layers=layers, batch_first=batch_first, bidirectional=bidirectional)

        def forward(self, x: torch.Tensor, h0: torch.Tensor):  # h0 given: initial_h is a graph input
            if cell == "gru":
                return self.rnn(x, h0)
            return self.rnn(x, (h0, torch.tanh(h0)))

    net = Net().eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "bias" in name:
                p.add_(0.3)  # biases away from zero so a bias in the wrong gate shows
    d = 2 if bidirectional else 1
    example = (torch.randn(2, 3, INPUT), torch.randn(layers * d, 2 if batch_first else 3, HIDDEN))
    buf = io.BytesIO()
    time_axis, batch_axis = (1, 0) if batch_first else (0, 1)
    torch.onnx.export(
        net,
        example,
        buf,
        dynamo=False,
        input_names=["x", "h0"],
        dynamic_axes={"x": {time_axis: "T", batch_axis: "B"}, "h0": {1: "B"}},
        opset_version=17,
    )
    return onnx.load_from_string(buf.getvalue())


def _torch_feeds(layers: int, batch_first: bool, d: int = 1):
    def make(rng: np.random.Generator, steps: int, batch: int) -> dict[str, np.ndarray]:
        shape = (batch, steps, INPUT) if batch_first else (steps, batch, INPUT)
        return {
            "x": rng.standard_normal(shape).astype(np.float32),
            "h0": rng.standard_normal((layers * d, batch, HIDDEN)).astype(np.float32),
        }

    return make


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("batch_first", [False, True])
def test_torch_rnn_rewritten_matches_fused(cell: str, layers: int, batch_first: bool) -> None:
    original = _torch_graph(cell, layers, batch_first)
    assert op_counts(original)[cell.upper()] == layers
    rewritten, report = rewrite_fused_rnns(original)
    assert len(report.rewritten) == layers and not report.refused
    assert cell.upper() not in _all_ops(rewritten) and _all_ops(rewritten).count("Loop") == layers
    _assert_valid(rewritten)
    _assert_same(original, rewritten, _torch_feeds(layers, batch_first))
    # graph outputs keep their names: callers address them by name
    assert [o.name for o in rewritten.graph.output] == [o.name for o in original.graph.output]


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_bidirectional_rewritten_matches_fused(cell: str) -> None:
    original = _torch_graph(cell, 2, False, bidirectional=True)
    rewritten, report = rewrite_fused_rnns(original)
    assert [r.endswith("(bidirectional)") for r in report.rewritten] == [True, True]
    assert _all_ops(rewritten).count("Loop") == 4  # one per direction per layer
    _assert_valid(rewritten)
    _assert_same(original, rewritten, _torch_feeds(2, False, d=2))


# Hand-built single-node graphs: what torch never exports (sequence_lens, peepholes, reverse, layout=1, ...).


def _fused_graph(
    op: str,
    direction: str = "forward",
    *,
    seq_lens: bool = False,
    peephole: bool = False,
    linear_before_reset: int = 1,
    layout: int = 0,
    weights_as_inputs: bool = False,
    **extra_attrs: object,
) -> onnx.ModelProto:
    rng = np.random.default_rng(7)
    d = 2 if direction == "bidirectional" else 1
    gates = 4 if op == "LSTM" else 3
    w = rng.standard_normal((d, gates * HIDDEN, INPUT)).astype(np.float32) * 0.5
    r = rng.standard_normal((d, gates * HIDDEN, HIDDEN)).astype(np.float32) * 0.5
    b = rng.standard_normal((d, 2 * gates * HIDDEN)).astype(np.float32) * 0.5
    x_shape = ["B", "T", INPUT] if layout else ["T", "B", INPUT]
    state_shape = ["B", d, HIDDEN] if layout else [d, "B", HIDDEN]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)]
    inits = [onnx.numpy_helper.from_array(b, "B")]
    if weights_as_inputs:
        inputs.append(helper.make_tensor_value_info("W", TensorProto.FLOAT, list(w.shape)))
    else:
        inits.append(onnx.numpy_helper.from_array(w, "W"))
    nodes = [helper.make_node("Constant", [], ["R"], value=onnx.numpy_helper.from_array(r))]  # R as a Constant node
    if seq_lens:
        inputs.append(helper.make_tensor_value_info("lens", TensorProto.INT32, ["B"]))
    inputs.append(helper.make_tensor_value_info("h0", TensorProto.FLOAT, state_shape))
    node_inputs = ["x", "W", "R", "B", "lens" if seq_lens else "", "h0"]
    outputs = ["Y", "Y_h"]
    attrs: dict[str, object] = {"hidden_size": HIDDEN, "direction": direction, "layout": layout, **extra_attrs}
    if op == "LSTM":
        inputs.append(helper.make_tensor_value_info("c0", TensorProto.FLOAT, state_shape))
        node_inputs.append("c0")
        outputs.append("Y_c")
        if peephole:
            inits.append(onnx.numpy_helper.from_array(rng.standard_normal((d, 3 * HIDDEN)).astype(np.float32), "P"))
            node_inputs.append("P")
    else:
        attrs["linear_before_reset"] = linear_before_reset
    nodes.append(helper.make_node(op, node_inputs, outputs, name=f"the_{op.lower()}", **attrs))
    y_shape = ["B", "T", d, HIDDEN] if layout else ["T", d, "B", HIDDEN]
    graph_outputs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, y_shape)] + [
        helper.make_tensor_value_info(o, TensorProto.FLOAT, state_shape) for o in outputs[1:]
    ]
    graph = helper.make_graph(nodes, "fused", inputs, graph_outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _fused_feeds(model: onnx.ModelProto, layout: int = 0):
    d_axis = 1 if layout else 0
    names = [i.name for i in model.graph.input]
    d = model.graph.input[names.index("h0")].type.tensor_type.shape.dim[d_axis].dim_value

    def make(rng: np.random.Generator, steps: int, batch: int) -> dict[str, np.ndarray]:
        state = (batch, d, HIDDEN) if layout else (d, batch, HIDDEN)
        feeds = {
            "x": rng.standard_normal((batch, steps, INPUT) if layout else (steps, batch, INPUT)).astype(np.float32),
            "h0": rng.standard_normal(state).astype(np.float32),
        }
        if "c0" in names:
            feeds["c0"] = rng.standard_normal(state).astype(np.float32)
        if "lens" in names:
            # one full-length sequence, the others shorter (at least 1 step), so masking and freezing both show
            feeds["lens"] = np.array([steps] + [max(1, steps - 3 * k) for k in range(1, batch)], np.int32)
        return feeds

    return make


CASES = {
    "gru-forward-lens": ("GRU", "forward", {"seq_lens": True}),
    "gru-bidirectional-lens": ("GRU", "bidirectional", {"seq_lens": True}),
    "gru-reverse": ("GRU", "reverse", {}),
    "gru-reset-first": ("GRU", "forward", {"linear_before_reset": 0}),
    "gru-reset-first-bidirectional-lens": ("GRU", "bidirectional", {"linear_before_reset": 0, "seq_lens": True}),
    "lstm-forward-lens": ("LSTM", "forward", {"seq_lens": True}),
    "lstm-bidirectional-lens": ("LSTM", "bidirectional", {"seq_lens": True}),
    "lstm-peephole-bidirectional": ("LSTM", "bidirectional", {"peephole": True}),
    "lstm-reverse-lens": ("LSTM", "reverse", {"seq_lens": True}),
    "lstm-default-activations-spelled-out": ("LSTM", "forward", {"activations": ["Sigmoid", "Tanh", "Tanh"]}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fused_node_rewritten_matches_ort(case: str) -> None:
    op, direction, kw = CASES[case]
    original = _fused_graph(op, direction, **kw)
    rewritten, report = rewrite_fused_rnns(original)
    assert report.rewritten == [f"{op} the_{op.lower()} ({direction})"] and not report.refused
    assert op not in _all_ops(rewritten)
    _assert_valid(rewritten)
    _assert_same(original, rewritten, _fused_feeds(original))


@pytest.mark.parametrize("op", ["GRU", "LSTM"])
def test_batch_major_layout_matches_reference(op: str) -> None:
    """ORT's fused kernels reject layout=1, so the onnx reference implementation is the judge here."""
    from onnx.reference import ReferenceEvaluator

    original = _fused_graph(op, "forward", layout=1)
    rewritten, report = rewrite_fused_rnns(original)
    assert len(report.rewritten) == 1
    _assert_valid(rewritten)
    make = _fused_feeds(original, layout=1)
    rng = np.random.default_rng(3)
    for steps, batch in ((1, 1), (7, 3)):
        feeds = make(rng, steps, batch)
        expected = ReferenceEvaluator(original).run(None, feeds)
        for e, a in zip(expected, _run(rewritten, feeds), strict=True):
            assert e.shape == a.shape
            np.testing.assert_allclose(a, e, atol=TOL, rtol=0)


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"clip": 3.0}, "clip"),
        ({"activations": ["Sigmoid", "Relu", "Tanh"]}, "activations"),
        ({"input_forget": 1}, "input_forget"),
        ({"weights_as_inputs": True}, "W is not a constant"),
    ],
)
def test_unsupported_node_left_fused_with_reason(kw: dict, reason: str) -> None:
    original = _fused_graph("LSTM", "forward", **kw)
    rewritten, report = rewrite_fused_rnns(original)
    assert not report.rewritten
    assert [r.name for r in report.refused] == ["the_lstm"] and reason in report.refused[0].reason
    assert reason in report.lines()[0]
    assert op_counts(rewritten)["LSTM"] == 1 and "Loop" not in _all_ops(rewritten)


def test_graph_without_fused_rnn_is_returned_unchanged() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]))
    rewritten, report = rewrite_fused_rnns(model)
    assert rewritten is model and report.lines() == []


def test_node_inside_if_branches_is_rewritten() -> None:
    """silero-vad keeps its LSTM inside If branches (one per sample rate): nested graphs are reached too."""
    inner = _fused_graph("GRU", "forward")
    branches = []
    for k, scale in enumerate((1.0, -1.0)):
        g = onnx.GraphProto()
        g.CopyFrom(inner.graph)
        g.name = f"branch{k}"
        # Branch graphs have no inputs: they read x and h0 from the outer scope, the weights are their own.
        del g.input[:]
        for init in g.initializer:
            init.name = f"{init.name}_{k}"
            arr = onnx.numpy_helper.to_array(init) * scale
            init.CopyFrom(onnx.numpy_helper.from_array(arr, init.name))
        for node in g.node:
            node.input[:] = [f"{i}_{k}" if i in ("W", "B") else i for i in node.input]
            node.output[:] = [f"{o}_{k}" if o in ("R", "Y", "Y_h") else o for o in node.output]
            node.input[:] = [f"{i}_{k}" if i == "R" else i for i in node.input]
            node.name = f"{node.name}_{k}"
        for out in g.output:
            out.name = f"{out.name}_{k}"
        branches.append(g)
    cond = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])
    if_node = helper.make_node("If", ["cond"], ["Y", "Y_h"], then_branch=branches[0], else_branch=branches[1])
    graph = helper.make_graph([if_node], "outer", [cond, *inner.graph.input], list(inner.graph.output))
    original = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    rewritten, report = rewrite_fused_rnns(original)
    assert len(report.rewritten) == 2 and not report.refused
    assert "GRU" not in _all_ops(rewritten) and _all_ops(rewritten).count("Loop") == 2
    _assert_valid(rewritten)
    make = _fused_feeds(inner)
    for flag in (True, False):
        _assert_same(original, rewritten, lambda rng, t, b, flag=flag: {**make(rng, t, b), "cond": np.array(flag)})


@pytest.mark.parametrize("name", ["silero_vad.onnx", "silero_vad_16k_op15.onnx"])
def test_silero_vad_lstms_are_rewritten_and_match(name: str) -> None:
    """silero-vad builds its LSTM weights from Constant nodes with Slice/Concat/Unsqueeze (folded here), and
    silero_vad.onnx keeps them inside If branches (one per sample rate)."""
    silero_vad = pytest.importorskip("silero_vad", reason="silero-vad is not installed (pip install -e '.[examples]')")
    from pathlib import Path

    original = onnx.load(str(Path(silero_vad.__file__).parent / "data" / name))
    rewritten, report = rewrite_fused_rnns(original)
    assert report.rewritten and not report.refused
    assert "LSTM" not in _all_ops(rewritten)
    onnx.checker.check_model(rewritten, full_check=True)
    # no bigger than the source: the old weight chains are dropped, weights shared by two LSTM nodes stay shared
    assert rewritten.ByteSize() <= original.ByteSize()
    rng = np.random.default_rng(0)
    rates = ((16000, 512), (8000, 256)) if name == "silero_vad.onnx" else ((16000, 512),)
    for rate, chunk in rates:
        feeds = {
            "input": rng.standard_normal((1, chunk)).astype(np.float32) * 0.1,
            "state": rng.standard_normal((2, 1, 128)).astype(np.float32) * 0.5,
            "sr": np.array(rate, np.int64),
        }
        for e, a in zip(_run(original, feeds), _run(rewritten, feeds), strict=True):
            np.testing.assert_allclose(a, e, atol=TOL, rtol=0, err_msg=f"sr={rate}")


# -- dynamic int8 on a user's GRU: rewritten to the Loop form first, so its MatMuls run in int8 ----------------------


def _user_gru_file(path, clip: float | None = None):
    """A user's module (GRU + linear head) exported by torch.onnx; big enough that int8 weights make it smaller."""
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = torch.nn.GRU(32, 96, batch_first=True)
            self.head = torch.nn.Linear(96, 3)

        def forward(self, x: torch.Tensor, h0: torch.Tensor):
            y, h = self.rnn(x, h0)
            return self.head(y), h

    torch.onnx.export(
        Net().eval(),
        (torch.randn(1, 8, 32), torch.zeros(1, 1, 96)),
        str(path),
        dynamo=False,
        input_names=["x", "h0"],
        output_names=["logits", "hn"],
        dynamic_axes={"x": {0: "B", 1: "T"}, "h0": {1: "B"}, "logits": {0: "B", 1: "T"}, "hn": {1: "B"}},
        opset_version=17,
    )
    if clip is not None:
        model = onnx.load(str(path))
        gru = next(n for n in model.graph.node if n.op_type == "GRU")
        gru.attribute.append(helper.make_attribute("clip", clip))
        onnx.save(model, str(path))
    return path


def _body_ops(model: onnx.ModelProto) -> list[str]:
    loop = next(n for n in model.graph.node if n.op_type == "Loop")
    return [n.op_type for n in loop.attribute[0].g.node]


def test_dynamic_int8_quantizes_a_users_fused_gru_through_the_loop_form(tmp_path) -> None:
    from edgelstm.artifact.hints import InterfaceHints
    from edgelstm.quantize import DynamicInt8Config, quantize

    source = _user_gru_file(tmp_path / "gru.onnx")
    result = quantize(source, DynamicInt8Config(), tmp_path / "out", foreign=InterfaceHints(states=(("h0", "hn"),)))
    assert result.path is not None and result.notes[0].startswith("fused GRU rewritten to a Loop")
    quantized = onnx.load(str(result.path))
    assert "GRU" not in _all_ops(quantized)
    assert "MatMulInteger" in _body_ops(quantized)  # the recurrent matmul itself runs in int8, inside the Loop
    assert result.size_bytes < result.source_bytes / 2
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((3, 20, 32)).astype(np.float32), "h0": np.zeros((1, 3, 96), np.float32)}
    for e, q in zip(_run(onnx.load(str(source)), feeds), _run(quantized, feeds), strict=True):
        snr_db = 10 * np.log10(np.sum(e.astype(np.float64) ** 2) / np.sum((q.astype(np.float64) - e) ** 2))
        assert 25 < snr_db < 80  # int8 noise, not a broken graph and not a float graph


def test_dynamic_int8_refuses_a_gru_it_cannot_rewrite_with_the_reason(tmp_path) -> None:
    from edgelstm.artifact.hints import InterfaceHints
    from edgelstm.quantize import DynamicInt8Config, SchemeRefused, quantize

    source = _user_gru_file(tmp_path / "gru.onnx", clip=5.0)
    with pytest.raises(SchemeRefused, match="no int8 kernel for the fused GRU op, and it cannot be rewritten.*clip"):
        quantize(source, DynamicInt8Config(), tmp_path / "out", foreign=InterfaceHints(states=(("h0", "hn"),)))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# -- unrolled: the same step written out for a fixed number of steps, no control flow ---------------------------

UNROLL_STEPS = 7


def _assert_same_at(original: onnx.ModelProto, rewritten: onnx.ModelProto, make_feeds, steps: int) -> None:
    rng = np.random.default_rng(1)
    for batch in BATCHES:
        feeds = make_feeds(rng, steps, batch)
        for e, a in zip(_run(original, feeds), _run(rewritten, feeds), strict=True):
            assert e.shape == a.shape, batch
            np.testing.assert_allclose(a, e, atol=TOL, rtol=0, err_msg=f"T={steps} B={batch}")


@pytest.mark.parametrize("case", sorted(CASES))
def test_fused_node_unrolled_matches_ort(case: str) -> None:
    op, direction, kw = CASES[case]
    original = _fused_graph(op, direction, **kw)
    unrolled, report = rewrite_fused_rnns(original, unroll_steps=UNROLL_STEPS)
    assert report.lines() == [f"rewritten to {UNROLL_STEPS} unrolled steps: {op} the_{op.lower()} ({direction})"]
    ops = _all_ops(unrolled)
    assert op not in ops and "Loop" not in ops
    # one recurrent MatMul (two for a reset-first GRU) per step and direction: the recurrence is written out
    per_step = 2 if op == "GRU" and kw.get("linear_before_reset") == 0 else 1
    directions = 2 if direction == "bidirectional" else 1
    assert ops.count("MatMul") == directions * (1 + per_step * UNROLL_STEPS)
    _assert_valid(unrolled)
    _assert_same_at(original, unrolled, _fused_feeds(original), UNROLL_STEPS)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_torch_rnn_unrolled_matches_fused(cell: str) -> None:
    original = _torch_graph(cell, 2, True)
    unrolled, report = rewrite_fused_rnns(original, unroll_steps=UNROLL_STEPS)
    assert len(report.rewritten) == 2 and "Loop" not in _all_ops(unrolled)
    _assert_valid(unrolled)
    _assert_same_at(original, unrolled, _torch_feeds(2, True), UNROLL_STEPS)
