"""Rewrite fused ONNX LSTM/GRU nodes of any graph into a Loop over time of plain MatMul + gate ops (or, for a
fixed number of steps, the same step unrolled: no control flow, for runtimes and accelerators without Loop).

Why: ONNX Runtime has no int8 GRU kernel, so a foreign graph's fused GRU has no dynamic-int8 path; in the Loop
form the per-step MatMuls (input weights hoisted out of the loop, recurrent weights in the body) are what
quantize_dynamic turns into MatMulInteger, the same layout edgelstm writes for its own models (export/recurrent.py).

The step follows the ONNX operator spec (gate order iofc for LSTM, zrh for GRU, linear_before_reset both ways,
peepholes, sequence_lens as a mask that freezes the state and zeroes Y past each sequence's end). A node this
cannot express exactly (clip, non-default activations, input_forget, non-constant weights) is left fused and
named in the report with the reason. Weights may be initializers, Constant nodes, or short chains of pure ops on
them (folded with onnx's reference evaluator); opset 13 or newer.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
import onnx_ir as ir
from onnx_ir import convenience
from onnx_ir.tape import Tape

from edgelstm.export.constant_fold import FOLD_LIMIT, fold_constant

_DEFAULT_ACTIVATIONS = {"LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"]}
_GATES = {"LSTM": 4, "GRU": 3}
_MIN_OPSET = 13  # Split/Unsqueeze/Squeeze take their sizes and axes as inputs from opset 13 on


@dataclass(frozen=True)
class RefusedNode:
    """A fused LSTM/GRU node left as it was, with the reason it could not be rewritten exactly."""

    name: str
    op_type: str
    reason: str


@dataclass
class RewriteReport:
    """What `rewrite_fused_rnns` did: the nodes rewritten and those left fused, each with why."""

    rewritten: list[str] = field(default_factory=list)  # "GRU node_name (forward)"
    refused: list[RefusedNode] = field(default_factory=list)
    form: str = "Loop"  # or "T unrolled steps"

    def lines(self) -> list[str]:
        """One line per node, rewritten or left fused, as the CLI prints them."""
        out = [f"rewritten to {self.form}: {r}" for r in self.rewritten]
        out += [f"left fused: {r.op_type} {r.name or '(unnamed)'}: {r.reason}" for r in self.refused]
        return out


class _Refused(Exception):
    """Internal: this node cannot be rewritten exactly; the message becomes the report's reason."""


def rewrite_fused_rnns(
    model: onnx.ModelProto, ops: tuple[str, ...] = ("LSTM", "GRU"), unroll_steps: int | None = None
) -> tuple[onnx.ModelProto, RewriteReport]:
    """Return a copy of `model` with every rewritable fused node of `ops` (If/Loop bodies included) replaced by a
    Loop, or with `unroll_steps` = T by the same step written out T times (no control flow: the graph then runs at
    exactly T steps); `model` itself is not changed, and is returned as it is when it has none."""
    if unroll_steps is not None and unroll_steps < 1:
        raise ValueError(f"unroll_steps must be >= 1, got {unroll_steps}")
    report = RewriteReport(form="Loop" if unroll_steps is None else f"{unroll_steps} unrolled steps")
    ir_model = ir.from_proto(model)
    fused = [n for n in ir_model.graph.all_nodes() if n.op_type in ops and n.domain in ("", "ai.onnx")]
    if not fused:
        return model, report
    opset = ir_model.opset_imports.get("", 0)
    if opset < _MIN_OPSET:
        for node in fused:
            report.refused.append(RefusedNode(node.name or "", node.op_type, f"opset {opset} < {_MIN_OPSET}"))
        return model, report
    names = _Names(ir_model)
    for node in fused:
        try:
            params = _read_params(node, opset)
        except _Refused as exc:
            report.refused.append(RefusedNode(node.name or "", node.op_type, str(exc)))
            continue
        _replace(ir_model.graph, node, params, names, unroll_steps)
        report.rewritten.append(f"{node.op_type} {node.name or '(unnamed)'} ({params.direction})")
    if report.rewritten:
        # The fused nodes' weights (and chains that built them) are read by nothing now: dropped, not shipped twice;
        # nodes that shared weights (silero-vad's two calls of one LSTM) share the rewritten ones again.
        from onnx_ir.passes.common import DeduplicateHashedInitializersPass, RemoveUnusedNodesPass

        RemoveUnusedNodesPass()(ir_model)
        DeduplicateHashedInitializersPass()(ir_model)
    return ir.to_proto(ir_model), report


@dataclass(frozen=True)
class _Params:
    """One fused node's attributes and constant weights, read and checked before anything is rewritten."""

    op: str  # "LSTM" | "GRU"
    hidden: int
    direction: str
    layout: int
    linear_before_reset: bool
    w: np.ndarray  # [D, G*H, I]
    r: np.ndarray  # [D, G*H, H]
    b: np.ndarray  # [D, 2*G*H] (zeros when absent)
    p: np.ndarray | None  # [D, 3*H] LSTM peepholes (i, o, f)


def _const(value: ir.Value | None, what: str, opset: int) -> np.ndarray | None:
    """The constant array behind an input (folded if built by pure ops); refused when it is computed at run time."""
    if value is None:
        return None
    array = fold_constant(value, opset, [FOLD_LIMIT])
    if array is None:
        raise _Refused(f"{what} is not a constant (initializer, Constant node or a short chain of pure ops on them)")
    return np.asarray(array, dtype=np.float32)


def _read_params(node: ir.Node, opset: int) -> _Params:
    """The node's parameters, refusing what the rewrite cannot express exactly (clip, activations, input_forget)."""
    op = node.op_type
    attrs = node.attributes
    for name in ("clip", "activation_alpha", "activation_beta"):
        if name in attrs:
            raise _Refused(f"attribute {name} is not supported")
    if op == "LSTM" and bool(attrs.get_int("input_forget", 0)):
        raise _Refused("input_forget=1 is not supported")
    if "activations" in attrs:
        acts = [a.lower() for a in attrs.get_strings("activations", [])]
        per_direction = _DEFAULT_ACTIVATIONS[op]
        if acts not in (per_direction, per_direction * 2):
            raise _Refused(f"non-default activations {acts}")
    direction = attrs.get_string("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        raise _Refused(f"unknown direction {direction!r}")
    inputs = list(node.inputs) + [None] * (8 - len(node.inputs))
    if inputs[0] is not None and inputs[0].dtype not in (None, ir.DataType.FLOAT):
        raise _Refused(f"input type {inputs[0].dtype} (only float32 is rewritten)")
    w, r = _const(inputs[1], "W", opset), _const(inputs[2], "R", opset)
    assert w is not None and r is not None  # required inputs of the op
    declared = attrs.get_int("hidden_size")
    hidden = int(r.shape[-1]) if declared is None else declared
    gates = _GATES[op]
    b = _const(inputs[3], "B", opset)
    if b is None:
        b = np.zeros((w.shape[0], 2 * gates * hidden), np.float32)
    p = _const(inputs[7], "P", opset) if op == "LSTM" else None
    return _Params(
        op=op,
        hidden=hidden,
        direction=direction,
        layout=attrs.get_int("layout", 0),
        linear_before_reset=bool(attrs.get_int("linear_before_reset", 0)),
        w=w,
        r=r,
        b=b,
        p=p,
    )


class _Names:
    """Unique prefixes for the initializers this pass adds (the model's other names are kept clear of)."""

    def __init__(self, model: ir.Model) -> None:
        self._taken = {v.name for v in model.graph.initializers.values() if v.name is not None}
        self._counter = itertools.count()

    def prefix(self, node: ir.Node) -> str:
        """A unique prefix for the nodes replacing `node`, derived from its name."""
        base = (node.name or node.op_type).strip("/").replace("/", "_") or node.op_type
        while True:
            candidate = f"rnn_rewrite{next(self._counter)}_{base}"
            if not any(n.startswith(candidate) for n in self._taken):
                self._taken.add(candidate)
                return candidate


class _Builder:
    """Nodes go on a Tape (inserted before the fused node); weights become initializers of the main graph so
    quantize_dynamic sees MatMul(activation, initializer) wherever the node sat (main graph or If/Loop body)."""

    def __init__(self, root: ir.Graph, prefix: str) -> None:
        self.tape = Tape()
        self.root = root
        self.prefix = prefix
        self._ids = itertools.count()

    def init(self, name: str, array: np.ndarray) -> ir.Value:
        """A float32 initializer named under this node's prefix."""
        full = f"{self.prefix}_{name}"
        value = ir.Value(name=full, const_value=ir.tensor(np.array(array, order="C"), name=full))
        self.root.register_initializer(value)
        return value

    def i64(self, name: str, values: list[int] | int) -> ir.Value:
        """An int64 initializer (shapes, axes) named under this node's prefix."""
        return self.init(name, np.array(values, dtype=np.int64))

    def op(self, op_type: str, inputs: Sequence[ir.Value | None], **attrs: object) -> ir.Value:
        """One node with one output, named model-wide uniquely."""
        return self.ops(op_type, inputs, 1, **attrs)[0]

    def ops(self, op_type: str, inputs: Sequence[ir.Value | None], n: int, **attrs: object) -> list[ir.Value]:
        """One node with `n` outputs, each named model-wide uniquely (Loop bodies read outer values by name)."""
        outs = list(self.tape.op_multi_out(op_type, inputs, attrs or None, num_outputs=n))  # type: ignore[arg-type]
        # Named here, not by NameFixPass: Loop bodies read outer values, so names must be unique model-wide.
        for value in outs:
            value.name = f"{self.prefix}_{op_type}{next(self._ids)}"
        producer = outs[0].producer()
        assert producer is not None  # the tape just made it
        producer.name = outs[0].name
        return outs


def _replace(root: ir.Graph, node: ir.Node, p: _Params, names: _Names, unroll: int | None = None) -> None:
    """Replace one fused node by its Loop (or unrolled) form, wiring its outputs to the same consumers."""
    g = _Builder(root, names.prefix(node))
    inputs = list(node.inputs) + [None] * (8 - len(node.inputs))
    x, seq_lens, h0_all, c0_all = inputs[0], inputs[4], inputs[5], inputs[6]
    assert x is not None
    batch_major = p.layout == 1
    x_tm = g.op("Transpose", [x], perm=[1, 0, 2]) if batch_major else x
    if batch_major:
        # initial states are [B, D, H] with layout=1
        h0_all = g.op("Transpose", [h0_all], perm=[1, 0, 2]) if h0_all is not None else None
        c0_all = g.op("Transpose", [c0_all], perm=[1, 0, 2]) if c0_all is not None else None
    shape = g.op("Shape", [x_tm])
    steps = g.op("Gather", [shape, g.i64("t_index", 0)], axis=0)
    batch_1d = g.op("Slice", [shape, g.i64("b_start", [1]), g.i64("b_end", [2])])
    state_shape = g.op("Concat", [batch_1d, g.i64("hidden", [p.hidden])], axis=0)
    zeros = g.op("ConstantOfShape", [state_shape])  # float32 0 by default
    lengths = g.op("Cast", [seq_lens], to=ir.DataType.INT64) if seq_lens is not None else None
    y_shape = g.op("Concat", [g.i64("minus1", [-1]), g.i64("one", [1]), state_shape], axis=0)

    directions = ["forward", "reverse"] if p.direction == "bidirectional" else [p.direction]
    ys, hs, cs = [], [], []
    for d, kind in enumerate(directions):
        tag = f"d{d}"
        h0 = g.op("Gather", [h0_all, g.i64(f"{tag}_row", d)], axis=0) if h0_all is not None else zeros
        c0 = None
        if p.op == "LSTM":
            c0 = g.op("Gather", [c0_all, g.i64(f"{tag}_crow", d)], axis=0) if c0_all is not None else zeros
        x_dir = _reverse(g, x_tm, lengths, tag + "_x") if kind == "reverse" else x_tm
        y, h, c = _direction_loop(g, p, d, tag, x_dir, steps, lengths, h0, c0, unroll)
        y = g.op("Reshape", [y, y_shape])  # [T, 1, B, H]; see _direction_loop on the scan output
        if kind == "reverse":
            y = _reverse(g, y, lengths, tag + "_y")
        ys.append(y)
        hs.append(g.op("Unsqueeze", [h, g.i64(f"{tag}_h_axis", [0])]))
        if c is not None:
            cs.append(g.op("Unsqueeze", [c, g.i64(f"{tag}_c_axis", [0])]))

    y_all = ys[0] if len(ys) == 1 else g.op("Concat", ys, axis=1)  # [T, D, B, H]
    h_all = hs[0] if len(hs) == 1 else g.op("Concat", hs, axis=0)  # [D, B, H]
    c_all = (cs[0] if len(cs) == 1 else g.op("Concat", cs, axis=0)) if cs else None
    if batch_major:
        y_all = g.op("Transpose", [y_all], perm=[2, 0, 1, 3])  # [B, T, D, H]
        h_all = g.op("Transpose", [h_all], perm=[1, 0, 2])
        c_all = g.op("Transpose", [c_all], perm=[1, 0, 2]) if c_all is not None else None

    graph = node.graph
    assert graph is not None
    graph.insert_before(node, g.tape.nodes)
    for old, new in zip(node.outputs, [y_all, h_all, c_all], strict=False):
        if new is None or (not old.name and not old.uses()):
            continue
        convenience.replace_all_uses_with(old, new, replace_graph_outputs=True)
        # keep the old name: graph outputs and readers in other graphs are addressed by it
        old_name = old.name
        old.name = None
        new.name = old_name
        new.type, new.shape = old.type, old.shape
    graph.remove(node, safe=True)


def _reverse(g: _Builder, value: ir.Value, lengths: ir.Value | None, tag: str) -> ir.Value:
    """Reverse the time axis (axis 0); with sequence_lens, only each sequence's valid part (the spec's reverse)."""
    if lengths is None:
        big = np.iinfo(np.int64).max
        return g.op(
            "Slice",
            [value, g.i64(f"{tag}_rs", [-1]), g.i64(f"{tag}_re", [-big]), g.i64(f"{tag}_ra", [0]), g.i64(f"{tag}_rst", [-1])],
        )
    if value is not None and tag.endswith("_y"):
        # Y is [T, 1, B, H]: ReverseSequence wants batch on axis 1, so drop the direction axis for it.
        flat = g.op("Squeeze", [value, g.i64(f"{tag}_sq", [1])])
        rev = g.op("ReverseSequence", [flat, lengths], batch_axis=1, time_axis=0)
        return g.op("Unsqueeze", [rev, g.i64(f"{tag}_usq", [1])])
    return g.op("ReverseSequence", [value, lengths], batch_axis=1, time_axis=0)


def _direction_loop(
    g: _Builder,
    p: _Params,
    d: int,
    tag: str,
    x_tm: ir.Value,
    steps: ir.Value,
    lengths: ir.Value | None,
    h0: ir.Value,
    c0: ir.Value | None,
    unroll: int | None = None,
) -> tuple[ir.Value, ir.Value, ir.Value | None]:
    """One direction over time: a Loop, or (`unroll` = T) the same step written out T times with no control flow.
    Y comes back as [T, 1, B, H] (Loop: after the caller's Reshape)."""
    hid, gates = p.hidden, _GATES[p.op]
    w = p.w[d]
    wb, rb = p.b[d, : gates * hid], p.b[d, gates * hid :]
    if p.op == "LSTM":
        x_bias = wb + rb
    elif p.linear_before_reset:
        # z and r take both biases; h's recurrent bias stays inside r * (h Rh^T + Rbh).
        x_bias = wb + np.concatenate([rb[: 2 * hid], np.zeros(hid, np.float32)])
    else:
        x_bias = wb + rb  # Rbh is added outside r * (...) when the reset gate comes first
    # The input projection of every step at once, outside the recurrence.
    xw = g.op("Add", [g.op("MatMul", [x_tm, g.init(f"{tag}_Wt", w.T)]), g.init(f"{tag}_bias", x_bias)])
    weights = _step_weights(g, p, d, tag, lengths is not None)
    step_axis = g.i64(f"{tag}_step_axis", [0])
    if unroll is not None:
        h, c, ys = h0, c0, list[ir.Value | None]()
        for k in range(unroll):
            y_t, h, c = _step(g, p, weights, g.i64(f"{tag}_t{k}", k), xw, h, c, lengths)
            ys.append(g.op("Unsqueeze", [y_t, step_axis]))
        y = ys[0] if len(ys) == 1 else g.op("Concat", ys, axis=0)  # [T, B, H]
        return g.op("Unsqueeze", [y, g.i64(f"{tag}_dir_axis", [1])]), h, c

    body = _Builder(g.root, f"{g.prefix}_{tag}")
    t = ir.Value(name=f"{g.prefix}_{tag}_t", type=ir.TensorType(ir.DataType.INT64), shape=ir.Shape([]))
    cond_in = ir.Value(name=f"{g.prefix}_{tag}_cond_in", type=ir.TensorType(ir.DataType.BOOL))
    h_prev = ir.Value(name=f"{g.prefix}_{tag}_h_prev", type=ir.TensorType(ir.DataType.FLOAT))
    c_prev = ir.Value(name=f"{g.prefix}_{tag}_c_prev", type=ir.TensorType(ir.DataType.FLOAT)) if c0 is not None else None
    y_t, h_new, c_new = _step(body, p, weights, t, xw, h_prev, c_prev, lengths)
    cond_out = body.op("Identity", [cond_in])
    h_next = body.op("Identity", [h_new])
    # Scan outputs are stacked by ONNX Runtime but concatenated by onnx.reference; [1, B, H] per step reshaped
    # after the Loop is right under both readings.
    y_step = body.op("Unsqueeze", [y_t, step_axis])
    body_outputs = [cond_out, h_next]
    if c_new is not None:
        body_outputs.append(body.op("Identity", [c_new]))
    body_outputs.append(y_step)
    for k, value in enumerate(body_outputs):
        value.name = f"{g.prefix}_{tag}_out{k}"
        value.type = ir.TensorType(ir.DataType.BOOL if k == 0 else ir.DataType.FLOAT)
    body_inputs = [t, cond_in, h_prev] + ([c_prev] if c_prev is not None else [])
    body_graph = ir.Graph(body_inputs, body_outputs, nodes=body.tape.nodes, name=f"{g.prefix}_{tag}_step")

    carried = [h0] + ([c0] if c0 is not None else [])
    true = g.init(f"{tag}_true", np.array(True))
    outs = g.ops("Loop", [steps, true, *carried], len(carried) + 1, body=body_graph)
    return outs[-1], outs[0], (outs[1] if c0 is not None else None)


def _step_weights(g: _Builder, p: _Params, d: int, tag: str, with_lengths: bool) -> dict[str, ir.Value]:
    """The recurrent weights of one direction as initializers of the main graph, made once for every step."""
    hid, gates = p.hidden, _GATES[p.op]
    r, rb = p.r[d], p.b[d, gates * hid :]
    weights = {"split": g.i64(f"{tag}_split", [hid] * gates)}
    if p.op == "LSTM":
        weights["Rt"] = g.init(f"{tag}_Rt", r.T)
        if p.p is not None:
            peep = p.p[d]
            weights |= {
                "Pi": g.init(f"{tag}_Pi", peep[:hid]),
                "Pf": g.init(f"{tag}_Pf", peep[2 * hid :]),
                "Po": g.init(f"{tag}_Po", peep[hid : 2 * hid]),
            }
    elif p.linear_before_reset:
        weights["Rt"] = g.init(f"{tag}_Rt", r.T)
        weights["Rbh"] = g.init(f"{tag}_Rbh", np.concatenate([np.zeros(2 * hid, np.float32), rb[2 * hid :]]))
    else:
        weights["Rzr_t"] = g.init(f"{tag}_Rzr_t", r[: 2 * hid].T)
        weights["split2"] = g.i64(f"{tag}_split2", [hid, hid])
        weights["Rh_t"] = g.init(f"{tag}_Rh_t", r[2 * hid :].T)
    if with_lengths:
        weights["keep_axis"] = g.i64(f"{tag}_keep_axis", [1])
        weights["zero"] = g.init(f"{tag}_zero", np.zeros((), np.float32))
    return weights


def _step(
    b: _Builder,
    p: _Params,
    w: dict[str, ir.Value],
    t: ir.Value,
    xw: ir.Value,
    h_prev: ir.Value,
    c_prev: ir.Value | None,
    lengths: ir.Value | None,
) -> tuple[ir.Value, ir.Value, ir.Value | None]:
    """One time step t (the ONNX spec's equations): (y_t, h_t, c_t), built with `b` (a Loop body or the graph)."""
    xw_t = b.op("Gather", [xw, t], axis=0)
    if p.op == "LSTM":
        assert c_prev is not None
        gates_t = b.op("Add", [xw_t, b.op("MatMul", [h_prev, w["Rt"]])])
        g_i, g_o, g_f, g_c = b.ops("Split", [gates_t, w["split"]], 4, axis=-1)
        if "Pi" in w:
            g_i = b.op("Add", [g_i, b.op("Mul", [c_prev, w["Pi"]])])
            g_f = b.op("Add", [g_f, b.op("Mul", [c_prev, w["Pf"]])])
        i = b.op("Sigmoid", [g_i])
        f = b.op("Sigmoid", [g_f])
        c_new: ir.Value | None = b.op("Add", [b.op("Mul", [f, c_prev]), b.op("Mul", [i, b.op("Tanh", [g_c])])])
        if "Po" in w:
            g_o = b.op("Add", [g_o, b.op("Mul", [c_new, w["Po"]])])
        h_new = b.op("Mul", [b.op("Sigmoid", [g_o]), b.op("Tanh", [c_new])])
    else:
        x_z, x_r, x_h = b.ops("Split", [xw_t, w["split"]], 3, axis=-1)
        if p.linear_before_reset:
            hr = b.op("Add", [b.op("MatMul", [h_prev, w["Rt"]]), w["Rbh"]])
            h_z, h_r, h_h = b.ops("Split", [hr, w["split"]], 3, axis=-1)
            z = b.op("Sigmoid", [b.op("Add", [x_z, h_z])])
            r_gate = b.op("Sigmoid", [b.op("Add", [x_r, h_r])])
            n = b.op("Tanh", [b.op("Add", [x_h, b.op("Mul", [r_gate, h_h])])])
        else:
            hzr = b.op("MatMul", [h_prev, w["Rzr_t"]])
            h_z, h_r = b.ops("Split", [hzr, w["split2"]], 2, axis=-1)
            z = b.op("Sigmoid", [b.op("Add", [x_z, h_z])])
            r_gate = b.op("Sigmoid", [b.op("Add", [x_r, h_r])])
            rh = b.op("MatMul", [b.op("Mul", [r_gate, h_prev]), w["Rh_t"]])
            n = b.op("Tanh", [b.op("Add", [x_h, rh])])
        # H = (1 - z) * n + z * h  ==  n + z * (h - n)
        h_new = b.op("Add", [n, b.op("Mul", [z, b.op("Sub", [h_prev, n])])])
        c_new = None
    y_t = h_new
    if lengths is not None:
        # Past a sequence's end: state frozen, output zero (ONNX Runtime's fused kernels do the same).
        keep = b.op("Unsqueeze", [b.op("Less", [t, lengths]), w["keep_axis"]])
        y_t = b.op("Where", [keep, h_new, w["zero"]])
        h_new = b.op("Where", [keep, h_new, h_prev])
        if c_new is not None:
            assert c_prev is not None
            c_new = b.op("Where", [keep, c_new, c_prev])
    return y_t, h_new, c_new
