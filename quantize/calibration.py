"""The input statistics of every weighted layer (H = sum x x^T and sum x, per weight), gathered on calibration data.

A copy of the graph is made for calibration only (the quantized weights still go into the original graph): every
`If` whose condition is the same on every calibration call is replaced by the branch it takes (silero-vad keeps its
weights in branches chosen by `sr` and by the state's shape), repeatedly, so nested branches open too; then each
layer's input (and a fused LSTM/GRU's output Y and initial_h, from which h_{t-1} is rebuilt) becomes a graph
output. A graph with state is run chunk by chunk with its state carried (edgelstm.artifact.chunks.run_in_chunks), as
its app runs it, so the recurrent weights see the hidden states of a real stream.

Weights left out (in an `If` whose condition changes between calls, in a Loop body, whose layer input does not
line up with the stored tensor's reduced axes, or whose rows are split between layers that read different inputs,
edgelstm.quantize.weight_rows) are rounded to nearest; `Moments.missing` says why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import cast

import numpy as np
import onnx
import onnx_ir as ir

from edgelstm.artifact.chunks import run_in_chunks
from edgelstm.artifact.interface import GraphInterface
from edgelstm.artifact.session import SessionSettings, session_from_onnx
from edgelstm.quantize.moments import Moments
from edgelstm.quantize.rounding_plan import weight_layout
from edgelstm.quantize.weight_rows import slot_rows
from edgelstm.quantize.weight_slots import LAYOUT_OPS, stored_tensors, weight_slot

Feeds = dict[str, np.ndarray]
MAX_BRANCH_ROUNDS = 8  # If nesting opened at most this deep (silero: 2)
RNN_OPS = frozenset({"LSTM", "GRU", "RNN"})


@dataclass(frozen=True)
class CalibrationSource:
    """The calls that calibrate: whole feeds (a sequence graph), or streams cut into `chunk`-step calls with the
    state carried (`chunk` set: a streaming graph). `description` names the data for the report."""

    interface: GraphInterface
    feeds: list[Feeds]
    chunk: int | None
    description: str


@dataclass(frozen=True)
class _Tap:
    """A weight's input made a graph output, so calibration can read what the weight multiplies."""

    weight: str
    kind: str  # matmul | gemm | conv | rnn_x | rnn_h
    values: tuple[str, ...]  # graph values to read: the layer input (rnn_h: Y, initial_h or "")
    node: ir.Node


def gather_moments(model: onnx.ModelProto, source: CalibrationSource) -> Moments:
    """H and mean of every weight's layer inputs over `source`'s calls; `model` is left unchanged."""
    copy = ir.from_proto(model)
    moments = Moments(description=source.description)
    moments.opened_branches = _open_constant_branches(copy, source)
    taps = _taps(copy, moments)
    layouts = {
        name: layout
        for value, _, constant_node in stored_tensors(copy.graph)
        if (name := value.name) in taps and (layout := weight_layout(value, constant_node)) is not None
    }
    wanted = sorted({v for tap_list in taps.values() for tap in tap_list for v in tap.values if v})

    def accumulate(values: dict[str, np.ndarray]) -> None:
        for weight, tap_list in taps.items():
            for tap in tap_list:
                x = _layer_inputs(tap, values)
                if weight in moments.missing:
                    break
                cols = layouts[weight].cols if weight in layouts else -1
                if x.shape[1] != cols:
                    moments.missing[weight] = f"its {tap.kind} input has {x.shape[1]} features, the weight {cols} columns"
                    break
                moments.hessian[weight] = moments.hessian.get(weight, 0) + x.T @ x
                moments.mean_sum[weight] = moments.mean_sum.get(weight, 0) + x.sum(axis=0)
                moments.count[weight] = moments.count.get(weight, 0) + x.shape[0]

    _run(copy, source, wanted, accumulate)
    for weight in list(moments.hessian):
        if weight in moments.missing:
            moments.hessian.pop(weight)
            moments.mean_sum.pop(weight, None)
    return moments


def _run(model: ir.Model, source: CalibrationSource, extra: list[str], record: Callable[[dict[str, np.ndarray]], None]) -> None:
    """Every calibration call of `model` with `extra` values as additional outputs, handed to `record`."""
    present = {o.name for o in model.graph.outputs}
    for name in extra:
        if name not in present:
            model.graph.outputs.append(_value_named(model.graph, name))
    # ORT's defaults, unoptimised: every tapped value is kept
    settings = SessionSettings.ort_defaults(graph_optimization="disable")
    session = session_from_onnx(ir.to_proto(model).SerializeToString(), settings)
    names = [o.name for o in source.interface.outputs]
    inputs = {i.name for i in session.get_inputs()}

    def call(feeds: Feeds) -> list[np.ndarray]:
        # dense outputs only: every name is a float tensor of the graph (ORT's signature also allows maps and sequences)
        outputs = cast(list[np.ndarray], session.run([*names, *extra], {k: v for k, v in feeds.items() if k in inputs}))
        record(dict(zip(extra, outputs[len(names) :], strict=True)))
        return outputs[: len(names)]

    for feeds in source.feeds:
        if source.chunk:
            run_in_chunks(call, source.interface, feeds, source.chunk)
        else:
            call(feeds)
    for _ in range(len([n for n in extra if n not in present])):
        model.graph.outputs.pop()


def _open_constant_branches(model: ir.Model, source: CalibrationSource) -> int:
    """Replace, round by round, every top-level If whose condition takes one value on all calls by that branch."""
    opened = 0
    for _ in range(MAX_BRANCH_ROUNDS):
        ifs = [n for n in model.graph if n.op_type == "If" and n.domain in ("", "ai.onnx")]
        if not ifs:
            break
        for k, node in enumerate(ifs):
            if node.inputs[0] is not None and not node.inputs[0].name:
                node.inputs[0].name = f"edgelstm_calibration_cond_{opened}_{k}"
        conds = sorted({n.inputs[0].name for n in ifs if n.inputs[0] is not None and n.inputs[0].name})
        seen: dict[str, set[bool]] = {c: set() for c in conds}

        def record(values: dict[str, np.ndarray], seen: dict[str, set[bool]] = seen) -> None:
            for name, value in values.items():
                seen[name].add(bool(np.asarray(value).reshape(-1)[0]))

        _run(model, source, conds, record)
        round_opened = 0
        for node in ifs:
            taken = seen.get((node.inputs[0].name if node.inputs[0] is not None else None) or "", set())
            if len(taken) == 1:
                _inline_branch(model.graph, node, node.attributes["then_branch" if taken.pop() else "else_branch"].as_graph())
                round_opened += 1
        opened += round_opened
        if not round_opened:
            break
    return opened


def _inline_branch(graph: ir.Graph, node: ir.Node, branch: ir.Graph) -> None:
    """Replace an If by the branch it takes on calibration data, so the branch's values can be tapped."""
    for name in list(branch.initializers):
        graph.register_initializer(branch.initializers.pop(name))
    nodes = list(branch)
    branch.remove(nodes)
    graph.insert_before(node, nodes)
    inners = list(branch.outputs)
    branch.outputs.clear()  # a value is the output of one graph at a time
    for out, inner in zip(node.outputs, inners, strict=True):
        index = next((i for i, o in enumerate(graph.outputs) if o is out), None)
        if index is not None:  # keep the interface's output names: the chunked runner reads them
            identity = ir.node("Identity", [inner])
            graph.insert_before(node, identity)
            graph.outputs[index] = identity.outputs[0]
            output_name = out.name
            out.name = None
            identity.outputs[0].name = output_name
        out.replace_all_uses_with(inner, replace_graph_outputs=True)
    graph.remove(node, safe=True)
    for other in node.attributes.values():  # the branch not taken: its nodes stop using outer values
        if other.type == ir.AttributeType.GRAPH and (dead := other.as_graph()) is not branch:
            _detach(dead)


def _detach(graph: ir.Graph) -> None:
    """Every node of `graph` and of its subgraphs stops being a use of any value (outer weights included)."""
    for node in list(graph):
        for attr in node.attributes.values():
            if attr.type == ir.AttributeType.GRAPH:
                _detach(attr.as_graph())
            elif attr.type == ir.AttributeType.GRAPHS:
                for sub in attr.as_graphs():
                    _detach(sub)
        for index in range(len(node.inputs)):
            node.replace_input_with(index, None)
    graph.remove(list(graph), safe=False)


def _taps(model: ir.Model, moments: Moments) -> dict[str, list[_Tap]]:
    """The layer inputs of every stored weight whose uses are all top-level nodes; names given to unnamed values."""
    top = model.graph
    taps: dict[str, list[_Tap]] = {}
    counter = iter(range(1 << 30))
    for value, owner, constant_node in stored_tensors(top):
        name = value.name or ""
        tensor = value.const_value if constant_node is None else constant_node.attributes["value"].as_tensor()
        if not name or tensor is None:
            continue
        # A fused RNN's B (input 3) is added, not multiplied: no statistics, rounded per direction as before.
        slots = [
            (n, i) for n, i in _slot_uses(value, len(tensor.shape)) if i in (1, 2) and not (i == 2 and n.op_type not in RNN_OPS)
        ]
        if not slots:
            continue
        if owner is not top or any(node.graph is not top for node, _ in slots):
            moments.missing[name] = "used inside a subgraph that runs differently between calls (If/Loop body)"
            continue
        found: list[_Tap] = []
        for node, index in slots:
            tap = _tap_for(name, node, index, counter)
            if tap is None:
                moments.missing[name] = f"no input statistics for a {node.op_type} weight"
                break
            found.append(tap)
            if (bias := _direct_bias(value, node, index)) is not None:
                moments.bias[name] = bias
        else:
            if (split := _rows_split_between_inputs(value, constant_node, found)) is not None:
                moments.missing[name] = split
                continue
            taps[name] = found
    return taps


def _rows_split_between_inputs(value: ir.Value, constant_node: ir.Node | None, taps: list[_Tap]) -> str | None:
    """Why one summed H would be the wrong statistic for this weight: its uses read different inputs and its rows do
    not all reach the same ones (rows 0:n to one layer, n: to another). None when one H is right for every row."""
    inputs = {(tap.kind, tap.values) for tap in taps}
    layout = weight_layout(value, constant_node)
    if len(inputs) < 2 or layout is None:  # one input: its H is every row's (a missing layout is reported later)
        return None
    reach: dict[int, set[tuple[str, tuple[str, ...]]]] = {}
    for tap in taps:
        slot = tap.node.inputs[2 if tap.kind == "rnn_h" else 1]
        rows = slot_rows(value, layout, slot) if slot is not None else None
        if rows is None:
            return "its uses read different inputs and which of its rows reach each could not be followed"
        for row in rows:
            reach.setdefault(row, set()).add((tap.kind, tap.values))
    if len({frozenset(r) for r in reach.values()}) > 1:
        layers = ", ".join(sorted({tap.node.name or tap.node.op_type for tap in taps}))
        return f"its rows are split between layers that read different inputs ({layers}): one input statistic would be wrong"
    return None


def _slot_uses(value: ir.Value, rank: int) -> Iterator[tuple[ir.Node, int]]:
    """(node, input index) of every weight slot `value` (of the stored tensor's `rank`) reaches through layout ops."""
    for node, index in value.uses():
        if weight_slot(node, index, rank) is not None:
            yield node, index
        elif node.op_type in LAYOUT_OPS:
            for output in node.outputs:
                yield from _slot_uses(output, _rank_after(node, rank))


def _rank_after(node: ir.Node, rank: int) -> int:
    """The rank of a layout op's output (Unsqueeze/Squeeze change it; the axes count is all that matters)."""
    if node.op_type in ("Unsqueeze", "Squeeze"):
        axes = node.attributes.get_ints("axes", None)
        if axes is None and len(node.inputs) > 1 and node.inputs[1] is not None:
            constant = node.inputs[1].const_value
            producer = node.inputs[1].producer()
            if constant is None and producer is not None and producer.op_type == "Constant":
                constant = producer.attributes["value"].as_tensor()
            axes = [] if constant is None else list(constant.numpy().reshape(-1))
        return rank + len(axes or []) * (1 if node.op_type == "Unsqueeze" else -1)
    return rank


def _tap_for(weight: str, node: ir.Node, index: int, counter: Iterator[int]) -> _Tap | None:
    """The tap for input `index` of `node` when it is a weight's activation, else None."""
    op = node.op_type
    if op in ("MatMul", "Conv") and index == 1:
        if op == "Conv" and node.attributes.get_int("group", 1) != 1:
            return None  # grouped conv: its columns are per group; rounded to nearest
        return _Tap(weight, op.lower(), (_named(node.inputs[0], counter),), node)
    if op == "Gemm" and index == 1:
        return _Tap(weight, "gemm", (_named(node.inputs[0], counter),), node)
    if op in ("LSTM", "GRU", "RNN") and index == 1:
        return _Tap(weight, "rnn_x", (_named(node.inputs[0], counter),), node)
    if op in ("LSTM", "GRU", "RNN") and index == 2:
        if node.attributes.get_string("direction", "forward") == "bidirectional":
            return None  # each direction's R multiplies its own h_{t-1}: one summed statistic would be wrong
        h0 = node.inputs[5] if len(node.inputs) > 5 else None
        return _Tap(weight, "rnn_h", (_named(node.outputs[0], counter), _named(h0, counter) if h0 is not None else ""), node)
    return None


def _named(value: ir.Value | None, counter: Iterator[int]) -> str:
    """The value's name, naming it first when it has none."""
    assert value is not None
    if not value.name:
        value.name = f"edgelstm_calibration_{next(counter)}"
    return value.name


def _value_named(graph: ir.Graph, name: str) -> ir.Value:
    """The value called `name` among the graph's node outputs."""
    for node in graph:
        for value in node.outputs:
            if value.name == name:
                return value
    for value in graph.inputs:
        if value.name == name:
            return value
    raise KeyError(name)


def _direct_bias(weight: ir.Value, node: ir.Node, index: int) -> str | None:
    """The stored bias of a Conv/Gemm that reads this weight directly (no layout op between), used by that node
    only: bias correction can then subtract the rounding's mean output shift from it."""
    if node.op_type not in ("Conv", "Gemm") or index != 1 or node.inputs[1] is not weight or len(node.inputs) < 3:
        return None
    if node.op_type == "Gemm" and (
        node.attributes.get_float("alpha", 1.0) != 1.0 or node.attributes.get_float("beta", 1.0) != 1.0
    ):
        return None  # the shift would be alpha * (Wq - W) E[x] on a bias scaled by beta: not corrected
    bias = node.inputs[2]
    if bias is None or not bias.name or len(bias.uses()) != 1:
        return None
    stored = bias.const_value is not None or (bias.producer() is not None and bias.producer().op_type == "Constant")  # type: ignore[union-attr]
    return bias.name if stored else None


def _layer_inputs(tap: _Tap, values: dict[str, np.ndarray]) -> np.ndarray:
    """The rows x (one per output position) whose products with the weight's columns the layer sums, float64."""
    node = tap.node
    x = np.asarray(values[tap.values[0]], dtype=np.float64)
    if tap.kind == "matmul":
        return x.reshape(-1, x.shape[-1])
    if tap.kind == "gemm":
        a = x.T if node.attributes.get_int("transA", 0) else x  # A [M, K] as the Gemm reads it
        return a.reshape(-1, a.shape[-1])
    if tap.kind == "conv":
        return _im2col(x, node)
    layout = node.attributes.get_int("layout", 0)
    if tap.kind == "rnn_x":
        return x.reshape(-1, x.shape[-1])
    # rnn_h: h_{t-1} per direction: [initial_h, Y[:-1]] forward, [Y[1:], initial_h] reverse
    y = x if layout == 0 else np.transpose(x, (1, 2, 0, 3))  # [T, D, B, H]
    _, directions, batch, hidden = y.shape
    h0 = np.asarray(values[tap.values[1]], np.float64) if tap.values[1] else np.zeros((directions, batch, hidden))
    if layout == 1 and tap.values[1]:
        h0 = np.transpose(h0, (1, 0, 2))
    rows: list[np.ndarray] = []
    for d in range(directions):
        forward = directions == 1 or d == 0
        if node.attributes.get_string("direction", "forward") == "reverse":
            forward = False
        seq = y[:, d]
        prev = np.concatenate([h0[d][None], seq[:-1]]) if forward else np.concatenate([seq[1:], h0[d][None]])
        rows.append(prev.reshape(-1, hidden))
    return np.concatenate(rows)


def _im2col(x: np.ndarray, node: ir.Node) -> np.ndarray:
    """Conv input [N, C, *spatial] as rows [N * positions, C * prod(kernel)], in the weight's (C, k...) order."""
    weight = node.inputs[1]
    kernel = node.attributes.get_ints("kernel_shape", None)
    if kernel is None:
        assert weight is not None and weight.shape is not None
        kernel = [int(d) for d in weight.shape.numpy()[2:]]
    spatial = len(kernel)
    strides = node.attributes.get_ints("strides", None) or [1] * spatial
    dilations = node.attributes.get_ints("dilations", None) or [1] * spatial
    pads = node.attributes.get_ints("pads", None) or [0] * (2 * spatial)
    auto_pad = node.attributes.get_string("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = [], []
        for size, k, s, d in zip(x.shape[2:], kernel, strides, dilations, strict=True):
            total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, large = total // 2, total - total // 2
            begins.append(small if auto_pad == "SAME_UPPER" else large)
            ends.append(large if auto_pad == "SAME_UPPER" else small)
        pads = begins + ends
    elif auto_pad == "VALID":
        pads = [0] * (2 * spatial)
    padded = np.pad(x, [(0, 0), (0, 0), *[(pads[i], pads[i + spatial]) for i in range(spatial)]])
    windows = padded
    for i in range(spatial):
        span = (kernel[i] - 1) * dilations[i] + 1
        windows = np.lib.stride_tricks.sliding_window_view(windows, span, axis=2 + i)
    # windows: [N, C, *out_full, *span]; take strides and dilations
    index = (slice(None), slice(None), *[slice(None, None, s) for s in strides], *[slice(None, None, d) for d in dilations])
    windows = windows[index]
    n, c = x.shape[:2]
    out = windows.shape[2 : 2 + spatial]
    # -> [N, *out, C, *kernel]
    order = (0, *range(2, 2 + spatial), 1, *range(2 + spatial, 2 + 2 * spatial))
    cols = np.transpose(windows, order).reshape(n * int(np.prod(out)), c * int(np.prod(kernel)))
    return cols
