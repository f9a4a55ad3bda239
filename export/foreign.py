"""Export a user nn.Module or torch.export program through torch.onnx.

Sequence form: the module as it is. Streaming form: the user's nn.LSTM/nn.GRU layers get their initial state
from graph inputs and hand their final state to graph outputs (hooks, the user's forward unchanged); whether the
rest of the model is causal enough to stream is decided by the streaming verification (chunk by chunk, state
carried, against the whole sequence), not by guessing. The loop form needs an edgelstm SequenceModel's weights.
"""

from __future__ import annotations

import io
import json
import warnings
from typing import Any

import numpy as np
import onnx
import torch

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.interface import GraphInterface, TensorSpec
from edgelstm.errors import ExportError, first_line
from edgelstm.export.time_major import time_major_model
from edgelstm.export.verify import _flatten
from edgelstm.jsonio import to_jsonable
from edgelstm.loading import LoadedModel, user_code
from edgelstm.state import StateSpec
from edgelstm.user_module import recurrent_layers


def example_input(loaded: LoadedModel, steps: int, batch: int = 2) -> torch.Tensor:
    """A random input of the model's signature (batch x steps), the example torch.onnx traces the graph with."""
    sig = loaded.signature
    generator = torch.Generator().manual_seed(0)
    if sig.kind == "tokens":
        return torch.randint(0, sig.size, (batch, steps), generator=generator)
    return torch.randn(batch, steps, sig.size, generator=generator)


def build_foreign_onnx(
    loaded: LoadedModel, export_config: ExportConfig, example_steps: int
) -> tuple[onnx.ModelProto, GraphInterface]:
    """Trace with an example of `example_steps` steps; verification then runs at other lengths."""
    if export_config.impl in ("loop", "unrolled"):
        raise ExportError("the loop form is built from an edgelstm SequenceModel's weights; user modules export with torch.onnx")
    if export_config.form != "sequence":
        return _build_streaming(loaded, export_config, example_steps)
    x = example_input(loaded, example_steps)
    with user_code(loaded.origin, f"forward on the example input {list(x.shape)}"), torch.no_grad():
        outputs = _flatten(loaded.module(x))
    if not outputs:
        raise ExportError(f"{loaded.origin}: forward() returned no tensors")
    names = ["output"] + [f"output_{i}" for i in range(1, len(outputs))]
    steps = example_steps
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if loaded.exported_program is not None:
                program = torch.onnx.export(
                    loaded.exported_program,
                    (x,),
                    dynamo=True,
                    opset_version=max(export_config.opset, 18),
                    input_names=["x"],
                    output_names=names,
                    optimize=True,
                    verbose=False,
                )
                if program is None:
                    raise ExportError(f"torch.onnx returned no program for {loaded.origin}")
                model = program.model_proto
            else:
                torch.onnx.export(
                    loaded.module,
                    (x,),
                    buffer,  # type: ignore[arg-type]  # the TorchScript exporter accepts file objects
                    dynamo=False,
                    opset_version=export_config.opset,
                    input_names=["x"],
                    output_names=names,
                    dynamic_axes={"x": {0: "batch", 1: "time"}, **{n: {0: "batch"} for n in names}},
                )
                model = onnx.load_from_string(buffer.getvalue())
    except Exception as exc:  # the exporter's many failure types all mean: this module cannot be exported
        first = first_line(exc)
        raise ExportError(f"torch.onnx could not export {loaded.origin}: {first[:300]}") from None
    _record_call(model, loaded)
    x_spec = (
        TensorSpec("x", "int64", ["batch", "time"], "token ids")
        if loaded.signature.kind == "tokens"
        else TensorSpec("x", "float32", ["batch", "time", loaded.signature.size], "input features")
    )
    out_specs = [TensorSpec(n, _dtype_name(t), _symbolic_shape(t, steps)) for n, t in zip(names, outputs, strict=False)]
    return model, GraphInterface("sequence", "torch.onnx", [x_spec], out_specs, [])


def _symbolic_shape(tensor: torch.Tensor, steps: int) -> list[int | str]:
    """The tensor's shape with the batch and time axes named, as the exported graph declares them."""
    shape: list[int | str] = ["batch"]
    shape += ["time" if d == steps else int(d) for d in tensor.shape[1:]]
    return shape


def _dtype_name(tensor: torch.Tensor) -> str:
    """numpy's name of the tensor's dtype ("float32"), as interfaces record it."""
    return str(np.dtype(str(tensor.dtype).replace("torch.", "")))


def _build_streaming(
    loaded: LoadedModel, export_config: ExportConfig, example_steps: int
) -> tuple[onnx.ModelProto, GraphInterface]:
    """A chunk in, each recurrent layer's state in and out; the user's forward traced once with the states fed."""
    if loaded.forward is None:  # a torch.export program: its recurrent layers are not modules any more
        raise ExportError(
            f"{loaded.origin}: the streaming form of a .pt2 program is not available; give the "
            "'package.module:factory' it came from"
        )
    layers = recurrent_layers(loaded.user_module)
    if not layers:
        raise ExportError(f"{loaded.origin}: has no nn.LSTM/nn.GRU layer whose state a streaming graph could carry")
    for layer in layers:
        if layer.bidirectional:
            raise ExportError(
                f"{loaded.origin}: cannot stream: its {type(layer).__name__} is bidirectional (each step depends on "
                "later steps); export --form sequence"
            )
        if not layer.batch_first:
            raise ExportError(f"{loaded.origin}: cannot stream: its {type(layer).__name__} is not batch_first")
    states = _user_state_specs(layers)
    batch = 2
    zeros = [torch.zeros([batch if d == "batch" else int(d) for d in s.shape]) for s in states]
    x = example_input(loaded, example_steps, batch)
    with user_code(loaded.origin, f"forward on the example chunk {list(x.shape)} with its recurrent state"), torch.no_grad():
        outputs = _flatten(loaded.module(x, *zeros))
    data_outputs = outputs[: len(outputs) - len(states)]
    if len(data_outputs) != 1:
        raise ExportError(f"{loaded.origin}: the streaming form takes one output tensor; forward() returned {len(data_outputs)}")
    y = data_outputs[0]
    if y.dim() < 2 or y.shape[1] != example_steps:
        raise ExportError(
            f"{loaded.origin}: cannot stream: its output {list(y.shape)} has no time axis (it pools over the whole "
            "sequence); export --form sequence"
        )
    input_names = ["x", *(s.input_name for s in states)]
    output_names = ["output", *(s.output_name for s in states)]
    axes = {"x": {0: "batch", 1: "chunk"}, "output": {0: "batch", 1: "chunk"}}
    axes |= {name: {1: "batch"} for s in states for name in (s.input_name, s.output_name)}
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                loaded.module,
                (x, *zeros),
                buffer,  # type: ignore[arg-type]
                dynamo=False,
                opset_version=export_config.opset,
                input_names=input_names,
                output_names=output_names,
                dynamic_axes=axes,
            )
    except Exception as exc:  # the exporter's many failure types all mean: this module cannot be exported
        raise ExportError(f"torch.onnx could not export {loaded.origin}: {first_line(exc)}") from None
    model = onnx.load_from_string(buffer.getvalue())
    _record_call(model, loaded)
    x_spec = (
        TensorSpec("x", "int64", ["batch", "chunk"], "token ids")
        if loaded.signature.kind == "tokens"
        else TensorSpec("x", "float32", ["batch", "chunk", loaded.signature.size], "input features")
    )
    inputs = [x_spec, *(TensorSpec(s.input_name, s.dtype, s.shape, s.description) for s in states)]
    y_spec = TensorSpec("output", _dtype_name(y), ["batch", "chunk", *(int(d) for d in y.shape[2:])], "per-step outputs")
    outputs_specs = [y_spec, *(TensorSpec(s.output_name, s.dtype, s.shape, "final " + s.description) for s in states)]
    # batch_first=True layers are traced with a Transpose on each side: dropped where they only turn the layout (the
    # verification against the module then runs on the time-major graph, through edgelstm.artifact.layout)
    model, interface, _ = time_major_model(model, GraphInterface("streaming", "torch.onnx", inputs, outputs_specs, states))
    return model, interface


def call_record(loaded: LoadedModel) -> dict[str, Any] | None:
    """How the user's forward was called when traced (layout, lengths, `--const` values baked in, state) and which
    weights; None for a model that is not a user module. Kept in the artifact's edgelstm metadata (`user_module`)."""
    if loaded.forward is None:
        return None
    return {"traced_from": loaded.origin, "forward": to_jsonable(loaded.forward), "weights": loaded.weights_record}


def _record_call(model: onnx.ModelProto, loaded: LoadedModel) -> None:
    """The call record in the graph's doc_string too, for tools that read ONNX files but not edgelstm metadata."""
    record = call_record(loaded)
    if record is not None:
        model.graph.doc_string = json.dumps(record, sort_keys=True)


def _user_state_specs(layers: list[Any]) -> list[StateSpec]:
    """h (and c) of each recurrent layer, shaped like torch's [layers, batch, hidden]; named h_in/h_out for one
    layer (as edgelstm's own graphs), rnn{i}_h_in/... when there are several."""
    specs = []
    for index, layer in enumerate(layers):
        prefix = "" if len(layers) == 1 else f"rnn{index}_"
        kind = type(layer).__name__
        rows = [f"layer{n}.forward" for n in range(layer.num_layers)]
        parts = [("h", layer.proj_size or layer.hidden_size, "hidden")]
        if isinstance(layer, torch.nn.LSTM):
            parts.append(("c", layer.hidden_size, "cell"))
        for name, size, what in parts:
            specs.append(
                StateSpec(
                    name=f"{prefix}{name}",
                    input_name=f"{prefix}{name}_in",
                    output_name=f"{prefix}{name}_out",
                    shape=[layer.num_layers, "batch", size],
                    rows=rows,
                    initial_value=0.0,
                    dtype="float32",
                    description=f"{what} state of the user's {kind} ({index})",
                )
            )
    return specs
