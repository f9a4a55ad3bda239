"""Candidate artifacts: what an .onnx or .ort file is (form, interface, precision) and how to run it per provider."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from edgelstm.errors import EdgelstmError, InputShapeError, LoadError, first_line
from edgelstm.export.config import GraphInterface, TensorSpec
from edgelstm.export.metadata import ArtifactMetadata, read_metadata
from edgelstm.parity.evidence import file_sha256
from edgelstm.runtime import SessionSettings, session_from_onnx
from edgelstm.state import StateSpec

if TYPE_CHECKING:
    from edgelstm.onnx_interface import InterfaceHints

PROVIDERS = ("cpu", "cuda", "mobile", "reference")


class NotApplicable(EdgelstmError):
    """This provider cannot run this artifact (e.g. onnx.reference on an ORT-format file)."""


@dataclass(frozen=True)
class ArtifactInfo:
    path: Path
    format: str  # "onnx" | "ort"
    precision: str  # fp32 | fp16 | int8 | int4
    interface: GraphInterface
    metadata: ArtifactMetadata | None
    fused_rnn_with_lengths: bool  # onnx.reference's LSTM/GRU ignore sequence_lens
    sha256: str = ""  # of the file as judged: every verdict names it
    contrib_ops: tuple[str, ...] = ()  # ops outside the ONNX standard (com.microsoft): ORT-only

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def has_lengths(self) -> bool:
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
    if path.suffix != ".onnx":
        raise LoadError(f"{path}: not an .onnx or .ort artifact")
    from edgelstm.export.metadata import load_onnx_file

    model = load_onnx_file(path)
    metadata = _metadata_or_none(path)
    if metadata is None and (hints or _carries_state(model)):
        from edgelstm.export.metadata import foreign_metadata

        metadata = foreign_metadata(path, hints)
    interface = metadata.interface if metadata else generic_interface(model)
    return ArtifactInfo(
        path,
        "onnx",
        detect_precision(model),
        interface,
        metadata,
        _fused_with_lengths(model),
        file_sha256(path),
        contrib_ops(model),
    )


def _carries_state(model: onnx.ModelProto) -> bool:
    """State pairs found by the one detection (`onnx_interface.pair_states`): such a graph cannot be fed without
    its interface, so every command describes it the way `inspect` does."""
    from edgelstm.onnx_interface import pair_states, read_value_infos

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
    from edgelstm.onnx_interface import numpy_dtype_of_ort

    inputs = [TensorSpec(i.name, numpy_dtype_of_ort(i.type), _dims(i.shape)) for i in session.get_inputs()]
    outputs = [TensorSpec(o.name, numpy_dtype_of_ort(o.type), _dims(o.shape)) for o in session.get_outputs()]
    interface = GraphInterface("sequence", "unknown", inputs, outputs, [])
    return ArtifactInfo(path, "ort", "fp32", interface, None, False, file_sha256(path))


def _metadata_or_none(path: Path) -> ArtifactMetadata | None:
    try:
        return read_metadata(path)
    except LoadError:
        return None


def generic_interface(model: onnx.ModelProto) -> GraphInterface:
    """For ONNX files without edgelstm metadata: first input is x, outputs compared in order (read by the one
    graph reader, `onnx_interface.read_value_infos`)."""
    from edgelstm.onnx_interface import read_value_infos

    inputs, outputs = read_value_infos(model)
    specs = [[TensorSpec(v.name, v.dtype, list(v.shape)) for v in values] for values in (inputs, outputs)]
    return GraphInterface("sequence", "unknown", specs[0], specs[1], [])


def detect_precision(model: onnx.ModelProto) -> str:
    ops = {n.op_type for n in model.graph.node}
    for graph_node in model.graph.node:  # Loop bodies count too
        for attr in graph_node.attribute:
            if attr.g is not None:
                ops |= {n.op_type for n in attr.g.node}
    if "MatMulNBits" in ops or _stores(model, (onnx.TensorProto.INT4, onnx.TensorProto.UINT4)):
        return "int4"
    # DequantizeLinear alone, or int8 tensors expanded by Cast + Mul: weight-only int8 (float compute over int8-stored
    # weights).
    quantized_ops = {"DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear", "ConvInteger"}
    if ops & {"DynamicQuantizeLSTM", "MatMulInteger", "QLinearMatMul", *quantized_ops}:
        return "int8"
    if _stores(model, (onnx.TensorProto.INT8,)):
        return "int8"
    if any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer):
        return "fp16"
    return "fp32"


def _stores(model: onnx.ModelProto, types: tuple[int, ...]) -> bool:
    """Tensors of `types` (weight-only int8/int4 storage), as initializers or Constant nodes, subgraphs included."""

    def visit(graph: onnx.GraphProto) -> bool:
        if any(i.data_type in types for i in graph.initializer):
            return True
        for node in graph.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type in types:
                    return True
                if attr.type == onnx.AttributeProto.GRAPH and visit(attr.g):
                    return True
        return False

    return visit(model.graph)


def contrib_ops(model: onnx.ModelProto) -> tuple[str, ...]:
    """Op types from outside the ONNX standard domains (e.g. com.microsoft's DynamicQuantizeLSTM), subgraphs included."""
    found: set[str] = set()

    def visit(graph: onnx.GraphProto) -> None:
        for node in graph.node:
            if node.domain not in ("", "ai.onnx", "ai.onnx.ml"):
                found.add(node.op_type)
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    visit(attr.g)
                for sub in attr.graphs:
                    visit(sub)

    visit(model.graph)
    return tuple(sorted(found))


def _fused_with_lengths(model: onnx.ModelProto) -> bool:
    return any(n.op_type in ("LSTM", "GRU", "RNN") and len(n.input) > 4 and n.input[4] for n in model.graph.node)


def _dims(shape: list[Any]) -> list[int | str]:
    return [d if isinstance(d, int) else str(d) for d in shape]


class Runner:
    """Runs one artifact on one provider; records the providers actually used."""

    def __init__(self, provider: str, providers_used: list[str], session: Any, ignores_sequence_lens: bool = False):
        self.provider = provider
        self.providers_used = providers_used
        self._session = session
        self.ignores_sequence_lens = ignores_sequence_lens

    def run(self, output_names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(v) for v in self._session.run(output_names, feeds)]


def open_runner(artifact: ArtifactInfo, provider: str, workdir: Path, threads: int = 1) -> Runner:
    """cpu / cuda: the artifact as given; mobile: converted to ORT format and run the way ORT Mobile runs it
    (pre-optimised ORT-format session, 1 thread, no further graph optimisation); reference: onnx.reference."""
    if provider in ("cpu", "cuda"):
        session = session_from_onnx(artifact.path, SessionSettings(provider=provider, intra_op_threads=threads))
        return Runner(provider, list(session.get_providers()), session)
    if provider == "mobile":
        # A mobile (minimal) build cannot re-optimise: the ORT file carries the optimised graph.
        settings = SessionSettings(provider="cpu", intra_op_threads=1, graph_optimization="disable")
        try:  # the conversion too: ORT refusing to write the ORT format is the same finding
            ort_path = artifact.path if artifact.format == "ort" else convert_to_ort(artifact.path, workdir)
            session = session_from_onnx(ort_path, settings)
        except Exception as exc:  # ORT raises its own types; the finding is that ORT Mobile cannot load this file
            raise OrtFormatError(f"ORT Mobile cannot load it: {first_line(exc, 200, last=True)}") from None
        return Runner(provider, [*session.get_providers(), "ORT format"], session)
    if provider == "reference":
        if artifact.format == "ort":
            raise NotApplicable("not applicable: onnx.reference reads ONNX files, not ORT format")
        if artifact.contrib_ops:
            ops = ", ".join(artifact.contrib_ops)
            raise NotApplicable(f"not runnable in onnx.reference (contrib op {ops}); the other providers gate it")
        from onnx.reference import ReferenceEvaluator

        evaluator = ReferenceEvaluator(str(artifact.path))
        return Runner(provider, ["onnx.reference.ReferenceEvaluator"], evaluator, artifact.fused_rnn_with_lengths)
    raise EdgelstmError(f"unknown provider {provider!r}; choose from {', '.join(PROVIDERS)}")


class OrtFormatError(EdgelstmError):
    """The artifact does not survive conversion to ORT format (ORT Mobile's): onnxruntime 1.32 writes int4
    initializers it cannot read back. A verdict for the mobile provider, not a crash."""


def ort_format_problem(path: Path) -> str | None:
    """Why this ONNX artifact cannot ship to ORT Mobile (converted to ORT format, the file does not load), or None."""
    with tempfile.TemporaryDirectory(prefix="edgelstm-ort-format-") as workdir:
        try:
            open_runner(open_artifact(path), "mobile", Path(workdir))
        except OrtFormatError as exc:
            return str(exc)
    return None


def convert_to_ort(path: Path, workdir: Path) -> Path:
    """ONNX -> ORT format as onnxruntime.tools.convert_onnx_models_to_ort's 'Fixed' style does, but optimised at
    the EXTENDED level: ALL adds layout transforms for the converting machine's CPU (NCHWc on x86), and this file
    is meant for phones."""
    import onnxruntime as ort

    target = Path(tempfile.mkdtemp(dir=workdir)) / (path.stem + ".ort")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(target)
    options.add_session_config_entry("session.save_model_format", "ORT")
    # the graph's structure and dtypes are all that is read: external weights stay on disk
    graph = onnx.load(str(path), load_external_data=False)
    disabled = ["ConstantFolding"] if keeps_int8_weights_in_ort_format(graph) else []
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"], disabled_optimizers=disabled)
    return target


def keeps_int8_weights_in_ort_format(model: onnx.ModelProto) -> bool:
    """Whether the ORT-format file keeps int8-stored weights (Cast + Mul) unfolded.

    Folding them at conversion would write float32 weights into the .ort, 4x the bytes. An ORT-format file is loaded
    as written (minimal builds do not optimize), so the phone expands them on every call, as it ran DequantizeLinear
    before. int4 storage is folded instead: the ORT format cannot hold 4-bit tensors (ORT 1.32 refuses to load such a
    file: "Unsupported tensor data type"), so its .ort carries float32 weights."""
    int4 = (onnx.TensorProto.INT4, onnx.TensorProto.UINT4)
    return _casts_stored_int8(model.graph) and not _stores(model, int4)


def _casts_stored_int8(graph: onnx.GraphProto, outer: frozenset[str] = frozenset()) -> bool:
    """A Cast reads a stored int8 tensor (weight-only storage; static/dynamic int8 read theirs otherwise), in this
    graph or in a body that reads it from an outer scope (`outer`: the int8 tensors stored around it)."""
    stored = set(outer) | {i.name for i in graph.initializer if i.data_type == onnx.TensorProto.INT8}
    stored |= {
        n.output[0]
        for n in graph.node
        if n.op_type == "Constant" and n.attribute and n.attribute[0].t.data_type == onnx.TensorProto.INT8
    }
    for node in graph.node:
        if node.op_type == "Cast" and node.input and node.input[0] in stored:
            return True
        if any(
            attr.type == onnx.AttributeProto.GRAPH and _casts_stored_int8(attr.g, frozenset(stored)) for attr in node.attribute
        ):
            return True
    return False


def data_shape(interface: GraphInterface, batch: int, steps: int | None = None) -> list[int]:
    """The data input's shape for one call: `batch`, `steps` on the time/chunk axis (default: a foreign graph's
    confirmed chunk plus its context), fixed axes as declared, any other unnamed axis 1. A frames-first graph
    takes `batch` frames (its batch is 1: callers that feed rows as streams give it one row per call)."""
    if steps is None:
        steps = (interface.chunk or 1) + interface.context
    sizes = {"batch": batch, "frames": batch, "time": steps, "chunk": steps}  # frames-first: one frame per row
    return [d if isinstance(d, int) else sizes.get(d, 1) for d in interface.data_input.shape]


def data_for_graph(interface: GraphInterface, x: np.ndarray) -> np.ndarray:
    """Data in the model's own (standardised) space, as the graph's data input takes it: the raw features for a
    graph that standardises inside (`interface.normalization`), else unchanged. `--data` files hold what the model
    was trained on (a checkpoint's heldout.npz), so every feeder of such data goes through here."""
    if interface.normalization is None or x.dtype.kind != "f":
        return x
    return interface.normalization.raw_from_standardized(x)


def sequence_feeds(
    interface: GraphInterface,
    x: np.ndarray,
    lengths: np.ndarray | None,
    where: str,
    state_values: Callable[[StateSpec, list[int]], np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Inputs for one call of a graph on `x`: lengths (full when not given), initial states (the "batch" axis, at
    whatever position the state has it, sized from x's batch) and the graph's fixed constants.
    `state_values(spec, shape)`: what a state starts from instead of its initial value (export verification
    starts from random states, to prove every state input is wired)."""
    names = [t.name for t in interface.inputs]
    feeds: dict[str, np.ndarray] = {interface.data_input.name: x}
    if "lengths" in names:
        if lengths is None and x.ndim < 2:
            raise InputShapeError(f"{where}: {interface.data_input.name} {list(x.shape)} has no time axis to fill lengths from")
        feeds["lengths"] = lengths if lengths is not None else np.full(x.shape[0], x.shape[1], np.int64)
    for spec in interface.states:
        shape = [x.shape[0] if d == "batch" else int(d) for d in spec.shape]
        if state_values is not None:
            feeds[spec.input_name] = state_values(spec, shape)
        else:
            feeds[spec.input_name] = np.full(shape, spec.initial_value, np.dtype(spec.dtype))
    dtypes = {t.name: t.dtype for t in interface.inputs}
    for name, value in interface.constants.items():
        feeds[name] = np.array(value, dtype=dtypes.get(name, "float32"))
    missing = [n for n in names if n not in feeds]
    if missing:
        hint = (
            " (a graph made elsewhere: describe it with --const NAME=VALUE, --state IN:OUT, --chunk N)"
            if interface.impl == "unknown"
            else ""
        )
        raise InputShapeError(f"{where}: don't know how to feed input(s) {', '.join(missing)}{hint}")
    return feeds


def zero_state_interface(
    inputs: Sequence[TensorSpec],
    constants: Mapping[str, float | int] | None = None,
    data: str | None = None,
    roles: Sequence[str] = (),
) -> GraphInterface:
    """An interface for running a graph once when all that is known is its input list (a bundle's manifest, a
    file without metadata, a foreign graph before its probe has confirmed anything): `data` (default: the first
    input that is not `lengths` or a constant) with its free axes 0 and 1 named batch and chunk (frames and chunk
    when `roles` say axis 0 is time: a frames-first graph), `lengths`, the constants, and every other input a
    state starting at zero whose free axes follow the batch."""
    constants = dict(constants or {})
    if data is None:
        data = next((t.name for t in inputs if t.name != "lengths" and t.name not in constants), inputs[0].name)
    leading = "frames" if roles and roles[0] == "time" else "batch"

    def data_dims(shape: Sequence[int | str]) -> list[int | str]:
        return [d if isinstance(d, int) else (leading, "chunk")[axis] if axis < 2 else d for axis, d in enumerate(shape)]

    specs = [TensorSpec(t.name, t.dtype, data_dims(t.shape) if t.name == data else list(t.shape)) for t in inputs]
    states = [
        StateSpec(t.name, t.name, "", [d if isinstance(d, int) else "batch" for d in t.shape], [], 0.0, t.dtype, "zero")
        for t in inputs
        if t.name not in (data, "lengths") and t.name not in constants
    ]
    return GraphInterface("sequence", "unknown", specs, [], states, constants)
