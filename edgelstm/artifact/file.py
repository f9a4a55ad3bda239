"""An artifact file opened once: its graph, metadata (or a foreign graph's probed interface), precision and sha256."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import onnx

from edgelstm.artifact.foreign import foreign_metadata, pair_states
from edgelstm.artifact.graph_io import read_value_infos, session_tensor_specs, tensor_specs
from edgelstm.artifact.hints import InterfaceHints
from edgelstm.artifact.interface import GraphInterface
from edgelstm.artifact.litert_file import read_sidecar
from edgelstm.artifact.metadata import ArtifactMetadata, load_onnx_file, metadata_of
from edgelstm.artifact.session import SessionSettings, session_from_onnx
from edgelstm.artifact.walk import graphs, nodes
from edgelstm.errors import LoadError
from edgelstm.files import file_sha256


@dataclass(frozen=True)
class ArtifactInfo:
    """An artifact file opened once: its path, format, precision, interface and metadata."""

    path: Path
    format: str  # "onnx" | "ort" | "tflite"
    precision: str  # fp32 | fp16 | int8 | int4
    interface: GraphInterface
    metadata: ArtifactMetadata | None
    fused_rnn_with_lengths: bool  # onnx.reference's LSTM/GRU ignore sequence_lens
    sha256: str = ""  # of the file as judged: every verdict names it
    contrib_ops: tuple[str, ...] = ()  # ops outside the ONNX standard (com.microsoft): ORT-only
    # The graph as parsed here (weights left external; None for .ort): the crash probe's feeds, the ORT-format
    # conversion and onnx.reference read it instead of parsing the file again.
    model: onnx.ModelProto | None = field(default=None, compare=False, repr=False)

    @property
    def name(self) -> str:
        """The file name, as reports and tables show it."""
        return self.path.name

    @property
    def has_lengths(self) -> bool:
        """Whether the graph takes a `lengths` input for padded batches."""
        return any(t.name == "lengths" for t in self.interface.inputs)


def open_artifact(path: Path, hints: InterfaceHints | None = None) -> ArtifactInfo:
    """A file without edgelstm metadata is described and probed as a foreign graph (the detection `inspect` shows)
    when `hints` (--const/--state/--chunk/--axes) are given or it carries state pairs; only a stateless graph
    nobody described is read with the generic (first input is x) interface."""
    path = Path(path)
    if not path.is_file():
        raise LoadError(f"{path}: no such artifact")
    if path.suffix == ".ort":
        return _open_ort(path)
    if path.suffix == ".tflite":
        return open_tflite(path)
    if path.suffix != ".onnx":
        raise LoadError(f"{path}: not an .onnx, .ort or .tflite artifact")
    model = load_onnx_file(path)  # parsed once here: metadata, precision and ops are all read from it
    sha256 = file_sha256(path)  # hashed once here: every verdict on the file names it
    metadata = _metadata_or_none(model, path)
    if metadata is None and (hints or _carries_state(model)):
        metadata = foreign_metadata(path, hints, model, sha256)
    interface = metadata.interface if metadata else generic_interface(model)
    return ArtifactInfo(
        path,
        "onnx",
        detect_precision(model),
        interface,
        metadata,
        _fused_with_lengths(model),
        sha256,
        contrib_ops(model),
        model,
    )


def _carries_state(model: onnx.ModelProto) -> bool:
    """State pairs found by the one detection (`foreign.pair_states`): such a graph cannot be fed without its
    interface, so every command describes it the way `inspect` does."""
    return bool(pair_states(*read_value_infos(model)))


def _open_ort(path: Path) -> ArtifactInfo:
    # ORT format drops metadata_props: take the interface from the ONNX file it was converted from, if beside it.
    sibling = path.with_suffix(".onnx")
    if sibling.is_file():
        info = open_artifact(sibling)
        return ArtifactInfo(
            path, "ort", info.precision, info.interface, info.metadata, info.fused_rnn_with_lengths, file_sha256(path)
        )
    session = session_from_onnx(path, SessionSettings())
    inputs, outputs = session_tensor_specs(session.get_inputs()), session_tensor_specs(session.get_outputs())
    interface = GraphInterface("sequence", "unknown", inputs, outputs, [])
    return ArtifactInfo(path, "ort", "fp32", interface, None, False, file_sha256(path))


def open_tflite(path: Path) -> ArtifactInfo:
    """A LiteRT artifact: its interface and precision from the sidecar edgelstm wrote beside it (checked against the
    file's sha256); no LiteRT import, so every command can describe it without the `litert` extra."""
    sidecar, digest = read_sidecar(path)
    return ArtifactInfo(path, "tflite", sidecar.precision, sidecar.metadata.interface, sidecar.metadata, False, digest)


def _metadata_or_none(model: onnx.ModelProto, path: Path) -> ArtifactMetadata | None:
    try:
        return metadata_of(model, path)
    except LoadError:
        return None


def generic_interface(model: onnx.ModelProto) -> GraphInterface:
    """For ONNX files without edgelstm metadata: first input is x, outputs compared in order (read by the one
    graph reader, `graph_io.read_value_infos`)."""
    inputs, outputs = read_value_infos(model)
    return GraphInterface("sequence", "unknown", tensor_specs(inputs), tensor_specs(outputs), [])


def detect_precision(model: onnx.ModelProto) -> str:
    """The precision a graph computes or stores its weights in (fp32, fp16, int8, int4), read from its nodes and tensors."""
    ops = {n.op_type for n in nodes(model.graph)}  # Loop bodies and If branches count too
    if "MatMulNBits" in ops or stores_tensors(model, (onnx.TensorProto.INT4, onnx.TensorProto.UINT4)):
        return "int4"
    # DequantizeLinear alone, or int8 tensors expanded by Cast + Mul: weight-only int8 (float compute over int8-stored
    # weights).
    quantized_ops = {"DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear", "ConvInteger"}
    if ops & {"DynamicQuantizeLSTM", "MatMulInteger", "QLinearMatMul", *quantized_ops}:
        return "int8"
    if stores_tensors(model, (onnx.TensorProto.INT8,)):
        return "int8"
    if any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer):
        return "fp16"
    return "fp32"


def stores_tensors(model: onnx.ModelProto, types: tuple[int, ...]) -> bool:
    """Tensors of `types` (weight-only int8/int4 storage), as initializers or Constant nodes, subgraphs included."""
    for graph in graphs(model.graph):
        if any(i.data_type in types for i in graph.initializer):
            return True
        tensor_attributes = (a for node in graph.node for a in node.attribute if a.type == onnx.AttributeProto.TENSOR)
        if any(a.t.data_type in types for a in tensor_attributes):
            return True
    return False


def contrib_ops(model: onnx.ModelProto) -> tuple[str, ...]:
    """Op types from outside the ONNX standard domains (e.g. com.microsoft's DynamicQuantizeLSTM), subgraphs included."""
    return tuple(sorted({n.op_type for n in nodes(model.graph) if n.domain not in ("", "ai.onnx", "ai.onnx.ml")}))


def _fused_with_lengths(model: onnx.ModelProto) -> bool:
    return any(n.op_type in ("LSTM", "GRU", "RNN") and len(n.input) > 4 and n.input[4] for n in model.graph.node)
