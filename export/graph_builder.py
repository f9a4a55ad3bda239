"""A thin, deterministic helper over `onnx.helper` for building graphs node by node."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class GraphBuilder:
    """Collects nodes and initializers with unique, readable names.

    Names are derived from a counter and a caller-given hint, never from object ids or time, so building the
    same model twice gives byte-identical files.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._used: set[str] = set()
        self._counter = 0

    def unique(self, hint: str) -> str:
        """A name not used yet in the graph, derived from `hint`, so generated nodes never clash."""
        name = hint
        while name in self._used:
            self._counter += 1
            name = f"{hint}_{self._counter}"
        self._used.add(name)
        return name

    def reserve(self, name: str) -> str:
        """Claim `name` exactly (an interface name a caller depends on); a clash is a bug, raised at once."""
        if name in self._used:
            raise ValueError(f"name {name!r} is already used in graph {self.name!r}")
        self._used.add(name)
        return name

    def add_input(self, name: str, elem_type: int, shape: Sequence[int | str | None] | None) -> str:
        """Declare a graph input with its element type and (possibly symbolic) shape; returns its name."""
        self.inputs.append(helper.make_tensor_value_info(self.reserve(name), elem_type, shape))
        return name

    def add_output(self, source: str, name: str, elem_type: int, shape: Sequence[int | str | None] | None) -> str:
        """Expose `source` as graph output `name` (through an Identity so output names are stable)."""
        self.reserve(name)
        self.nodes.append(helper.make_node("Identity", [source], [name], name=f"{name}_identity"))
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def name_output(self, source: str, name: str, elem_type: int, shape: Sequence[int | str | None] | None) -> str:
        """Expose `source` as graph output `name` by renaming the value itself, with no Identity: at one step per
        call every node is a fixed cost (issue 21: the streaming form's Identity outputs cost ~0.8 us a call). Falls
        back to `add_output` for a value that is not a node's output or is a graph output already."""
        producers = [n for n in self.nodes if source in n.output]
        if len(producers) != 1 or source in {o.name for o in self.outputs}:
            return self.add_output(source, name, elem_type, shape)
        if source in _subgraph_reads(self.nodes):
            raise ValueError(f"{source!r} is read inside a Loop/If body; it cannot be renamed to {name!r}")
        self.reserve(name)
        for node in self.nodes:
            node.output[:] = [name if o == source else o for o in node.output]
            node.input[:] = [name if i == source else i for i in node.input]
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def initializer(self, hint: str, array: np.ndarray) -> str:
        """Store `array` as an initializer under a fresh name derived from `hint`; returns that name."""
        name = self.unique(hint)
        # np.array, not np.ascontiguousarray: the latter turns 0-d scalars into 1-d arrays.
        self.initializers.append(numpy_helper.from_array(np.array(array, order="C", copy=True), name))
        return name

    def const_i64(self, hint: str, values: Sequence[int] | int) -> str:
        """An int64 initializer (shapes, axes, indices as ONNX ops take them as inputs)."""
        return self.initializer(hint, np.asarray(values, dtype=np.int64))

    def const_f32(self, hint: str, values: Sequence[float] | float | np.ndarray) -> str:
        """A float32 initializer (weights, biases, scalars)."""
        return self.initializer(hint, np.asarray(values, dtype=np.float32))

    def const_bool_true(self) -> str:
        """The shared `true` condition every Loop here runs under, created once."""
        if "loop_cond_true" not in self._used:
            self.initializer("loop_cond_true", np.asarray(True))
        return "loop_cond_true"

    def op1(self, op_type: str, inputs: Sequence[str], hint: str | None = None, **attrs: Any) -> str:
        """Add a single-output node; returns the output name."""
        return self.op_multi(op_type, inputs, hint, 1, **attrs)[0]

    def op_multi(self, op_type: str, inputs: Sequence[str], hint: str | None, outputs: int, **attrs: Any) -> list[str]:
        """Add a node with `outputs` outputs; returns their names."""
        base = self.unique(hint or op_type.lower())
        out_names = [base] if outputs == 1 else [self.unique(f"{base}_{i}") for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), out_names, name=f"node_{base}", **attrs))
        return out_names

    def make_graph(self, prune_dead_nodes: bool = False) -> onnx.GraphProto:
        """The graph, without initializers no node reads (Loop bodies included): some constants are made
        before it is known whether the graph's form needs them, and ORT warns about every unused one.

        `prune_dead_nodes` also drops nodes none of whose outputs is read (the shape chain a form made up front
        and did not use): ORT keeps and runs them on every call, which a one-step streaming call pays for."""
        nodes = self.nodes
        while True:
            used = _names_read(nodes, self.outputs)
            live = [n for n in nodes if not prune_dead_nodes or any(o in used for o in n.output)]
            if len(live) == len(nodes):
                break
            nodes = live
        initializers = [i for i in self.initializers if i.name in used]
        return helper.make_graph(nodes, self.name, self.inputs, self.outputs, initializers)


def _names_read(nodes: Sequence[onnx.NodeProto], outputs: Sequence[onnx.ValueInfoProto]) -> set[str]:
    """Every value name a node (or a node in a Loop/If body) reads, plus the graph's outputs."""
    used = {o.name for o in outputs}

    def collect(body: Sequence[onnx.NodeProto]) -> None:
        for node in body:
            used.update(node.input)
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    collect(attr.g.node)
                    used.update(o.name for o in attr.g.output)

    collect(nodes)
    return used


def _subgraph_reads(nodes: Sequence[onnx.NodeProto]) -> set[str]:
    """Every value name read inside a Loop/If body of `nodes` (outer-scope reads included)."""
    bodies = [a.g for n in nodes for a in n.attribute if a.type == onnx.AttributeProto.GRAPH]
    return {name for body in bodies for name in _names_read(body.node, body.output)}


def subgraph_value(name: str, elem_type: int, shape: Sequence[int | str | None] | None = None) -> onnx.ValueInfoProto:
    """A typed value description for a Loop/Scan body's inputs and outputs, which ONNX requires to be declared."""
    return helper.make_tensor_value_info(name, elem_type, shape)


FLOAT = TensorProto.FLOAT
INT64 = TensorProto.INT64
INT32 = TensorProto.INT32
BOOL = TensorProto.BOOL
