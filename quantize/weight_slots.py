"""Which stored tensors are weights and along which axes: every use reaches a weight slot through ops that only move data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx_ir as ir

# Ops that only move or select data: the output-channel axis of a weight can be followed through them.
LAYOUT_OPS = frozenset({"Identity", "Slice", "Split", "Concat", "Unsqueeze", "Squeeze", "Transpose"})


FLOAT_TYPES = {ir.DataType.FLOAT: np.float32, ir.DataType.FLOAT16: np.float16}


@dataclass(frozen=True)
class WeightSlot:
    """Where a stored tensor is used as a weight, in the stored tensor's own axes."""

    op: str
    channel_axis: int  # output channels: one int8 scale each
    reduce_axes: tuple[int, ...]  # summed over by the op: int4 blocks run along one of these
    node: str = ""  # the consuming node's name: a layer, for per-layer (mixed) precision


class NotAWeight(Exception):
    """A stored tensor is used other than as a weight; the message says how."""


def weight_slot(node: ir.Node, index: int, rank: int) -> tuple[int, tuple[int, ...]] | None:
    """(channel axis, reduced axes) of input `index` of `node` when that input is a weight, in its own axes."""
    if node.domain not in ("", "ai.onnx"):
        return None
    op = node.op_type
    if op == "Conv" and index == 1 and rank >= 3:
        return 0, tuple(range(1, rank))
    if op == "ConvTranspose" and index == 1 and rank >= 3:
        return 1, (0, *range(2, rank))
    if op == "MatMul" and index == 1 and rank >= 2:
        return rank - 1, (rank - 2,)
    if op == "Gemm" and index == 1 and rank == 2:
        trans_b = node.attributes.get_int("transB", 0)
        return (0, (1,)) if trans_b else (1, (0,))
    if op in ("LSTM", "GRU", "RNN") and index in (1, 2) and rank == 3:
        return 1, (2,)  # [directions, gates * hidden, inputs]: one scale per gate row
    if op in ("LSTM", "GRU", "RNN") and index == 3 and rank == 2:
        # B: [directions, 2 * gates * hidden], added, never multiplied: one scale per direction, no int4 block axis
        # (int4 configs store it int8). A bias's error shifts a gate by at most max|b| / 254.
        return 0, ()
    return None


def weight_slots(value: ir.Value, axes: list[int | None]) -> list[WeightSlot]:
    """Every weight slot `value` reaches; `axes[i]` is the stored tensor's axis that axis i of `value` came from."""
    slots: list[WeightSlot] = []
    if value.is_graph_output():
        raise NotAWeight("a graph output")
    for node, index in value.uses():
        slot = weight_slot(node, index, len(axes))
        if slot is not None:
            channel, reduced = axes[slot[0]], tuple(axes[a] for a in slot[1])
            if channel is None or None in reduced:
                raise NotAWeight(f"its {node.op_type} channel axis comes from an inserted axis")
            slots.append(WeightSlot(node.op_type, channel, reduced, node.name or ""))  # type: ignore[arg-type]
        elif node.op_type in LAYOUT_OPS and node.domain in ("", "ai.onnx") and (index == 0 or node.op_type == "Concat"):
            moved = _moved_axes(node, axes)
            for output in node.outputs:
                slots.extend(weight_slots(output, moved))
        else:
            raise NotAWeight(f"not a weight: input {index} of {node.op_type}")
    return slots


def _moved_axes(node: ir.Node, axes: list[int | None]) -> list[int | None]:
    """Where each input axis ends up in the output of a layout op."""
    op = node.op_type
    if op in ("Identity", "Slice", "Split", "Concat"):
        return list(axes)
    if op == "Transpose":
        perm = node.attributes.get_ints("perm", None) or list(reversed(range(len(axes))))
        return [axes[p] for p in perm]
    listed = node.attributes.get_ints("axes", None)
    if listed is None and len(node.inputs) > 1 and node.inputs[1] is not None:
        listed = constant_ints(node.inputs[1])
    if listed is None:
        raise NotAWeight(f"{op} without constant axes")
    if op == "Unsqueeze":
        rank = len(axes) + len(listed)
        inserted = {a % rank for a in listed}
        rest = iter(axes)
        return [None if a in inserted else next(rest) for a in range(rank)]
    removed = {a % len(axes) for a in listed}  # Squeeze
    return [a for i, a in enumerate(axes) if i not in removed]


def constant_ints(value: ir.Value) -> list[int] | None:
    """The integers a constant value holds (an initializer or a Constant node), or None when it is computed."""
    if value.const_value is not None:
        return [int(v) for v in value.const_value.numpy().reshape(-1)]
    producer = value.producer()
    if producer is not None and producer.op_type == "Constant" and "value" in producer.attributes:
        return [int(v) for v in producer.attributes["value"].as_tensor().numpy().reshape(-1)]
    return None


def shared_block_axis(shape: tuple[int, ...], slots: list[WeightSlot]) -> int | None:
    """The longest axis that every use reduces over (blocks then never mix output channels), if it holds a block."""
    common = set(slots[0].reduce_axes).intersection(*(s.reduce_axes for s in slots[1:]))
    candidates = [a for a in common if shape[a] > 1]
    return max(candidates, key=lambda a: shape[a]) if candidates else None


def stored_tensors(graph: ir.Graph) -> list[tuple[ir.Value, ir.Graph, ir.Node | None]]:
    """(value, owning graph, Constant node or None) for every initializer and `value` Constant, subgraphs included.
    Initializers that are also graph inputs are overridable defaults, part of the interface: left alone."""
    found: list[tuple[ir.Value, ir.Graph, ir.Node | None]] = []
    for owner in graphs_within(graph):
        inputs = {id(v) for v in owner.inputs}
        found.extend((v, owner, None) for v in owner.initializers.values() if id(v) not in inputs)
        found.extend(
            (n.outputs[0], owner, n)
            for n in owner
            if n.op_type == "Constant" and n.domain in ("", "ai.onnx") and set(n.attributes) == {"value"}
        )
    return found


def graphs_within(graph: ir.Graph) -> list[ir.Graph]:
    """The graph and every subgraph of its If/Loop/Scan nodes, at any depth."""
    found = [graph]
    for node in graph:
        for attr in node.attributes.values():
            if attr.type == ir.AttributeType.GRAPH:
                found.extend(graphs_within(attr.as_graph()))
            elif attr.type == ir.AttributeType.GRAPHS:
                for sub in attr.as_graphs():
                    found.extend(graphs_within(sub))
    return found


def all_values(graph: ir.Graph) -> list[ir.Value]:
    """Every value of the graph and its subgraphs (inputs, initializers, node outputs), to know which names are taken."""
    values: list[ir.Value] = []
    for owner in graphs_within(graph):
        values.extend(owner.inputs)
        values.extend(owner.initializers.values())
        for node in owner:
            values.extend(node.outputs)
    return values


def declared_value_infos(graph: ir.Graph) -> set[str]:
    """Names of intermediate values whose type the graph declares, so the quantized file declares no more."""
    return {v.name or "" for owner in graphs_within(graph) for n in owner for v in n.outputs if v.type is not None}
