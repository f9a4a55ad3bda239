"""The one reader of a graph's inputs and outputs, and the one ONNX -> numpy element-type table (onnx's own)."""

from __future__ import annotations

from typing import Any

import onnx

from edgelstm.artifact.interface import Dim, TensorSpec, ValueInfo


def read_value_infos(model: Any) -> tuple[list[ValueInfo], list[ValueInfo]]:
    """Graph inputs (initializers excluded: older exporters list weights as inputs) and outputs."""
    initializers = {t.name for t in model.graph.initializer}
    inputs = [_value_info(v) for v in model.graph.input if v.name not in initializers]
    return inputs, [_value_info(v) for v in model.graph.output]


def _value_info(value: Any) -> ValueInfo:
    tensor = value.type.tensor_type
    dims: list[Dim] = []
    for dim in tensor.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(int(dim.dim_value))
        else:
            dims.append(dim.dim_param or "?")
    return ValueInfo(value.name, numpy_dtype(tensor.elem_type), tuple(dims))


def numpy_dtype(elem_type: int) -> str:
    """The numpy name of an ONNX element type (the one table: onnx's own), `onnx-type-N` for types numpy lacks."""
    if not elem_type:  # an exporter that left the type out: float, as ORT assumes for audio/feature inputs
        return "float32"
    try:
        return onnx.helper.tensor_dtype_to_np_dtype(elem_type).name
    except (KeyError, ValueError, TypeError):
        return f"onnx-type-{elem_type}"


def numpy_dtype_of_ort(type_name: str) -> str:
    """`tensor(float)` (ORT's `NodeArg.type`) -> `float32`, through the same table."""
    inner = type_name.removeprefix("tensor(").removesuffix(")")
    names = {name.lower(): value for name, value in onnx.TensorProto.DataType.items()}  # FLOAT -> "float"
    return numpy_dtype(names[inner]) if inner in names else type_name


def tensor_specs(values: list[ValueInfo]) -> list[TensorSpec]:
    """The interface's spelling of values read from a graph (shapes as lists)."""
    return [TensorSpec(v.name, v.dtype, list(v.shape)) for v in values]


def session_tensor_specs(args: list[Any]) -> list[TensorSpec]:
    """ORT's `session.get_inputs()`/`get_outputs()` (an ORT-format file carries no ONNX graph to read) as specs."""
    return [TensorSpec(a.name, numpy_dtype_of_ort(a.type), [d if isinstance(d, int) else str(d) for d in a.shape]) for a in args]
