"""Build ONNX graphs for a `SequenceModel` directly from its weights.

Writing the graph ourselves (instead of tracing) gives exact control over what matters for recurrent models:
dynamic batch and time axes by construction, the fused LSTM/GRU ops where they are exact, a decomposed Loop
form, explicit state inputs/outputs in a documented layout, and byte-identical output for the same model.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.feeds import data_for_graph, data_shape, sequence_feeds
from edgelstm.artifact.interface import GraphInterface, InputNormalization, TensorSpec
from edgelstm.config import ModelConfig, Preprocessing
from edgelstm.errors import ConfigError, ExportError
from edgelstm.export.graph_builder import FLOAT, INT32, INT64, GraphBuilder
from edgelstm.export.recurrent import LayerOutput, SequenceInfo, fused_layer, loop_layer
from edgelstm.export.weights import direction_weights
from edgelstm.model import SequenceModel
from edgelstm.state import STREAMING_LAYOUTS, StateSpec, pooling_state_specs, recurrent_state_specs, streaming_state_specs


def fused_unsupported_reason(config: ModelConfig) -> str | None:
    """Why the fused ONNX ops cannot express this model exactly, or None when they can."""
    if config.proj_size:
        return "ONNX's LSTM op has no output projection (proj_size), so the loop form is used"
    return None


def streaming_unsupported_reason(config: ModelConfig) -> str | None:
    """Why this architecture cannot be exported in streaming form (state in, state out), or None when it can."""
    if config.bidirectional:
        return "a bidirectional model cannot stream: its backward direction needs the whole sequence"
    return None


def resolve_impl(config: ModelConfig, export_config: ExportConfig) -> str:
    """The recurrent implementation to write (fused ONNX op, Loop or unrolled), from the request and what the model allows."""
    reason = fused_unsupported_reason(config)
    if export_config.impl == "auto":
        return "loop" if reason else "fused"
    if export_config.impl == "fused" and reason:
        raise ExportError(f"impl=fused is not exact for this model: {reason}")
    return export_config.impl


def input_normalization(
    config: ModelConfig, export_config: ExportConfig, preprocessing: Preprocessing | None
) -> InputNormalization | None:
    """The standardisation the graph applies itself: the model's training mean/std, unless turned off, the model
    takes token ids, or its preprocessing has no mean/std."""
    if not export_config.normalize_input or config.input_kind == "tokens" or preprocessing is None:
        return None
    if preprocessing.feature_mean is None or preprocessing.feature_std is None:
        return None
    if len(preprocessing.feature_mean) != config.input_size or len(preprocessing.feature_std) != config.input_size:
        raise ConfigError(
            f"preprocessing has {len(preprocessing.feature_mean)} means and {len(preprocessing.feature_std)} stds, the "
            f"model takes {config.input_size} features; fix preprocessing.json (or export with --no-normalize-in-graph)"
        )
    return InputNormalization(list(preprocessing.feature_mean), list(preprocessing.feature_std))


def native_interface(
    config: ModelConfig,
    export_config: ExportConfig,
    normalization: InputNormalization | None = None,
    streaming_layout: str = "slim",
) -> GraphInterface:
    """Inputs, outputs and states of the graph `build_native_onnx` produces for this config (`streaming_layout`:
    see `build_native_onnx`)."""
    streaming = export_config.form == "streaming"
    time_axis: int | str = "chunk" if streaming else "time"
    if export_config.fixed_steps is not None:
        time_axis = export_config.fixed_steps
    # The slim streaming graph is time-major (issue 21): its data and per-step outputs are what the fused nodes read
    # and write, so no Transpose runs on a call; callers keep batch-first arrays (edgelstm.artifact.layout).
    time_major = streaming and streaming_layout == "slim"
    leading: list[int | str] = [time_axis, "batch"] if time_major else ["batch", time_axis]
    if config.input_kind == "tokens":
        inputs = [TensorSpec("x", "int64", list(leading), "token ids")]
    else:
        what = "raw input features (standardised inside the graph)" if normalization else "input features"
        inputs = [TensorSpec("x", "float32", [*leading, config.input_size], what)]
    if not streaming and export_config.with_lengths:
        inputs.append(TensorSpec("lengths", "int64", ["batch"], "valid steps per sequence, in [1, time]"))
    states: list[StateSpec] = []
    if streaming:
        states = streaming_state_specs(config, streaming_layout)
    elif export_config.with_state_inputs:
        states = recurrent_state_specs(config)
    inputs += [TensorSpec(s.input_name, s.dtype, s.shape, s.description) for s in states]
    head = config.head
    per_step = streaming or not head.is_pooled
    shape: list[int | str] = list(leading) if per_step else ["batch"]
    shape += [head.horizon, head.num_outputs] if head.kind == "forecast" else [head.num_outputs]
    description = {
        "classify": "class logits",
        "forecast": "forecast [horizon, targets]",
        "per_step": "per-step outputs",
        "lm": "next-token logits",
    }[head.kind]
    if streaming and head.is_pooled:
        description += " at every step, pooled over all steps seen so far"
    outputs = [TensorSpec("output", "float32", shape, description)]
    out_states = states if streaming else (recurrent_state_specs(config) if not streaming else [])
    outputs += [TensorSpec(s.output_name, s.dtype, s.shape, "final " + s.description) for s in out_states]
    impl = resolve_impl(config, export_config)
    if export_config.fixed_batch is not None:
        fixed = export_config.fixed_batch
        inputs = [TensorSpec(t.name, t.dtype, [fixed if d == "batch" else d for d in t.shape], t.description) for t in inputs]
        outputs = [TensorSpec(t.name, t.dtype, [fixed if d == "batch" else d for d in t.shape], t.description) for t in outputs]
    layout = "time_major" if time_major else "batch_first"
    return GraphInterface(export_config.form, impl, inputs, outputs, states, normalization=normalization, layout=layout)  # type: ignore[arg-type]


def build_native_onnx(
    model: SequenceModel,
    export_config: ExportConfig,
    preprocessing: Preprocessing | None = None,
    streaming_layout: str = "slim",
) -> tuple[onnx.ModelProto, GraphInterface]:
    """`preprocessing`: the checkpoint's; its mean/std become the graph's first ops (see `input_normalization`).

    `streaming_layout` (streaming form only): "slim" (issue 21, what `export` writes) carries one state pair per
    layer, fed straight into and read straight out of the fused nodes, and names graph outputs after the values
    themselves: no Slice, Concat or Identity runs on a call. "stacked" writes the previous layout (states
    [layers*directions, batch, H], byte for byte as before), kept so old graphs can be rebuilt and compared."""
    config = model.config
    streaming = export_config.form == "streaming"
    if streaming and (reason := streaming_unsupported_reason(config)):
        raise ExportError(reason)
    if streaming_layout not in STREAMING_LAYOUTS:
        raise ExportError(f"streaming layout {streaming_layout!r}: choose {' or '.join(STREAMING_LAYOUTS)}")
    slim = streaming and streaming_layout == "slim"
    normalization = input_normalization(config, export_config, preprocessing)
    interface = native_interface(config, export_config, normalization, streaming_layout)
    g = GraphBuilder(f"edgelstm_{export_config.form}")
    for spec in interface.inputs:
        elem = {"float32": FLOAT, "int64": INT64}[spec.dtype]
        g.add_input(spec.name, elem, spec.shape)
    input_names = {t.name for t in interface.inputs}
    has_lengths = "lengths" in input_names

    features = "x"
    if model.embedding is not None:
        table = model.embedding.weight.detach().float().numpy()
        features = g.op1("Gather", [g.initializer("embedding", table), "x"], "embedded", axis=0)
    if interface.normalization is not None:
        # Sub then Div (not a folded Mul/Add): the same two IEEE operations torch does, so parity stays exact.
        mean, std = interface.normalization.arrays(np.float32)
        centred = g.op1("Sub", [features, g.initializer("input_mean", mean)], "x_centred")
        features = g.op1("Div", [centred, g.initializer("input_std", std)], "x_standardised")
    time_major = interface.layout == "time_major"
    x_tm = features if time_major else g.op1("Transpose", [features], "x_time_major", perm=[1, 0, 2])
    # Fixed axes become constants: no Shape ops, which static-shape accelerators (NNAPI) reject.
    shape_tm = "" if export_config.fixed_steps and export_config.fixed_batch else g.op1("Shape", [x_tm], "x_shape")
    if export_config.fixed_steps is not None:
        steps = g.const_i64("steps", export_config.fixed_steps)
    else:
        steps = g.op1("Gather", [shape_tm, g.const_i64("idx0", 0)], "steps", axis=0)
    if export_config.fixed_batch is not None:
        batch_1d = g.const_i64("batch_1d", [export_config.fixed_batch])
    else:
        batch_1d = g.op1("Slice", [shape_tm, g.const_i64("start1", [1]), g.const_i64("end2", [2])], "batch_1d")

    impl = interface.impl
    directions = config.num_directions
    seq = _sequence_info(g, config, impl, has_lengths, steps, batch_1d)
    batch_zeros = {}
    if impl in ("loop", "unrolled") and "h_in" not in input_names:  # initial states are inputs: no zeros to build
        batch_zeros["h"] = _zeros(g, batch_1d, config.output_hidden_size, "zeros_h")
        if config.has_cell_state:
            batch_zeros["c"] = _zeros(g, batch_1d, config.hidden_size, "zeros_c")

    layers: list[LayerOutput] = []
    layer_input = x_tm
    for layer in range(config.num_layers):
        weights = [direction_weights(model, layer, d) for d in range(directions)]
        if slim:  # the layer's own state inputs, read by the fused node as they are
            init_h, init_c = _slim_layer_inputs(interface.states, layer)
        else:
            whole = streaming and config.num_layers == 1
            init_h = _layer_state(g, "h_in", layer, directions, whole) if "h_in" in input_names else None
            init_c = _layer_state(g, "c_in", layer, directions, whole) if "c_in" in input_names else None
        if impl == "fused":
            out = fused_layer(g, config, layer, layer_input, weights, seq, init_h, init_c)
        else:
            out = loop_layer(g, config, layer, layer_input, weights, seq, init_h, init_c, batch_zeros, export_config.fixed_steps)
        layers.append(out)
        layer_input = out.y

    output = _head(g, model, interface, layers[-1], has_lengths, steps)
    # The slim form names each output after the value itself; the other forms keep their Identity outputs (bytes).
    expose = g.name_output if slim else g.add_output
    expose(output, "output", FLOAT, interface.outputs[0].shape)
    if slim:
        state_values = _slim_layer_outputs(interface.states, layers)
    else:
        state_values = {
            "h_out": _concat(g, [lo.h for lo in layers], "h_final"),
            "c_out": _concat(g, [lo.c for lo in layers if lo.c is not None], "c_final") if config.has_cell_state else None,
        }
    state_values.update(_pooling_state_outputs(g, config, streaming, layers[-1].y, steps))
    for spec in interface.outputs[1:]:
        value = state_values[spec.name]
        assert value is not None
        expose(value, spec.name, FLOAT, spec.shape)

    onnx_model = helper.make_model(
        # Every form is pruned: ORT keeps and runs nodes whose outputs nobody reads (the shape chain a fused graph
        # builds up front, the top layer's Y copy under a last-step head), on every call.
        g.make_graph(prune_dead_nodes=True),
        opset_imports=[helper.make_opsetid("", export_config.opset)],
        producer_name="edgelstm",
    )
    onnx_model.ir_version = _ir_version_for(export_config.opset)
    return onnx_model, interface


def _sequence_info(g: GraphBuilder, config: ModelConfig, impl: str, has_lengths: bool, steps: str, batch_1d: str) -> SequenceInfo:
    """The lengths and step mask the layers and the head share, built once for the graph."""
    lengths_i32 = g.op1("Cast", ["lengths"], "lengths_i32", to=INT32) if has_lengths and impl == "fused" else None
    lengths_i64 = "lengths"
    if not has_lengths and impl in ("loop", "unrolled") and config.bidirectional:
        # ReverseSequence needs lengths; without a lengths input every sequence spans all T steps.
        lengths_i64 = g.op1("Expand", [steps, batch_1d], "full_lengths")
    mask_tm = None
    if has_lengths and (impl in ("loop", "unrolled") or (config.head.is_pooled and config.head.pooling == "mean")):
        positions = g.op1("Range", [g.const_i64("zero_i64", 0), steps, g.const_i64("one_i64", 1)], "positions")
        positions = g.op1("Unsqueeze", [positions, g.const_i64("axis1", [1])], "positions_col")
        lengths_row = g.op1("Unsqueeze", ["lengths", g.const_i64("axis0", [0])], "lengths_row")
        mask = g.op1("Less", [positions, lengths_row], "mask_tb")
        mask_tm = g.op1("Unsqueeze", [mask, g.const_i64("axis2", [2])], "mask_tm")
    return SequenceInfo(lengths_i32, lengths_i64, mask_tm, steps, batch_1d)


def _zeros(g: GraphBuilder, batch_1d: str, size: int, hint: str) -> str:
    """A [batch, size] zero state sized from the runtime batch (initial states need no input)."""
    shape = g.op1("Concat", [batch_1d, g.const_i64(f"{hint}_size", [size])], f"{hint}_shape", axis=0)
    return g.op1("ConstantOfShape", [shape], hint, value=helper.make_tensor("zero", FLOAT, [1], [0.0]))


def _layer_state(g: GraphBuilder, name: str, layer: int, directions: int, whole: bool = False) -> str:
    """Rows of layer `layer` from a stacked [L*D, B, H] state input -> [D, B, H]. `whole`: the state holds this
    layer only, so it is its own rows and needs no Slice (used by the streaming form; the sequence form keeps its
    bytes)."""
    if whole:
        return name
    return g.op1(
        "Slice",
        [
            name,
            g.const_i64(f"{name}_l{layer}_start", [layer * directions]),
            g.const_i64(f"{name}_l{layer}_end", [(layer + 1) * directions]),
            g.const_i64(f"{name}_l{layer}_axes", [0]),
        ],
        f"{name}_layer{layer}",
    )


def _slim_layer_inputs(states: list[StateSpec], layer: int) -> tuple[str | None, str | None]:
    """Layer `layer`'s h and c state inputs in the slim layout (c None for a GRU)."""
    mine = {s.name.rstrip("0123456789"): s.input_name for s in states if s.rows and s.rows[0].startswith(f"layer{layer}.")}
    return mine.get("h"), mine.get("c")


def _slim_layer_outputs(states: list[StateSpec], layers: list[LayerOutput]) -> dict[str, str | None]:
    """Each slim state output's value: the final h / c each layer's node writes, by output name."""
    values: dict[str, str | None] = {}
    for spec in states:
        if spec.rows:  # pooling accumulators have no layer rows; they are added by _pooling_state_outputs
            layer = layers[int(spec.rows[0].split(".")[0].removeprefix("layer"))]
            values[spec.output_name] = layer.c if spec.name.startswith("c") else layer.h
    return values


def _concat(g: GraphBuilder, values: list[str], hint: str) -> str:
    """One value for several (Concat on axis 0), or the value itself when there is one."""
    return values[0] if len(values) == 1 else g.op1("Concat", values, hint, axis=0)


def _head(
    g: GraphBuilder, model: SequenceModel, interface: GraphInterface, top: LayerOutput, has_lengths: bool, steps: str
) -> str:
    """The head's nodes on the top layer's output: pooling, the output layer and its reshape."""
    config = model.config
    head = config.head
    weight_t = g.initializer("head_weight_t", model.head.weight.detach().float().numpy().T)
    bias = g.initializer("head_bias", model.head.bias.detach().float().numpy())

    def linear(value: str, hint: str) -> str:
        return g.op1("Add", [g.op1("MatMul", [value, weight_t], f"{hint}_matmul"), bias], hint)

    streaming = interface.form == "streaming"

    def batch_first(value: str, hint: str) -> str:  # a time-major graph gives its per-step outputs time-major
        return value if interface.layout == "time_major" else g.op1("Transpose", [value], hint, perm=[1, 0, 2])

    if not head.is_pooled or (streaming and head.pooling == "last"):
        # Per-step outputs; for a streaming last-pooled head, step t's output is the head on h_t.
        logits = linear(batch_first(top.y, "top_batch_major"), "head")
        return _forecast_reshape(g, head.kind, logits, head.horizon, head.num_outputs, per_step=True)
    if streaming:  # mean pooling over everything seen so far
        running = _running_mean(g, top.y, steps)
        logits = linear(batch_first(running, "running_mean_bt"), "head")
        return _forecast_reshape(g, head.kind, logits, head.horizon, head.num_outputs, per_step=True)
    if head.pooling == "last":
        top_h = g.op1("Transpose", [top.h], "top_h_bdh", perm=[1, 0, 2])
        pooled = g.op1("Reshape", [top_h, g.const_i64("pooled_shape", [0, -1])], "pooled_last")
    else:
        total = g.op1("ReduceSum", [top.y, g.const_i64("time_axis", [0])], "sum_over_time", keepdims=0)
        if has_lengths:
            count = g.op1("Unsqueeze", [g.op1("Cast", ["lengths"], "lengths_f", to=FLOAT), g.const_i64("axis_1", [1])], "count")
        else:
            count = g.op1("Cast", [steps], "steps_f", to=FLOAT)
        pooled = g.op1("Div", [total, count], "pooled_mean")
    logits = linear(pooled, "head")
    return _forecast_reshape(g, head.kind, logits, head.horizon, head.num_outputs, per_step=False)


def _forecast_reshape(g: GraphBuilder, kind: str, logits: str, horizon: int, targets: int, per_step: bool) -> str:
    """A forecast head's logits shaped [batch, horizon, targets]; other heads unchanged."""
    if kind != "forecast":
        return logits
    shape = [0, 0, horizon, targets] if per_step else [0, horizon, targets]
    return g.op1("Reshape", [logits, g.const_i64("forecast_shape", shape)], "forecast")


def _running_mean(g: GraphBuilder, top_y: str, steps: str) -> str:
    """The mean of the top layer's outputs over the valid steps so far (a streaming mean-pooled head)."""
    sums = _running_sums(g, top_y)
    counts = _running_counts(g, steps)
    return g.op1("Div", [sums, counts], "running_mean")


def _running_sums(g: GraphBuilder, top_y: str) -> str:
    """The running sum over steps of the top layer's output, built once and shared."""
    if "running_sums" in g._used:
        return "running_sums"
    cumsum = g.op1("CumSum", [top_y, g.const_i64("cumsum_axis", 0)], "chunk_cumsum")
    previous = g.op1("Unsqueeze", ["pool_sum_in", g.const_i64("pool_axis0", [0])], "pool_sum_prev")
    return g.op1("Add", [cumsum, previous], "running_sums")


def _running_counts(g: GraphBuilder, steps: str) -> str:
    """The running count of valid steps, built once and shared."""
    if "running_counts" in g._used:
        return "running_counts"
    steps_f = g.op1("Cast", [steps], "chunk_steps_f", to=FLOAT)
    one = g.const_f32("one_f", 1.0)
    ramp = g.op1("Range", [one, g.op1("Add", [steps_f, one], "steps_plus_one"), one], "step_ramp")
    ramp = g.op1("Reshape", [ramp, g.const_i64("ramp_shape", [-1, 1, 1])], "step_ramp_t11")
    previous = g.op1("Unsqueeze", ["pool_count_in", g.const_i64("count_axis0", [0])], "pool_count_prev")
    return g.op1("Add", [ramp, previous], "running_counts")


def _pooling_state_outputs(g: GraphBuilder, config: ModelConfig, streaming: bool, top_y: str, steps: str) -> dict[str, str]:
    """The pooling sums and counts a streaming graph carries to its next call, by output name."""
    if not streaming or not pooling_state_specs(config):
        return {}
    last = g.const_i64("last_index", -1)
    return {
        "pool_sum_out": g.op1("Gather", [_running_sums(g, top_y), last], "pool_sum_last", axis=0),
        "pool_count_out": g.op1("Gather", [_running_counts(g, steps), last], "pool_count_last", axis=0),
    }


def _ir_version_for(opset: int) -> int:
    """The lowest ONNX IR version that admits `opset`, so older runtimes still load the file."""
    # The lowest IR version that admits the opset keeps the file loadable by older runtimes.
    if opset <= 17:
        return 8
    if opset <= 20:
        return 9
    return 10


def random_inputs_like(interface: GraphInterface, batch: int, steps: int, vocab: int = 0, seed: int = 0) -> dict[str, np.ndarray]:
    """Feeds for a graph interface (used by verification), through the one feed builder: random data, lengths that
    vary across the batch when present, and random states (zero pooled counts: a count is never negative), so a
    state input that is not wired shows up as a mismatch."""
    rng = np.random.default_rng(seed)  # drawn in input order: data, lengths, states
    dims = data_shape(interface, batch, steps)
    if interface.data_input.dtype == "int64":
        x = rng.integers(0, max(vocab, 1), size=dims, dtype=np.int64)
    else:  # standard normal as the model sees it: raw features at the training statistics for a raw-input graph
        x = data_for_graph(interface, rng.standard_normal(dims).astype(np.float32))
    lengths = None
    if any(t.name == "lengths" for t in interface.inputs):
        lengths = rng.integers(1, steps + 1, size=[x.shape[0]], dtype=np.int64)
        lengths[0] = steps  # at least one full-length sequence so the padded batch is really T long

    def random_state(spec: StateSpec, shape: list[int]) -> np.ndarray:
        if spec.input_name == "pool_count_in":
            return np.zeros(shape, dtype=np.float32)
        return rng.standard_normal(shape).astype(np.float32)

    return sequence_feeds(interface, x, lengths, "random inputs", random_state)
