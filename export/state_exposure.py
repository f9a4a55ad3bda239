"""Expose the state of fused ONNX LSTM/GRU nodes as graph inputs and outputs: any such graph becomes a streaming one.

A graph traced from a user module (or made elsewhere) starts every recurrent node from zeros and drops its final
state, so it can only run whole sequences. This pass gives each fused node whose initial state is missing or zeros
an input `<node>_h_in` (and `_c_in`) and an output `<node>_h_out` (`_c_out`), the names `edgelstm.artifact.foreign`
pairs by convention. Whether the rest of the graph streams (no attention over the whole sequence, no pooling, no
non-causal padding) is not guessed from its ops: `stream_graph_file` runs the graph chunk by chunk carrying the new
state against one whole-sequence call, and refuses the graph when they differ.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import onnx
import onnx_ir as ir
from onnx_ir.passes import Sequential
from onnx_ir.passes.common import IdentityEliminationPass, LiftConstantsToInitializersPass, RemoveUnusedNodesPass

from edgelstm.artifact.chunks import run_in_chunks
from edgelstm.artifact.feeds import data_shape, sequence_feeds
from edgelstm.artifact.foreign import foreign_metadata
from edgelstm.artifact.hints import InterfaceHints
from edgelstm.artifact.interface import GraphInterface
from edgelstm.artifact.layout import run_batch_first
from edgelstm.artifact.metadata import attach_metadata, load_onnx_file
from edgelstm.artifact.session import session_from_onnx
from edgelstm.errors import UnsupportedGraphError, first_line
from edgelstm.export.constant_fold import fold_constant
from edgelstm.export.time_major import NOT_RUN, TimeMajorRewrite, time_major_model
from edgelstm.files import check_output_dir, ensure_writable, file_sha256, write_artifact_pair
from edgelstm.jsonio import json_meta, to_jsonable

_STATE_SLOTS = {"LSTM": (("h", 5, 1), ("c", 6, 2)), "GRU": (("h", 5, 1),)}  # (name, input index, output index)
# Ops that keep zeros zeros: torch.onnx builds an RNN's initial state as Slice(ConstantOfShape(...)).
_ZERO_PRESERVING = {"Slice", "Identity", "Cast", "Reshape", "Squeeze", "Unsqueeze", "Gather", "Transpose", "Expand", "Tile"}
PARITY_CHUNKS = (1, 7)
PROBE_STEPS = 23  # not a multiple of 7: the last chunk is a short one, as a real stream's can be
PARITY_TOLERANCE = 1e-4  # relative to the output's largest magnitude: float32 kernels, the same math in pieces


@dataclass(frozen=True)
class ExposedState:
    """One fused node's hidden state made a graph input and output, so an app can carry it across calls."""

    node: str  # the fused node, as named in the graph
    op_type: str
    input_name: str
    output_name: str
    shape: list[int | str]


@dataclass
class ChunkParity:
    """The exposed-state graph run chunk by chunk against the original in one call, at one chunk length."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("passed",)

    chunk: int
    max_abs_error: float
    scale: float  # largest |output| of the whole-sequence call: the tolerance is relative to it
    error: str = ""  # a run that failed at this chunk length (shape mismatch, rejected shape)

    @property
    def passed(self) -> bool:
        """Whether the chunked run matched the one-call run within tolerance (relative to the output scale)."""
        return not self.error and self.max_abs_error <= PARITY_TOLERANCE * max(self.scale, 1.0)


def _layout_name(layout: TimeMajorRewrite) -> str:
    return "time_major" if layout.applied else "batch_first"


@dataclass
class StateExposureResult:
    """What `stream_graph_file` did: the states exposed, the streaming parity per chunk length, what it wrote (its
    JSON is the one written beside the streaming graph)."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("passed", "layout_note")
    JSON_ORDER: ClassVar[tuple[str, ...]] = (
        "source",
        "source_sha256",
        "states",
        "parity",
        "passed",
        "path",
        "sha256",
        "layout",
        "layout_note",
    )

    source: str
    source_sha256: str
    states: list[ExposedState]
    parity: list[ChunkParity] = field(default_factory=list)
    path: Path | None = None
    sha256: str = ""
    # the data layout written (time-major where only a Transpose stood in the way)
    layout: TimeMajorRewrite = field(default=NOT_RUN, metadata=json_meta(convert=_layout_name))
    # the streaming graph's one call against the source graph's (None: not checked, the source takes other inputs)
    source_parity: ChunkParity | None = None

    @property
    def passed(self) -> bool:
        """Whether every chunk length was checked and matched: only then is the streaming graph written."""
        return bool(self.parity) and all(p.passed for p in self.parity)

    def __bool__(self) -> bool:
        return self.passed

    @property
    def layout_note(self) -> str:
        """The data layout written, in words."""
        return self.layout.describe()


def expose_rnn_state(model: onnx.ModelProto) -> tuple[onnx.ModelProto, list[ExposedState]]:
    """A copy of `model` whose fused LSTM/GRU nodes (main graph) take their initial state from new graph inputs and
    give their final state to new graph outputs. Raises UnsupportedGraphError (one line) for a graph that cannot
    get one: no fused node, a bidirectional node, a node inside a subgraph, one fed lengths or a computed state."""
    ir_model = ir.from_proto(model)
    graph = ir_model.graph
    fused = [n for n in graph.all_nodes() if n.op_type in _STATE_SLOTS and n.domain in ("", "ai.onnx")]
    if not fused:
        raise UnsupportedGraphError("the graph has no fused LSTM/GRU node whose state could be exposed")
    opset = ir_model.opset_imports.get("", 0)
    taken = _value_names(graph)
    graph_outputs = {id(v) for v in graph.outputs}
    exposed: list[ExposedState] = []
    for node in fused:
        where = f"{node.op_type} {node.name or '(unnamed)'}"
        if node.graph is not graph:
            raise UnsupportedGraphError(f"{where} sits inside an If/Loop body; only main-graph nodes get state I/O")
        direction = node.attributes.get_string("direction", "forward")
        if direction == "bidirectional":
            raise UnsupportedGraphError(f"{where} is bidirectional: each step depends on later steps, so the graph cannot stream")
        inputs = list(node.inputs) + [None] * (8 - len(node.inputs))
        if inputs[4] is not None:
            raise UnsupportedGraphError(f"{where} takes sequence_lens (padded batches); a stream has no lengths")
        x_type = inputs[0].dtype if inputs[0] is not None else None
        if x_type not in (None, ir.DataType.FLOAT):
            raise UnsupportedGraphError(f"{where}: input type {x_type} (only float32 graphs get state I/O)")
        node = _with_all_outputs(node)
        hidden = node.attributes.get_int("hidden_size", 0)
        layout = node.attributes.get_int("layout", 0)
        shape: list[int | str] = ["batch", 1, hidden] if layout == 1 else [1, "batch", hidden]
        prefix = _unique(_stem(node.name or node.op_type), taken)
        for slot, in_index, out_index in _STATE_SLOTS[node.op_type]:
            initial = inputs[in_index]
            if initial is not None and initial in graph.inputs:
                raise UnsupportedGraphError(f"{where}: its {slot} state is a graph input already (the graph streams)")
            if initial is not None and not _is_zeros(initial, opset):
                raise UnsupportedGraphError(
                    f"{where}: its initial {slot} is computed in the graph, not zeros; it cannot be replaced by an input"
                )
            state_in = ir.Value(name=f"{prefix}_{slot}_in", type=ir.TensorType(ir.DataType.FLOAT), shape=ir.Shape(shape))
            graph.inputs.append(state_in)
            if in_index >= len(node.inputs):  # exporters may leave trailing optional inputs off
                node.resize_inputs(in_index + 1)
            node.replace_input_with(in_index, state_in)
            final = node.outputs[out_index]
            out_name = f"{prefix}_{slot}_out"
            if id(final) in graph_outputs or final.name in {v.name for v in graph.outputs}:
                # the user's graph returns it under its own name already: keep that, add ours beside it
                final = _identity(graph, node, final, out_name)
            else:
                final.name = out_name
            final.type, final.shape = ir.TensorType(ir.DataType.FLOAT), ir.Shape(shape)
            graph.outputs.append(final)
            taken |= {f"{prefix}_{slot}_in", out_name}
            exposed.append(ExposedState(node.name or "", node.op_type, f"{prefix}_{slot}_in", out_name, shape))
    # Zeros builders (Shape -> ConstantOfShape -> Slice) are read by nothing now. A streaming graph runs once per
    # chunk, often per step, where every node is a fixed cost (issue 21): Constant nodes become initializers and
    # Identity copies go, so what runs per call is the recurrent nodes and what the model itself computes.
    Sequential(
        LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0), IdentityEliminationPass(), RemoveUnusedNodesPass()
    )(ir_model)
    proto = ir.to_proto(ir_model)
    del proto.metadata_props[:]  # edgelstm metadata of the sequence graph would describe the wrong interface
    return proto, exposed


def _value_names(graph: ir.Graph) -> set[str]:
    """Every value name in the graph, so new names never clash."""
    names = {v.name for v in graph.inputs if v.name} | {v.name for v in graph.initializers.values() if v.name}
    for node in graph.all_nodes():
        names |= {v.name for v in node.outputs if v.name}
    return names


def _stem(name: str) -> str:
    """A name made of identifier characters only, for derived state names."""
    return re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_") or "rnn"


def _unique(stem: str, taken: set[str]) -> str:
    """`stem`, or `stem_k` with the first free k, claimed in `taken`."""
    candidate, k = stem, 1
    while any(n.startswith(candidate + "_") for n in taken if n.endswith(("_in", "_out"))) or candidate in taken:
        candidate, k = f"{stem}{k}", k + 1
    taken.add(candidate)
    return candidate


def _is_zeros(value: ir.Value, opset: int) -> bool:
    """A constant of zeros, or zeros of a run-time shape (ConstantOfShape with value 0, sliced or reshaped)."""
    folded = fold_constant(value, opset, [64])
    if folded is not None:
        return not np.any(folded)
    node = value.producer()
    if node is None or node.domain not in ("", "ai.onnx"):
        return False
    if node.op_type == "ConstantOfShape":
        fill = node.attributes.get("value")
        return fill is None or not np.any(fill.as_tensor().numpy())
    if node.op_type in _ZERO_PRESERVING and node.inputs and node.inputs[0] is not None:
        return _is_zeros(node.inputs[0], opset)
    return False


def _with_all_outputs(node: ir.Node) -> ir.Node:
    """The node with all its outputs (Y, Y_h[, Y_c]): exporters may list only Y."""
    wanted = 3 if node.op_type == "LSTM" else 2
    if len(node.outputs) < wanted:
        node.resize_outputs(wanted)
    return node


def _identity(graph: ir.Graph, after: ir.Node, value: ir.Value, name: str) -> ir.Value:
    """An Identity copy of `value` named `name`, so a graph output can carry the name an app expects."""
    copy = ir.Node("", "Identity", [value], num_outputs=1, name=f"{name}_identity")
    copy.outputs[0].name = name
    graph.insert_after(after, copy)
    return copy.outputs[0]


def _probe_feeds(interface: GraphInterface) -> dict[str, np.ndarray]:
    """A seeded random probe of PROBE_STEPS steps at batch 2, batch-first, states at zero (the one feed builder)."""
    shape = data_shape(interface, 2, PROBE_STEPS)
    dtype = np.dtype(interface.data_input.dtype)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype) if dtype.kind == "f" else np.zeros(shape, dtype)
    return sequence_feeds(interface, x, None, "streaming parity probe")


def source_parity(source: Path, path: Path, interface: GraphInterface) -> ChunkParity | None:
    """The streaming graph's one call (states at zero, through the layout adapter) against the source graph's one
    call on the same probe, on the outputs both have: what the chunked runs are compared with is what the user's
    graph computes, whatever the rewrites did. None when the source takes inputs besides the data and constants."""
    feeds = _probe_feeds(interface)
    wanted = {interface.data_input.name, *interface.constants}
    source_session = session_from_onnx(source)
    if any(i.name not in wanted for i in source_session.get_inputs()):
        return None
    state_outputs = {s.output_name for s in interface.states}
    names = [o.name for o in source_session.get_outputs() if o.name in {t.name for t in interface.outputs} - state_outputs]
    chunk = PROBE_STEPS  # one call over the whole probe
    try:
        expected = source_session.run(names, {i.name: feeds[i.name] for i in source_session.get_inputs()})
        got = run_batch_first(interface, session_from_onnx(path).run)(names, feeds)
    except Exception as exc:  # ORT's own error types
        return ChunkParity(chunk, float("inf"), 0.0, f"one call against the source graph failed: {first_line(exc)}")
    worst, scale = 0.0, 0.0
    for name, a, e in zip(names, got, expected, strict=True):
        if a.shape != np.shape(e):
            return ChunkParity(chunk, float("inf"), 0.0, f"{name}: shape {list(a.shape)}, the source's {list(np.shape(e))}")
        e64 = np.asarray(e, np.float64)
        worst = max(worst, float(np.max(np.abs(a.astype(np.float64) - e64), initial=0.0)))
        scale = max(scale, float(np.max(np.abs(e64), initial=0.0)))
    return ChunkParity(chunk, worst, scale)


def streaming_parity(path: Path, interface: GraphInterface, chunks: tuple[int, ...] = PARITY_CHUNKS) -> list[ChunkParity]:
    """The graph run chunk by chunk (state carried by the one chunked runner) against one whole-sequence call,
    on a seeded random probe of PROBE_STEPS steps at batch 2; compared on every output that is not a state."""
    session_run = run_batch_first(interface, session_from_onnx(path).run)  # a time-major graph: through the adapter
    names = [o.name for o in interface.outputs]
    state_outputs = {s.output_name for s in interface.states}

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return session_run(names, feeds)

    feeds = _probe_feeds(interface)
    try:
        whole = dict(zip(names, run(feeds), strict=True))
    except Exception as exc:  # ORT's own error types: a graph whose time axis is fixed cannot take the probe, or stream
        return [ChunkParity(c, float("inf"), 0.0, f"one whole-sequence call failed: {first_line(exc)}") for c in chunks]
    results = []
    for chunk in chunks:
        try:
            pieces = dict(zip(names, run_in_chunks(run, interface, feeds, chunk), strict=True))
        except Exception as exc:  # ORT's own error types: a graph that rejects a chunk length cannot stream at it
            results.append(ChunkParity(chunk, float("inf"), 0.0, f"running in chunks of {chunk} failed: {first_line(exc)}"))
            continue
        worst, scale, error = 0.0, 0.0, ""
        for name in names:
            if name in state_outputs:
                continue
            a, e = pieces[name], whole[name]
            if a.shape != e.shape:
                error = (
                    f"{name}: chunks of {chunk} give shape {list(a.shape)}, the whole sequence {list(e.shape)} "
                    "(the output is not per step: pooled or attended over the whole sequence)"
                )
                break
            e64 = e.astype(np.float64)
            worst = max(worst, float(np.max(np.abs(a.astype(np.float64) - e64), initial=0.0)))
            scale = max(scale, float(np.max(np.abs(e64), initial=0.0)))
        results.append(ChunkParity(chunk, worst if not error else float("inf"), scale, error))
    return results


def stream_graph_file(
    path: Path,
    out_dir: Path,
    hints: InterfaceHints | None = None,
    overwrite: bool = False,
    chunks: tuple[int, ...] = PARITY_CHUNKS,
) -> StateExposureResult:
    """`edgelstm export MODEL.onnx --form streaming`: expose the fused nodes' state, check streaming parity, and
    write `<stem>.streaming.onnx` (with its edgelstm metadata: the foreign interface, the source's sha256) and its
    `.export.json` only if the check passes; a graph that fails it is refused with what differed."""
    path = Path(path)
    check_output_dir(Path(out_dir))
    target = Path(out_dir) / f"{path.stem}.streaming.onnx"
    report_path = target.with_suffix(".export.json")
    ensure_writable(target, overwrite)
    ensure_writable(report_path, overwrite)
    try:
        model, states = expose_rnn_state(load_onnx_file(path))
    except UnsupportedGraphError as exc:
        raise UnsupportedGraphError(f"{path}: cannot stream: {exc}") from None
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise UnsupportedGraphError(f"{path}: the graph with its state exposed is not valid ONNX: {first_line(exc)}") from None
    result = StateExposureResult(str(path), file_sha256(path), states)
    hints = hints or InterfaceHints()
    with tempfile.TemporaryDirectory(prefix="edgelstm-expose-") as tmp:
        staged = Path(tmp) / target.name
        onnx.save(model, str(staged))
        metadata = foreign_metadata(staged, hints)
        missing = [s.input_name for s in states if s.input_name not in {p.input_name for p in metadata.interface.states}]
        if missing:
            raise UnsupportedGraphError(f"{path}: the exposed state {missing[0]} was not found again by the interface probe")
        # probed batch-first as the user wrote it; then the layout Transposes go where they only turn the data
        model, interface, result.layout = time_major_model(model, metadata.interface)
        metadata = replace(metadata, interface=interface)
        onnx.save(model, str(staged))
        result.parity = streaming_parity(staged, metadata.interface, chunks)
        result.source_parity = source_parity(path, staged, metadata.interface)
    if result.source_parity is not None and not result.source_parity.passed:
        failed = result.source_parity
        why = failed.error or f"max |error| {failed.max_abs_error:.3g} (> {PARITY_TOLERANCE:g} x {max(failed.scale, 1.0):.3g})"
        raise UnsupportedGraphError(f"{path}: the streaming graph's one call does not match the source graph's: {why}")
    if not result.passed:
        failed = next(p for p in result.parity if not p.passed)
        why = failed.error or (
            f"chunks of {failed.chunk} differ from the whole sequence by {failed.max_abs_error:.3g} "
            f"(> {PARITY_TOLERANCE:g} x {max(failed.scale, 1.0):.3g}): the graph is not causal (attention over the "
            "whole sequence, non-causal padding)"
        )
        raise UnsupportedGraphError(f"{path}: cannot stream: streaming parity check failed: {why}")
    interface = metadata.interface
    time_axis = interface.data_input.shape[0 if interface.layout == "time_major" else 1]
    if interface.chunk is not None and not interface.context and time_axis == "chunk":
        # the probe recorded the first length it tried, but a free time axis that just ran at chunks of 1 and 7, the
        # short last piece and the whole probe takes any length: StreamingSession must not refuse chunks of 1
        metadata = replace(metadata, interface=replace(interface, chunk=None))
    attach_metadata(model, replace(metadata, source_sha256=result.source_sha256))
    data = model.SerializeToString(deterministic=True)
    result.path, result.sha256 = target, hashlib.sha256(data).hexdigest()
    write_artifact_pair(target, data, report_path, json.dumps(to_jsonable(result), indent=2) + "\n", overwrite)
    return result
