"""ONNX subgraphs for one recurrent layer: the fused LSTM/GRU op, or MatMul + gates inside a Loop.

Both take time-major input X [T, B, I] and return time-major output [T, B, D*Hout] plus the final h (and c)
of the layer as [D, B, Hout] / [D, B, H], matching torch's state layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from onnx import helper

from edgelstm.config import ModelConfig
from edgelstm.export.graph_builder import BOOL, FLOAT, INT64, GraphBuilder, subgraph_value
from edgelstm.export.weights import (
    ONNX_GRU_ORDER,
    ONNX_LSTM_ORDER,
    TORCH_GRU_GATES,
    TORCH_LSTM_GATES,
    DirectionWeights,
    reorder_gates,
)


@dataclass(frozen=True)
class SequenceInfo:
    """Values every layer needs about the batch: per-sequence lengths, a step mask, the step count."""

    lengths_i32: str | None  # for fused ops' sequence_lens
    lengths_i64: str  # for ReverseSequence (all = T when the graph has no lengths input)
    mask_tm: str | None  # [T, B, 1] bool, True where the step is inside the sequence
    steps: str  # int64 scalar T
    batch_1d: str  # int64 [1] holding B


@dataclass(frozen=True)
class LayerOutput:
    """The value names one recurrent layer leaves in the graph: its sequence output and final states."""

    y: str  # [T, B, D*Hout]
    h: str  # [D, B, Hout]
    c: str | None  # [D, B, H]


def fused_layer(
    g: GraphBuilder,
    config: ModelConfig,
    layer: int,
    x_tm: str,
    weights: list[DirectionWeights],
    seq: SequenceInfo,
    initial_h: str | None,
    initial_c: str | None,
) -> LayerOutput:
    """One layer (all directions) as a single ONNX LSTM or GRU node, layout=0 (time-major)."""
    is_lstm = config.has_cell_state
    torch_order, onnx_order = (TORCH_LSTM_GATES, ONNX_LSTM_ORDER) if is_lstm else (TORCH_GRU_GATES, ONNX_GRU_ORDER)
    w = np.stack([reorder_gates(d.w_ih, torch_order, onnx_order) for d in weights])
    r = np.stack([reorder_gates(d.w_hh, torch_order, onnx_order) for d in weights])
    b = np.stack(
        [
            np.concatenate([reorder_gates(d.b_ih, torch_order, onnx_order), reorder_gates(d.b_hh, torch_order, onnx_order)])
            for d in weights
        ]
    )
    prefix = f"layer{layer}"
    inputs = [
        x_tm,
        g.initializer(f"{prefix}_W", w),
        g.initializer(f"{prefix}_R", r),
        g.initializer(f"{prefix}_B", b),
        seq.lengths_i32 or "",
        initial_h or "",
    ]
    attrs: dict[str, object] = {
        "hidden_size": config.hidden_size,
        "direction": "bidirectional" if config.bidirectional else "forward",
        "layout": 0,  # ORT's fused kernels reject layout=1 (batch-first); the graph transposes instead.
    }
    if is_lstm:
        inputs.append(initial_c or "")
        if config.cell == "peephole":
            # torch-side peephole rows are (i, f, o); ONNX's P is (i, o, f).
            p = np.stack([d.w_peephole[[0, 2, 1]].reshape(-1) for d in weights if d.w_peephole is not None])
            inputs.append(g.initializer(f"{prefix}_P", p))
        y, h, c = g.op_multi("LSTM", inputs, f"{prefix}_lstm", 3, **attrs)
    else:
        attrs["linear_before_reset"] = 1  # torch's GRU applies the reset gate after the recurrent matmul
        y, h = g.op_multi("GRU", inputs, f"{prefix}_gru", 2, **attrs)
        c = None
    if len(weights) == 1:
        # One direction's Y [T, 1, B, H] is already [T, B, H] in memory: a Squeeze (no copy in ORT) instead of a
        # Transpose + Reshape, which copied all of Y on every call (at batch 32, T=100, 128 hidden: 1.6 MB per layer).
        return LayerOutput(g.op1("Squeeze", [y, g.const_i64(f"{prefix}_direction_axis", [1])], f"{prefix}_y"), h, c)
    # Y is [T, D, B, H] -> [T, B, D, H] -> [T, B, D*H]
    y_tbdh = g.op1("Transpose", [y], f"{prefix}_y_tbdh", perm=[0, 2, 1, 3])
    y_flat = g.op1("Reshape", [y_tbdh, g.const_i64(f"{prefix}_flat_shape", [0, 0, -1])], f"{prefix}_y")
    return LayerOutput(y_flat, h, c)


def loop_layer(
    g: GraphBuilder,
    config: ModelConfig,
    layer: int,
    x_tm: str,
    weights: list[DirectionWeights],
    seq: SequenceInfo,
    initial_h: str | None,
    initial_c: str | None,
    batch_zeros: dict[str, str],
    unroll_steps: int | None = None,
) -> LayerOutput:
    """One layer as plain MatMul/activation ops inside one Loop per direction (or unrolled for fixed steps)."""
    ys, hs, cs = [], [], []
    for direction, dw in enumerate(weights):
        prefix = f"layer{layer}_{'bwd' if direction else 'fwd'}"
        h0 = _state_row(g, initial_h, direction, prefix + "_h0") if initial_h else batch_zeros["h"]
        c0 = None
        if config.has_cell_state:
            c0 = _state_row(g, initial_c, direction, prefix + "_c0") if initial_c else batch_zeros["c"]
        x_dir = x_tm
        if direction == 1:
            x_dir = g.op1("ReverseSequence", [x_tm, seq.lengths_i64], f"{prefix}_x_rev", batch_axis=1, time_axis=0)
        if unroll_steps is None:
            y, h, c = _loop_direction(g, config, prefix, x_dir, dw, seq, h0, c0)
        else:
            y, h, c = _unrolled_direction(g, config, prefix, x_dir, dw, seq, h0, c0, unroll_steps)
        if direction == 1:
            y = g.op1("ReverseSequence", [y, seq.lengths_i64], f"{prefix}_y_rev", batch_axis=1, time_axis=0)
        ys.append(y)
        hs.append(g.op1("Unsqueeze", [h, g.const_i64(f"{prefix}_axis0", [0])], f"{prefix}_h_final"))
        if c is not None:
            cs.append(g.op1("Unsqueeze", [c, g.const_i64(f"{prefix}_axis0c", [0])], f"{prefix}_c_final"))
    y_all = ys[0] if len(ys) == 1 else g.op1("Concat", ys, f"layer{layer}_y", axis=-1)
    h_all = hs[0] if len(hs) == 1 else g.op1("Concat", hs, f"layer{layer}_h", axis=0)
    c_all = None
    if cs:
        c_all = cs[0] if len(cs) == 1 else g.op1("Concat", cs, f"layer{layer}_c", axis=0)
    return LayerOutput(y_all, h_all, c_all)


def _state_row(g: GraphBuilder, state: str, row: int, hint: str) -> str:
    """state [D, B, H] -> row [B, H]"""
    return g.op1("Gather", [state, g.const_i64(f"{hint}_row", row)], hint, axis=0)


@dataclass(frozen=True)
class StepConstants:
    """Weights a time step reads; initializers of the main graph (Loop bodies read them from outer scope)."""

    prefix: str  # names this direction's nodes (layer{k}_fwd / _bwd), so tools can address a layer's MatMuls
    r_t: str  # recurrent weights, transposed [Hout, G*H]
    gate_sizes: str
    zero: str
    peephole: tuple[str, str, str] | None
    proj_t: str | None
    b_hn: str | None  # GRU: the recurrent bias of the candidate gate, applied inside r * (...)


def _input_projection(
    g: GraphBuilder, config: ModelConfig, prefix: str, x_tm: str, dw: DirectionWeights
) -> tuple[str, StepConstants]:
    """The input weights applied to every step in one MatMul, hoisted out of the Loop."""
    hidden = config.hidden_size
    is_lstm = config.has_cell_state
    # Input projection for all steps at once (no recurrence), outside the recurrence.
    if is_lstm:
        input_bias = dw.b_ih + dw.b_hh
    else:
        # GRU: r and z may fold both biases; n keeps b_hn inside r * (W_hn h + b_hn).
        input_bias = dw.b_ih + np.concatenate([dw.b_hh[: 2 * hidden], np.zeros(hidden, np.float32)])
    xw = g.op1("MatMul", [x_tm, g.initializer(f"{prefix}_Wt", dw.w_ih.T)], f"{prefix}_xw_nobias")
    xw = g.op1("Add", [xw, g.initializer(f"{prefix}_bias", input_bias)], f"{prefix}_xw")
    peephole = None
    if dw.w_peephole is not None:
        p_i, p_f, p_o = (g.const_f32(f"{prefix}_peep_{n}", dw.w_peephole[k]) for k, n in enumerate("ifo"))
        peephole = (p_i, p_f, p_o)
    consts = StepConstants(
        prefix=prefix,
        r_t=g.initializer(f"{prefix}_Rt", dw.w_hh.T),
        gate_sizes=g.const_i64(f"{prefix}_gate_sizes", [hidden] * (4 if is_lstm else 3)),
        zero=g.const_f32(f"{prefix}_zero", 0.0),
        peephole=peephole,
        proj_t=g.const_f32(f"{prefix}_proj_t", dw.w_proj.T) if dw.w_proj is not None else None,
        b_hn=None
        if is_lstm
        else g.const_f32(f"{prefix}_b_hn", np.concatenate([np.zeros(2 * hidden, np.float32), dw.b_hh[2 * hidden :]])),
    )
    return xw, consts


def _cell_step(
    b: GraphBuilder, config: ModelConfig, k: StepConstants, xw_t: str, h_prev: str, c_prev: str | None, keep: str | None
) -> tuple[str, str | None, str]:
    """One time step: (h_next, c_next, y_t). `keep` [B, 1] freezes finished sequences and zeroes their output."""
    hr = b.op1("MatMul", [h_prev, k.r_t], f"{k.prefix}_hr")
    if c_prev is not None:
        gates = b.op1("Add", [xw_t, hr], "gates")
        g_i, g_f, g_g, g_o = b.op_multi("Split", [gates, k.gate_sizes], "gate", 4, axis=-1)
        if k.peephole is not None:
            p_i, p_f, _ = k.peephole
            g_i = b.op1("Add", [g_i, b.op1("Mul", [p_i, c_prev])], "gi_peep")
            g_f = b.op1("Add", [g_f, b.op1("Mul", [p_f, c_prev])], "gf_peep")
        i = b.op1("Sigmoid", [g_i], "i")
        f = b.op1("Sigmoid", [g_f], "f")
        cand = b.op1("Tanh", [g_g], "cand")
        c_cell = b.op1("Add", [b.op1("Mul", [f, c_prev]), b.op1("Mul", [i, cand])], "c_new")
        if k.peephole is not None:
            g_o = b.op1("Add", [g_o, b.op1("Mul", [k.peephole[2], c_cell])], "go_peep")
        o = b.op1("Sigmoid", [g_o], "o")
        h_new = b.op1("Mul", [o, b.op1("Tanh", [c_cell])], "h_cell")
        c_new: str | None = c_cell
        if k.proj_t is not None:
            h_new = b.op1("MatMul", [h_new, k.proj_t], f"{k.prefix}_h_proj")
    else:
        assert k.b_hn is not None
        hr = b.op1("Add", [hr, k.b_hn], "hr_b")
        x_r, x_z, x_n = b.op_multi("Split", [xw_t, k.gate_sizes], "x_gate", 3, axis=-1)
        h_r, h_z, h_n = b.op_multi("Split", [hr, k.gate_sizes], "h_gate", 3, axis=-1)
        r = b.op1("Sigmoid", [b.op1("Add", [x_r, h_r])], "r")
        z = b.op1("Sigmoid", [b.op1("Add", [x_z, h_z])], "z")
        n = b.op1("Tanh", [b.op1("Add", [x_n, b.op1("Mul", [r, h_n])])], "n")
        # h' = (1 - z) * n + z * h  ==  n + z * (h - n)
        h_new = b.op1("Add", [n, b.op1("Mul", [z, b.op1("Sub", [h_prev, n])])], "h_cell")
        c_new = None
    y_t = h_new
    if keep is not None:
        # Past a sequence's end: freeze the state, emit zeros (what the fused op and torch packing do).
        y_t = b.op1("Where", [keep, h_new, k.zero], "y_masked")
        h_new = b.op1("Where", [keep, h_new, h_prev], "h_keep")
        if c_new is not None and c_prev is not None:
            c_new = b.op1("Where", [keep, c_new, c_prev], "c_keep")
    return h_new, c_new, y_t


def _loop_direction(
    g: GraphBuilder,
    config: ModelConfig,
    prefix: str,
    x_tm: str,
    dw: DirectionWeights,
    seq: SequenceInfo,
    h0: str,
    c0: str | None,
) -> tuple[str, str, str | None]:
    """One direction of one layer as a Loop over time, its state carried, steps past a sequence's length frozen."""
    is_lstm = config.has_cell_state
    xw, consts = _input_projection(g, config, prefix, x_tm, dw)
    body = GraphBuilder(f"{prefix}_step")
    body_inputs = [
        subgraph_value(body.reserve("t"), INT64, []),
        subgraph_value(body.reserve("cond_in"), BOOL, None),
        subgraph_value(body.reserve("h_prev"), FLOAT, None),
    ]
    if is_lstm:
        body_inputs.append(subgraph_value(body.reserve("c_prev"), FLOAT, None))
    xw_t = body.op1("Gather", [xw, "t"], "xw_t", axis=0)
    keep = body.op1("Gather", [seq.mask_tm, "t"], "keep", axis=0) if seq.mask_tm is not None else None
    h_new, c_new, y_t = _cell_step(body, config, consts, xw_t, "h_prev", "c_prev" if is_lstm else None, keep)
    body.nodes.append(helper.make_node("Identity", ["cond_in"], ["cond_out"], name="cond_identity"))
    body.nodes.append(helper.make_node("Identity", [h_new], ["h_next"], name="h_identity"))
    body_outputs = [subgraph_value("cond_out", BOOL, None), subgraph_value("h_next", FLOAT, None)]
    if c_new is not None:
        body.nodes.append(helper.make_node("Identity", [c_new], ["c_next"], name="c_identity"))
        body_outputs.append(subgraph_value("c_next", FLOAT, None))
    # Scan outputs are stacked by ONNX Runtime but concatenated by onnx.reference (the spec says
    # "concatenating"); emitting [1, B, H] per step and reshaping after the Loop is right under both readings.
    body.nodes.append(helper.make_node("Unsqueeze", [y_t, body.const_i64("step_axis", [0])], ["y_t"], name="y_unsqueeze"))
    body_outputs.append(subgraph_value("y_t", FLOAT, None))
    body_graph = helper.make_graph(body.nodes, body.name, body_inputs, body_outputs, body.initializers)

    carried = [h0] + ([c0] if c0 is not None else [])
    loop_inputs = [seq.steps, g.const_bool_true(), *carried]
    n_out = len(carried) + 1
    outs = g.op_multi("Loop", loop_inputs, f"{prefix}_loop", n_out, body=body_graph)
    y_shape = g.op1(
        "Concat",
        [g.const_i64(f"{prefix}_minus1", [-1]), seq.batch_1d, g.const_i64(f"{prefix}_hout", [config.output_hidden_size])],
        f"{prefix}_y_shape",
        axis=0,
    )
    y = g.op1("Reshape", [outs[-1], y_shape], f"{prefix}_y")
    if is_lstm:
        return y, outs[0], outs[1]
    return y, outs[0], None


def _unrolled_direction(
    g: GraphBuilder,
    config: ModelConfig,
    prefix: str,
    x_tm: str,
    dw: DirectionWeights,
    seq: SequenceInfo,
    h0: str,
    c0: str | None,
    steps: int,
) -> tuple[str, str, str | None]:
    """The same step as the Loop body, written out `steps` times: no control flow, so static QDQ quantization
    and accelerators that reject Loop (NNAPI, QNN) take the whole graph. The time axis is fixed."""
    xw, consts = _input_projection(g, config, prefix, x_tm, dw)
    h, c = h0, c0
    outputs = []
    axis0 = g.const_i64(f"{prefix}_axis0_unroll", [0])
    for t in range(steps):
        index = g.const_i64(f"{prefix}_t{t}", t)
        xw_t = g.op1("Gather", [xw, index], f"{prefix}_xw_t{t}", axis=0)
        keep = g.op1("Gather", [seq.mask_tm, index], f"{prefix}_keep_t{t}", axis=0) if seq.mask_tm is not None else None
        h, c, y_t = _cell_step(g, config, consts, xw_t, h, c, keep)
        outputs.append(g.op1("Unsqueeze", [y_t, axis0], f"{prefix}_y_t{t}"))
    y = outputs[0] if len(outputs) == 1 else g.op1("Concat", outputs, f"{prefix}_y", axis=0)
    return y, h, c
