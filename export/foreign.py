"""Export a user nn.Module or torch.export program through torch.onnx (sequence form only).

A user module hides its recurrent state inside forward(), so only the sequence form is possible; the
streaming and loop forms need an edgelstm SequenceModel, whose state layout we know.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import torch
from edgelstm.export.config import ExportConfig, GraphInterface, TensorSpec
from edgelstm.export.verify import _flatten

from edgelstm.errors import ExportError
from edgelstm.loading import LoadedModel, user_code


def example_input(loaded: LoadedModel, steps: int, batch: int = 2) -> torch.Tensor:
    sig = loaded.signature
    generator = torch.Generator().manual_seed(0)
    if sig.kind == "tokens":
        return torch.randint(0, sig.size, (batch, steps), generator=generator)
    return torch.randn(batch, steps, sig.size, generator=generator)


def build_foreign_onnx(
    loaded: LoadedModel, export_config: ExportConfig, example_steps: int
) -> tuple[onnx.ModelProto, GraphInterface]:
    """Trace with an example of `example_steps` steps; verification then runs at other lengths."""
    if export_config.form != "sequence":
        raise ExportError(
            "the streaming form needs an edgelstm SequenceModel (its state layout is known); a user module "
            "keeps its state inside forward(), so only --form sequence is available"
        )
    if export_config.impl in ("loop", "unrolled"):
        raise ExportError("the loop form is built from an edgelstm SequenceModel's weights; user modules export with torch.onnx")
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
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ExportError(f"torch.onnx could not export {loaded.origin}: {first[:300]}") from None
    x_spec = (
        TensorSpec("x", "int64", ["batch", "time"], "token ids")
        if loaded.signature.kind == "tokens"
        else TensorSpec("x", "float32", ["batch", "time", loaded.signature.size], "input features")
    )
    out_specs = [TensorSpec(n, _dtype_name(t), _symbolic_shape(t, steps)) for n, t in zip(names, outputs, strict=False)]
    return model, GraphInterface("sequence", "torch.onnx", [x_spec], out_specs, [])


def _symbolic_shape(tensor: torch.Tensor, steps: int) -> list[int | str]:
    shape: list[int | str] = ["batch"]
    shape += ["time" if d == steps else int(d) for d in tensor.shape[1:]]
    return shape


def _dtype_name(tensor: torch.Tensor) -> str:
    return str(np.dtype(str(tensor.dtype).replace("torch.", "")))
