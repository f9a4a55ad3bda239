"""Compact artifacts: the bytes of a graph that are not weights, trimmed by an onnx-ir pass.

torch.onnx names every value after its module path ("/inner/gru/Transpose_1_output_0", "onnx::GRU_397_quantized"),
writes a type for every intermediate, repeats identical Constant nodes and builds each recurrent layer's zero initial
state with six nodes; on the Conv1d+BiGRU user module's 24 kB int8 artifact that was 5.6 kB. The pass renames
intermediates (values, nodes, initializers; If/Loop/Scan bodies too) to short ids, drops doc strings, nodes'
metadata (torch's stack traces) and the value_info of intermediates, merges duplicate nodes, stores Constants as initializers and leaves zero initial states
to the op's default (absent = zeros). What the graph computes is unchanged, bit for bit (tests/unit/test_compact.py):
values are objects in onnx-ir, so a rename reaches every use, outer-scope references from subgraphs included.

The interface is kept: the main graph's inputs and outputs keep their names and types (apps and edgelstm's metadata
name them), and so do subgraph inputs and outputs' types (ORT needs a body's signature typed).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import onnx
import onnx_ir as ir
from onnx_ir.passes.common import (
    CommonSubexpressionEliminationPass,
    LiftConstantsToInitializersPass,
    RemoveUnusedNodesPass,
    RemoveUnusedOpsetsPass,
)

# The one zeros test (Slice/Reshape of ConstantOfShape, folded constants), shared with state exposure's.
from edgelstm.export.state_exposure import _is_zeros

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
# Initial-state inputs of the fused recurrent ops: absent means zeros (ONNX spec), which torch.onnx builds anyway
# with a Shape -> Gather -> Unsqueeze -> Concat -> ConstantOfShape -> Slice chain per layer.
_STATE_INPUTS = {"LSTM": (5, 6), "GRU": (5,), "RNN": (5,)}


@dataclass(frozen=True)
class CompactReport:
    """Bytes before and after compacting a quantized graph (shorter names, shared constants)."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("bytes_saved",)  # derived values written after the fields

    bytes_before: int
    bytes_after: int
    values_renamed: int
    zero_states_dropped: int  # built-in-graph zeros fed as an LSTM/GRU/RNN initial state: absent means the same
    types_dropped: int  # value_info entries of intermediates
    nodes_before: int
    nodes_after: int  # fewer when duplicate nodes (torch's repeated Constants) were merged

    @property
    def bytes_saved(self) -> int:
        """How many bytes compacting removed."""
        return self.bytes_before - self.bytes_after

    def note(self) -> str:
        """One line for the quantize notes: what compacting saved."""
        return (
            f"compacted: {self.bytes_before:,} -> {self.bytes_after:,} bytes of graph ({self.values_renamed} names "
            f"shortened, {self.types_dropped} intermediate types and all doc strings dropped, "
            f"{self.zero_states_dropped} zero initial states left to the op's default; "
            f"{self.nodes_before} -> {self.nodes_after} nodes)"
        )


class CompactGraphPass(ir.passes.InPlacePass):
    """Short ids for every name outside the interface, no doc strings, no types on intermediates."""

    def __init__(self) -> None:
        super().__init__()
        self.values_renamed = 0
        self.types_dropped = 0

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        """Compact the model in place (names, duplicated constants) without changing what it computes."""
        main = model.graph
        interface = {id(v) for v in (*main.inputs, *main.outputs)}
        kept_names = {v.name for v in (*main.inputs, *main.outputs) if v.name}
        ids, node_ids = _short_ids("v", kept_names), _short_ids("n", set())  # node names need only differ from nodes'
        seen: set[int] = set()
        model.doc_string = None
        for graph in _graphs(main):
            graph.doc_string = None
            signature = {id(v) for v in (*graph.inputs, *graph.outputs)}
            values = [*graph.inputs, *graph.initializers.values()]
            for node in graph:
                node.doc_string = None
                # torch.onnx's per-node metadata (stack traces, fx nodes, name scopes): 650 kB of silero_vad_op18_ifless,
                # dropped before only because weight-only int8 went through onnx.version_converter (issue 19 keeps the opset)
                node.metadata_props.clear()
                node.name = next(node_ids)
                values.extend(node.outputs)
            for value in values:
                if id(value) in seen:
                    continue  # one value, one name: a subgraph output may be an outer value
                seen.add(id(value))
                value.doc_string = None
                if id(value) in interface:
                    continue
                if value.name:  # an unnamed value is an absent optional input/output: it stays absent
                    value.name = next(ids)
                    self.values_renamed += 1
                # An initializer's tensor carries its type; onnx-ir would also write it as value_info otherwise.
                if id(value) not in signature and value.type is not None:
                    value.type, value.shape = None, None
                    self.types_dropped += 1
        return ir.passes.PassResult(model, modified=True)


def compact_model(model: onnx.ModelProto) -> tuple[onnx.ModelProto, CompactReport]:
    """The model with short names, no doc strings, no intermediate types and duplicate nodes merged; the input proto
    is left unchanged. Model-level metadata (edgelstm's, a foreign file's own) is kept as it is."""
    before = model.ByteSize()
    copy = onnx.ModelProto()
    copy.CopyFrom(model)  # onnx-ir wraps initializers' TensorProtos in place: renaming one would rename the caller's
    graph = ir.from_proto(copy)
    nodes_before = _node_count(graph.graph)
    zero_states = _drop_zero_states(graph)
    # Merge first: duplicates then share one short name instead of each getting its own.
    CommonSubexpressionEliminationPass()(graph)
    RemoveUnusedNodesPass()(graph)
    # A Constant node spells its op type, attribute name and output; an initializer only its name (~30 bytes less).
    LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0)(graph)
    RemoveUnusedOpsetsPass()(graph)
    names = CompactGraphPass()
    names(graph)
    result = ir.to_proto(graph)
    report = CompactReport(
        before,
        result.ByteSize(),
        names.values_renamed,
        zero_states,
        names.types_dropped,
        nodes_before,
        _node_count(graph.graph),
    )
    return result, report


def _drop_zero_states(model: ir.Model) -> int:
    """Unhooks initial states that are zeros built in the graph; the builders are then removed as unused."""
    opset = model.opset_imports.get("", 0)
    dropped = 0
    for node in model.graph.all_nodes():
        if node.domain not in ("", "ai.onnx"):
            continue
        for index in _STATE_INPUTS.get(node.op_type, ()):
            if index < len(node.inputs) and (value := node.inputs[index]) is not None and _is_zeros(value, opset):
                if value.is_graph_input():
                    continue  # the caller may feed a state there: part of the interface
                node.replace_input_with(index, None)
                dropped += 1
    return dropped


def _short_ids(prefix: str, taken: set[str]) -> Iterator[str]:
    """v0, v1, ... vz, v10, ...: base 36 after a letter (a name must not look like a number), skipping kept names."""
    k = 0
    while True:
        digits, n = "", k
        while True:
            digits, n = _DIGITS[n % 36] + digits, n // 36
            if n == 0:
                break
        k += 1
        if (name := f"{prefix}{digits}") not in taken:
            yield name


def _graphs(graph: ir.Graph) -> list[ir.Graph]:
    """The graph and every subgraph within it."""
    return [graph, *graph.subgraphs()]  # subgraphs(): every If/Loop/Scan body, nested ones included


def _node_count(graph: ir.Graph) -> int:
    """How many nodes the graph has, subgraphs included."""
    return sum(1 for _ in graph.all_nodes())
