"""What ONNX Runtime would refuse in an ONNX file, found before ORT runs and said in one line with what to do.

ORT's own refusals of these name a C++ source line or a shape-inference step ("Cannot parse data from external
tensors"); read from the file, the same problems can be named: which tensor's external data is missing or points
outside the model's folder, which node uses an op from an unknown domain, which opset is newer than this onnx knows.
Reading external data from outside the model's folder is also refused for safety: a graph must not make edgelstm
read arbitrary files.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import onnx
from onnx.external_data_helper import ExternalDataInfo, uses_external_data

from edgelstm.artifact.walk import graphs, model_nodes
from edgelstm.errors import LoadError

# Operator domains ONNX Runtime's CPU build registers kernels or schemas for; anything else needs a custom-op library.
KNOWN_DOMAINS = frozenset(
    {
        "",
        "ai.onnx",
        "ai.onnx.ml",
        "ai.onnx.preview.training",
        "ai.onnx.training",
        "com.microsoft",
        "com.microsoft.experimental",
        "com.microsoft.nchwc",
        "com.ms.internal.nhwc",
        "org.pytorch.aten",
    }
)


def check_graph_file(model: onnx.ModelProto, path: Path) -> None:
    """Refuse (LoadError) what ORT cannot load: a newer opset, unknown op domains, unreadable external data."""
    _check_opsets(model, path)
    _check_domains(model, path)
    _check_external_data(model, path)


def _check_opsets(model: onnx.ModelProto, path: Path) -> None:
    newest = onnx.defs.onnx_opset_version()
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version > newest:
            raise LoadError(
                f"{path}: the graph declares ONNX opset {opset.version}; the installed onnx knows opsets up to {newest} "
                "(re-export it at a released opset)"
            )


def _check_domains(model: onnx.ModelProto, path: Path) -> None:
    local = {(f.domain, f.name) for f in model.functions}  # model-local functions are defined in the file itself
    for node in model_nodes(model):
        if node.domain not in KNOWN_DOMAINS and (node.domain, node.op_type) not in local:
            where = f"node {node.name!r}" if node.name else "a node"
            raise LoadError(
                f"{path}: {where} uses op {node.domain}:{node.op_type} from a custom domain onnxruntime does not know "
                "(edgelstm runs standard ONNX and com.microsoft ops; replace the op or export without it)"
            )


def _check_external_data(model: onnx.ModelProto, path: Path) -> None:
    folder = path.resolve().parent
    for tensor in _tensors(model):
        if not uses_external_data(tensor):
            continue
        try:
            location = ExternalDataInfo(tensor).location
        except ValueError as exc:  # a negative offset or length
            raise LoadError(f"{path}: tensor {tensor.name!r} has malformed external data ({exc})") from None
        if "\0" in location:  # resolve() would raise on it
            raise LoadError(f"{path}: tensor {tensor.name!r} names its external data with a NUL byte; refused")
        target = (folder / location).resolve()
        if not location or Path(location).is_absolute() or not target.is_relative_to(folder):
            raise LoadError(
                f"{path}: tensor {tensor.name!r} keeps its data in {location!r}, outside the model's folder; "
                "refused (external data must sit beside the .onnx file)"
            )
        if not target.is_file():
            raise LoadError(
                f"{path}: tensor {tensor.name!r} keeps its data in {location!r}, which is missing from {folder} "
                "(copy the data file next to the .onnx file)"
            )


def _tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    for graph in graphs(model.graph):
        yield from graph.initializer
    for node in model_nodes(model):
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.TENSOR:
                yield attribute.t
            yield from attribute.tensors
