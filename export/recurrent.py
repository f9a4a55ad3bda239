"""ONNX subgraphs for one recurrent layer: the fused LSTM/GRU op, or MatMul + gates inside a Loop.

Both take time-major input X [T, B, I] and return time-major output [T, B, D*Hout] plus the final h (and c)
of the layer as [D, B, Hout] / [D, B, H], matching torch's state layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from onnx import helper

from edgelstm.config import ModelConfig
from export.graph_builder import BOOL, FLOAT, INT64, GraphBuilder, subgraph_value
from export.weights import (
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
) -> LayerOutput:
    """One layer as plain MatMul/activation ops inside one Loop per direction."""
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
        y, h, c = _loop_direction(g, config, prefix, x_dir, dw, seq, h0, c0)
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
    hidden = config.hidden_size
    is_lstm = config.has_cell_state
    # Input projection for all steps at once (no recurrence), outside the Loop.
    if is_lstm:
        input_bias = dw.b_ih + dw.b_hh
    else:
        # GRU: r and z may fold both biases; n keeps b_hn inside r * (W_hn h + b_hn).
        input_bias = dw.b_ih + np.concatenate([dw.b_hh[: 2 * hidden], np.zeros(hidden, np.float32)])
    xw = g.op1("MatMul", [x_tm, g.initializer(f"{prefix}_Wt", dw.w_ih.T)], f"{prefix}_xw_nobias")
    xw = g.op1("Add", [xw, g.initializer(f"{prefix}_bias", input_bias)], f"{prefix}_xw")
    r_t = g.initializer(f"{prefix}_Rt", dw.w_hh.T)

    body = GraphBuilder(f"{prefix}_step")
    body_inputs = [
        subgraph_value(body.reserve("t"), INT64, []),
        subgraph_value(body.reserve("cond_in"), BOOL, None),
        subgraph_value(body.reserve("h_prev"), FLOAT, None),
    ]
    if is_lstm:
        body_inputs.append(subgraph_value(body.reserve("c_prev"), FLOAT, None))
    xw_t = body.op1("Gather", [xw, "t"], "xw_t", axis=0)
    hr = body.op1("MatMul", ["h_prev", r_t], "hr")
    split_sizes = body.const_i64("gate_sizes", [hidden] * (4 if is_lstm else 3))
    if is_lstm:
        gates = body.op1("Add", [xw_t, hr], "gates")
        g_i, g_f, g_g, g_o = body.op_multi("Split", [gates, split_sizes], "gate", 4, axis=-1)
        if dw.w_peephole is not None:
            p_i, p_f, p_o = (body.const_f32(f"peep_{n}", dw.w_peephole[k]) for k, n in enumerate("ifo"))
            g_i = body.op1("Add", [g_i, body.op1("Mul", [p_i, "c_prev"])], "gi_peep")
            g_f = body.op1("Add", [g_f, body.op1("Mul", [p_f, "c_prev"])], "gf_peep")
        i = body.op1("Sigmoid", [g_i], "i")
        f = body.op1("Sigmoid", [g_f], "f")
        cand = body.op1("Tanh", [g_g], "cand")
        c_new = body.op1("Add", [body.op1("Mul", [f, "c_prev"]), body.op1("Mul", [i, cand])], "c_new")
        if dw.w_peephole is not None:
            g_o = body.op1("Add", [g_o, body.op1("Mul", [p_o, c_new])], "go_peep")
        o = body.op1("Sigmoid", [g_o], "o")
        h_new = body.op1("Mul", [o, body.op1("Tanh", [c_new])], "h_cell")
        if dw.w_proj is not None:
            h_new = body.op1("MatMul", [h_new, body.const_f32("proj_t", dw.w_proj.T)], "h_proj")
    else:
        hr = body.op1(
            "Add", [hr, body.const_f32("b_hn", np.concatenate([np.zeros(2 * hidden, np.float32), dw.b_hh[2 * hidden :]]))], "hr_b"
        )
        x_r, x_z, x_n = body.op_multi("Split", [xw_t, split_sizes], "x_gate", 3, axis=-1)
        h_r, h_z, h_n = body.op_multi("Split", [hr, split_sizes], "h_gate", 3, axis=-1)
        r = body.op1("Sigmoid", [body.op1("Add", [x_r, h_r])], "r")
        z = body.op1("Sigmoid", [body.op1("Add", [x_z, h_z])], "z")
        n = body.op1("Tanh", [body.op1("Add", [x_n, body.op1("Mul", [r, h_n])])], "n")
        # h' = (1 - z) * n + z * h  ==  n + z * (h - n)
        h_new = body.op1("Add", [n, body.op1("Mul", [z, body.op1("Sub", ["h_prev", n])])], "h_cell")
        c_new = None
    y_t = h_new
    if seq.mask_tm is not None:
        # Past a sequence's end: freeze the state, emit zeros (what the fused op and torch packing do).
        keep = body.op1("Gather", [seq.mask_tm, "t"], "keep", axis=0)
        y_t = body.op1("Where", [keep, h_new, body.const_f32("zero", 0.0)], "y_masked")
        h_new = body.op1("Where", [keep, h_new, "h_prev"], "h_keep")
        if c_new is not None:
            c_new = body.op1("Where", [keep, c_new, "c_prev"], "c_keep")
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
