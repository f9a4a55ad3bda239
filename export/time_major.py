"""Make a streaming graph's data time-major where it only reaches the fused LSTM/GRU nodes through a layout Transpose.

torch.onnx writes `nn.LSTM(batch_first=True)` as `x [B, T, F] -> Transpose(perm [1, 0, 2]) -> LSTM` and
`LSTM -> Squeeze(axis 1) -> Transpose(perm [1, 0, 2]) -> Linear -> output [B, T, C]`: two copies per call whose only
job is the caller's layout. The fused nodes read and write `[T, B, ...]`, so a graph that takes and gives its data
time-major runs neither (issue 21). This pass drops such Transposes: the data input becomes `[T, B, F]`, and each
per-step output whose value left a fused node through `Squeeze -> Transpose` becomes `[T, B, ...]`; ops between the
Transpose and the graph's input or output that act on the last axis only (a Linear's MatMul and Add, activations,
a softmax over features) commute with the swap of axes 0 and 1 and stay. Between two batch_first layers of the
user's own, the Transpose back to batch-first and the one to time-major undo each other: both go. The interface
then declares `layout="time_major"` and every caller's batch-first arrays go through `edgelstm.artifact.layout`.

A graph whose data reaches the recurrent nodes any other way (silero-vad: convolutions first) is left as it is, with
the reason. An output the pass cannot trace back to a fused node (pooled, computed from several values) stays
batch-first while the data input turns; the interface marks each output by its own shape. Only axes 0 and 1 of
rank-3 values are ever swapped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import onnx
import onnx_ir as ir
from onnx_ir import convenience

from edgelstm.artifact.interface import GraphInterface, TensorSpec
from edgelstm.errors import first_line

_FUSED = ("LSTM", "GRU", "RNN")
_LAYOUT_PERM = (1, 0, 2)
# Ops that act on each (time, batch) row alone when their other operands are constants over the last axis only.
_UNARY = {
    "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Abs", "Neg", "Identity", "Cast", "Softplus", "Softsign", "LeakyRelu",
    "Elu", "Selu", "HardSigmoid", "HardSwish", "Gelu", "Erf", "Sqrt", "Reciprocal", "Clip",
}  # fmt: skip
_BINARY = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"}
_LAST_AXIS_REDUCERS = {"Softmax", "LogSoftmax"}


@dataclass(frozen=True)
class TimeMajorRewrite:
    """What the pass did: the data input and outputs it made time-major and the Transposes it dropped, or why not."""

    applied: bool
    data_input: str = ""
    outputs: tuple[str, ...] = ()  # graph outputs now `[T, B, ...]`
    removed: tuple[str, ...] = ()  # the Transpose nodes dropped
    reason: str = ""  # why the graph was left batch-first

    def describe(self) -> str:
        """One line for `export`: the layout written and why."""
        if not self.applied:
            return f"batch-first, as the source graph ({self.reason})"
        turned = ", ".join([self.data_input, *self.outputs])
        return f"time-major ({turned}: [time, batch, ...]; {len(self.removed)} layout Transpose(s) dropped)"


NOT_RUN = TimeMajorRewrite(False, reason="not run")


class TimeMajorDataPass(ir.passes.InPlacePass):
    """Drops the layout Transposes between `data_input` (and the per-step outputs) and the fused recurrent nodes;
    `self.rewrite` says what it did. The state inputs and outputs are not touched."""

    def __init__(self, data_input: str) -> None:
        super().__init__()
        self.data_input = data_input
        self.rewrite = NOT_RUN

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        """Rewrite `model` in place when the data input's path qualifies; otherwise leave it untouched."""
        self.rewrite = make_time_major(model.graph, self.data_input)
        return ir.passes.PassResult(model, modified=self.rewrite.applied)


def time_major_model(
    model: onnx.ModelProto, interface: GraphInterface
) -> tuple[onnx.ModelProto, GraphInterface, TimeMajorRewrite]:
    """`model` (a batch-first streaming graph) and its interface with the data made time-major where the pass
    applies; the model and interface unchanged, with the reason, where it does not."""
    data = interface.data_input
    if interface.layout == "time_major":
        return model, interface, TimeMajorRewrite(False, reason="time-major already")
    if len(data.shape) != 3 or data.shape[0] != "batch" or interface.context:
        why = f"its data input {data.name} {data.shape} is not [batch, time, features] without context"
        return model, interface, TimeMajorRewrite(False, reason=why)
    ir_model = ir.from_proto(model)
    layout_pass = TimeMajorDataPass(data.name)
    layout_pass(ir_model)
    rewrite = layout_pass.rewrite
    if not rewrite.applied:
        return model, interface, rewrite
    turned = ir.to_proto(ir_model)
    try:
        onnx.checker.check_model(turned, full_check=True)
    except onnx.checker.ValidationError as exc:
        return model, interface, TimeMajorRewrite(False, reason=f"the time-major graph failed onnx.checker: {first_line(exc)}")
    return turned, time_major_interface(interface, rewrite), rewrite


def time_major_interface(interface: GraphInterface, rewrite: TimeMajorRewrite) -> GraphInterface:
    """The batch-first `interface` as the rewritten graph takes it: the data input and the turned outputs
    `[chunk, batch, ...]`, `layout="time_major"` (so `edgelstm.artifact.layout` turns callers' arrays)."""

    def turned(spec: TensorSpec) -> TensorSpec:
        if spec.name != rewrite.data_input and spec.name not in rewrite.outputs:
            return spec
        return replace(spec, shape=["chunk", "batch", *spec.shape[2:]])

    inputs = [turned(t) for t in interface.inputs]
    outputs = [turned(t) for t in interface.outputs]
    return replace(interface, inputs=inputs, outputs=outputs, layout="time_major")


def make_time_major(graph: ir.Graph, data_input: str) -> TimeMajorRewrite:
    """The rewrite on `graph` (main graph only); see the module docstring."""
    data = next((v for v in graph.inputs if v.name == data_input), None)
    if data is None:
        return TimeMajorRewrite(False, reason=f"no graph input {data_input!r}")
    found = _input_transpose(data)
    if isinstance(found, str):
        return TimeMajorRewrite(False, reason=found)
    transpose, chain = found
    outputs = [(value, hit) for value in graph.outputs if (hit := _output_transpose(value)) is not None]
    names = tuple(v.name or "" for v, _ in outputs)  # before _drop moves a name onto the value before it
    removed = [_drop(graph, transpose, [data, *chain])]
    for value, (node, out_chain) in outputs:
        removed.append(_drop(graph, node, [*out_chain, value]))
    removed += _cancel_pairs(graph)
    return TimeMajorRewrite(True, data_input, names, tuple(removed))


def _cancel_pairs(graph: ir.Graph) -> list[str]:
    """Between two batch_first layers (`LSTM -> Squeeze -> Transpose -> [last-axis ops] -> Transpose -> GRU`) the
    two layout Transposes undo each other: both go, the values between them become time-major."""
    removed: list[str] = []
    for node in list(graph):
        if node.graph is not graph or not _is_layout_transpose(node):
            continue  # removed with an earlier pair, or not a layout Transpose
        value, chain = node.outputs[0], list[ir.Value]()
        while not value.is_graph_output() and len(uses := list(value.uses())) == 1:
            reader = uses[0].node
            if _is_layout_transpose(reader):
                removed += [_drop(graph, node, chain), _drop(graph, reader, [])]
                break
            if not _acts_on_last_axis(reader, value):
                break
            value = reader.outputs[0]
            chain.append(value)
    return removed


def _input_transpose(data: ir.Value) -> tuple[ir.Node, list[ir.Value]] | str:
    """The layout Transpose the data reaches through last-axis ops, and the values in between; or why there is none."""
    if _rank(data) not in (None, 3):
        return f"its data input {data.name} has rank {_rank(data)}; only [batch, time, features] is turned"
    value, chain = data, list[ir.Value]()
    while True:
        uses = list(value.uses())
        if len(uses) != 1 or value.is_graph_output():
            return f"{value.name} is read by {len(uses)} node(s); it reaches the recurrent nodes other than through one Transpose"
        node = uses[0].node
        if _is_layout_transpose(node):
            break
        if not _acts_on_last_axis(node, value):
            return f"its data reaches the recurrent nodes through {_named(node)}, not a layout Transpose"
        value = node.outputs[0]
        chain.append(value)
    readers = [u.node for u in node.outputs[0].uses()]
    if node.outputs[0].is_graph_output() or not any(_is_fused(r) and r.inputs[0] is node.outputs[0] for r in readers):
        return f"{_named(node)} does not feed a one-way fused LSTM/GRU node"
    return node, chain


def _output_transpose(output: ir.Value) -> tuple[ir.Node, list[ir.Value]] | None:
    """The layout Transpose `output` is computed from by last-axis ops after a fused node's `Squeeze(Y, axis 1)`,
    and the values in between; None when the output is anything else (a state, pooled, a batch-first value)."""
    value, chain = output, list[ir.Value]()
    while (node := value.producer()) is not None and node.graph is output.graph:
        if _is_layout_transpose(node):
            source = node.inputs[0]
            return (node, chain) if source is not None and len(source.uses()) == 1 and _squeezed_y(source) else None
        data = _data_operand(node)
        if data is None or data.is_graph_output() or len(data.uses()) != 1 or not _acts_on_last_axis(node, data):
            return None
        chain.append(data)
        value = data
    return None


def _drop(graph: ir.Graph, transpose: ir.Node, turned: list[ir.Value]) -> str:
    """Remove `transpose` (its readers read its input) and swap axes 0 and 1 of every value whose layout turned."""
    source, result = transpose.inputs[0], transpose.outputs[0]
    assert source is not None  # checked by the callers' matches
    if result.is_graph_output():  # the output side: the graph output keeps its name, now on the value before it
        index = next(i for i, v in enumerate(graph.outputs) if v is result)
        graph.outputs[index] = source
        name, result.name = result.name, None
        source.name = name
        source.type = source.type or result.type
        source.shape = source.shape or _swapped(result.shape)
    convenience.replace_all_uses_with(result, source)
    graph.remove(transpose, safe=True)
    for value in turned:
        value.shape = _swapped(value.shape) if value is not result else value.shape
    return transpose.name or "Transpose"


def _swapped(shape: ir.Shape | None) -> ir.Shape | None:
    """A rank-3 shape with its axes 0 and 1 swapped (any other shape as it is)."""
    if shape is None or len(shape) != 3:
        return shape
    dims = list(shape.dims)
    return ir.Shape([dims[1], dims[0], dims[2]])


def _is_layout_transpose(node: ir.Node) -> bool:
    perm = node.attributes.get_ints("perm", None)
    return node.op_type == "Transpose" and node.domain in ("", "ai.onnx") and perm is not None and tuple(perm) == _LAYOUT_PERM


def _is_fused(node: ir.Node) -> bool:
    """A fused recurrent node reading time-major data (layout 0) that runs one way (each step needs only the past)."""
    return (
        node.op_type in _FUSED
        and node.domain in ("", "ai.onnx")
        and node.attributes.get_int("layout", 0) == 0
        and node.attributes.get_string("direction", "forward") != "bidirectional"
    )


def _squeezed_y(value: ir.Value) -> bool:
    """`value` is `Squeeze(Y, axes=[1])` of a fused node: `[T, B, H]`, time-major."""
    node = value.producer()
    if node is None or node.op_type != "Squeeze" or node.domain not in ("", "ai.onnx"):
        return False
    axes = node.attributes.get_ints("axes", None)
    if axes is None and len(node.inputs) > 1 and node.inputs[1] is not None:
        tensor = convenience.get_const_tensor(node.inputs[1])
        axes = None if tensor is None else tensor.numpy().reshape(-1).tolist()
    y = node.inputs[0]
    producer = None if y is None else y.producer()
    return list(axes or []) == [1] and producer is not None and _is_fused(producer) and producer.outputs[0] is y


def _data_operand(node: ir.Node) -> ir.Value | None:
    """The one non-constant input of `node` (the value flowing through it), or None when it has several."""
    flowing = [v for v in node.inputs if v is not None and convenience.get_const_tensor(v) is None]
    return flowing[0] if len(flowing) == 1 else None


def _acts_on_last_axis(node: ir.Node, data: ir.Value) -> bool:
    """Whether `node` computes each row of `data`'s leading axes alone (so it commutes with swapping axes 0 and 1):
    elementwise with constants that vary along the last axis only, a MatMul by a stored matrix, a softmax over the
    last axis."""
    if node.domain not in ("", "ai.onnx") or len(node.outputs) != 1 or _data_operand(node) is not data:
        return False
    constants = [convenience.get_const_tensor(v) for v in node.inputs if v is not None and v is not data]
    if node.op_type == "MatMul":
        return node.inputs[0] is data and constants[0] is not None and len(constants[0].shape) == 2
    if node.op_type in _LAST_AXIS_REDUCERS:
        return node.attributes.get_int("axis", -1) in (-1, 2)
    if node.op_type in _UNARY:
        return all(c is not None and np.asarray(c.numpy()).size == 1 for c in constants)
    if node.op_type in _BINARY:
        return all(c is not None and _last_axis_only(tuple(c.shape)) for c in constants)
    return False


def _last_axis_only(shape: Sequence[object]) -> bool:
    """A constant of this shape broadcasts over a rank-3 value along its last axis only (`[C]`, `[1, 1, C]`, scalar)."""
    dims = list(shape)
    return len(dims) <= 3 and all(d == 1 for d in dims[:-1])


def _named(node: ir.Node) -> str:
    return f"{node.op_type} {node.name}" if node.name else node.op_type


def _rank(value: ir.Value) -> int | None:
    return None if value.shape is None else len(value.shape)
