"""Multiply-accumulates and weight bytes of an ONNX graph at one batch and length, counted from the graph itself.

Counted: MatMul, Gemm, Conv, ConvTranspose, LSTM, GRU, RNN, MatMulInteger, DynamicQuantizeLSTM, MatMulNBits (and
their QLinear/fused relatives), inside Loop, If and Scan bodies too. Shapes come from ONNX shape inference with the
graph's inputs fixed at the bench's batch and length; each subgraph is inferred on its own with the shapes its
parent hands it (ONNX's own inference forgets a Loop's carried shapes), and a Loop's trip count and an If's
condition are evaluated when they follow from shapes and fed constants (silero's `sr`). What cannot be resolved is
counted with a stated assumption (`MacCount.assumptions`), never silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from edgelstm.bench.graph_scope import (
    INTEGER_TYPES,
    SMALL,
    Scope,
    Shape,
    copy_scope,
    evaluate_small,
    int_attribute,
    scalar_of,
    value_info,
)
from edgelstm.bench.node_macs import contrib_output_shapes, has_unknown_dims, needs_shapes, node_count
from edgelstm.jsonio import json_meta


@dataclass(frozen=True)
class OpCount:
    """One multiply-accumulating node: its MACs and the weight bytes its kernel reads, per call of the graph."""

    op_type: str
    where: str  # node name, with the Loop/If/Scan nodes it sits in
    macs: int
    weight_bytes_read: int
    k: int  # the weight matrix it multiplies by, [k, n] (a Conv's kernel as [cin/group x kernel, cout])
    n: int


@dataclass(frozen=True)
class MacCount:
    """Per call of the graph at `batch` x `steps`; its JSON (the bench report's) has the totals, the largest matrix
    multiplied and every assumption made, not the per-op list."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("largest_matmul",)
    JSON_ORDER: ClassVar[tuple[str, ...]] = (
        "batch",
        "steps",
        "macs",
        "weight_bytes_read",
        "stored_weight_bytes",
        "largest_matmul",
    )

    batch: int
    steps: int
    macs: int
    weight_bytes_read: int
    stored_weight_bytes: int  # initializers and Constant values, subgraphs included, each counted once
    ops: tuple[OpCount, ...] = field(metadata=json_meta(skip=True))
    assumptions: tuple[str, ...] = ()

    @property
    def largest_matmul(self) -> tuple[int, int] | None:
        """(k, n) of the largest weight matrix multiplied: the shape the measured ceiling GEMM takes."""
        if not self.ops:
            return None
        op = max(self.ops, key=lambda o: o.k * o.n)
        return op.k, op.n


def count_macs(
    model: onnx.ModelProto,
    input_shapes: dict[str, Iterable[int]],
    batch: int,
    steps: int,
    input_values: dict[str, np.ndarray] | None = None,
) -> MacCount:
    """MACs of one call with the graph's inputs at `input_shapes`. `steps` is the call's length (a Loop whose trip
    count cannot be evaluated is assumed to run once per step); `input_values` are small inputs whose values
    decide control flow (a foreign graph's constants)."""
    counter = _Counter(model, steps)
    known: dict[str, Shape] = {name: tuple(int(d) for d in dims) for name, dims in input_shapes.items()}
    values = {k: np.asarray(v) for k, v in (input_values or {}).items() if np.asarray(v).size <= SMALL}
    counter.walk(model.graph, Scope(known, {}, values, set()), repeat=1, where="")
    return MacCount(
        batch=batch,
        steps=steps,
        macs=sum(o.macs for o in counter.ops),
        weight_bytes_read=sum(o.weight_bytes_read for o in counter.ops),
        stored_weight_bytes=stored_weight_bytes(model.graph),
        ops=tuple(counter.ops),
        assumptions=tuple(dict.fromkeys(counter.assumptions)),
    )


def stored_weight_bytes(graph: onnx.GraphProto) -> int:
    """Bytes of every stored tensor (initializers and Constant values, in subgraphs too), int4 at half a byte."""
    seen: dict[str, int] = {}
    for name, tensor in _stored_tensors(graph):
        seen.setdefault(name, _tensor_bytes(tensor))
    return sum(seen.values())


@dataclass
class _Counter:
    """Walks a graph with its shapes, counting each multiplying node times how often it runs."""

    model: onnx.ModelProto
    steps: int
    ops: list[OpCount] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)

    def walk(self, graph: onnx.GraphProto, outer: Scope, repeat: int, where: str) -> Scope:
        """Count `graph`'s nodes `repeat` times with the shapes its parent hands in; returns the graph's scope."""
        pinned: dict[str, tuple[Shape, int]] = {}  # output shapes ONNX does not infer (control flow, contrib ops)
        scope = self._infer(graph, outer, pinned, {})
        pending = False
        for node in graph.node:
            name = f"{where}{node.name or node.op_type}"
            unknown_inputs = any(has_unknown_dims(scope.shapes.get(i, (None,))) for i in node.input if i)
            if pending and (_subgraphs(node) or (needs_shapes(node) and unknown_inputs)):
                # shapes downstream of what was found so far follow from it: infer the graph again with it pinned
                again = self._infer(graph, outer, pinned, scope.values)
                again.values.update(scope.values)
                again.static |= scope.static
                scope, pending = again, False
            value = evaluate_small(node, scope)
            outputs: dict[str, Shape] = {}
            if value is not None and node.output:
                scope.values[node.output[0]] = value
                outputs[node.output[0]] = tuple(value.shape)
                pending = True  # ONNX may infer more once this value is a constant
            if all(i in scope.static for i in node.input if i) and not _subgraphs(node):
                scope.static.update(o for o in node.output if o)
            if node.op_type == "Loop":
                outputs |= self._loop(node, scope, repeat, name)
            elif node.op_type == "If":
                outputs |= self._if(node, scope, repeat, name)
            elif node.op_type == "Scan":
                outputs |= self._scan(node, scope, repeat, name)
            else:
                outputs |= contrib_output_shapes(node, scope)
                if (count := node_count(node, scope)) is not None:
                    macs, weight_bytes, k, n, unknown = count
                    if unknown:
                        self.assumptions.append(f"{name}: a dimension shape inference left unknown was counted as 1")
                    self.ops.append(OpCount(node.op_type, name, macs * repeat, weight_bytes * repeat, k, n))
            for out, shape in outputs.items():
                if out and None not in shape and scope.shapes.get(out) != shape:
                    scope.shapes[out] = shape
                    # the ops whose outputs are pinned without a type here (com.microsoft's) compute in float
                    pinned[out] = (shape, scope.types.get(out) or onnx.TensorProto.FLOAT)
                    pending = True
        return scope

    def _loop(self, node: onnx.NodeProto, scope: Scope, repeat: int, name: str) -> dict[str, Shape]:
        """Count a Loop's body times its trip count (evaluated when possible, else an assumption); its output shapes."""
        trips = scalar_of(scope.values.get(node.input[0])) if node.input and node.input[0] else None
        if trips is None:
            trips = self.steps
            self.assumptions.append(f"{name}: trip count computed at run time, taken as one per step ({self.steps})")
        body = _attribute_graph(node, "body")
        carried: dict[str, tuple[Shape, int]] = {
            body.input[0].name: ((), onnx.TensorProto.INT64),
            body.input[1].name: ((), onnx.TensorProto.BOOL),
        }
        for formal, actual in zip(body.input[2:], node.input[2:], strict=False):
            carried[formal.name] = (scope.shapes.get(actual, ()), scope.types.get(actual, onnx.TensorProto.FLOAT))
        inner = Scope(
            {**scope.shapes, **{k: s for k, (s, _) in carried.items()}},
            {**scope.types, **{k: t for k, (_, t) in carried.items()}},
            dict(scope.values),
            set(scope.static),
        )
        done = self.walk(body, inner, repeat * trips, f"{name}/")
        states = len(node.input) - 2
        scope.types.update(
            (out, done.types[o.name]) for out, o in zip(node.output, body.output[1:], strict=False) if o.name in done.types
        )
        shapes = [done.shapes.get(o.name) for o in body.output[1:]]
        return {
            out: (shape if i < states else (trips, *shape))
            for i, (out, shape) in enumerate(zip(node.output, shapes, strict=False))
            if shape is not None
        }

    def _if(self, node: onnx.NodeProto, scope: Scope, repeat: int, name: str) -> dict[str, Shape]:
        """Count the If branch the condition takes (or the larger one, as an assumption); its output shapes."""
        condition = scope.values.get(node.input[0])
        branches = {a.name: a.g for a in node.attribute if a.name in ("then_branch", "else_branch")}
        if condition is not None and condition.size == 1:
            chosen = "then_branch" if bool(condition.reshape(-1)[0]) else "else_branch"
            done = self.walk(branches[chosen], copy_scope(scope), repeat, f"{name}/{chosen}/")
            shapes = [done.shapes.get(o.name) for o in branches[chosen].output]
            return {out: s for out, s in zip(node.output, shapes, strict=False) if s is not None}
        # Both branches counted apart; the costlier one is kept (an upper bound, and said so).
        results = []
        for key, branch in branches.items():
            sub = _Counter(self.model, self.steps)
            sub.walk(branch, copy_scope(scope), repeat, f"{name}/{key}/")
            results.append(sub)
        best = max(results, key=lambda c: sum(o.macs for o in c.ops))
        self.ops += best.ops
        self.assumptions += [*best.assumptions, f"{name}: condition unknown before running, the costlier branch counted"]
        return {}

    def _scan(self, node: onnx.NodeProto, scope: Scope, repeat: int, name: str) -> dict[str, Shape]:
        """Count a Scan's body once per scanned step; its output shapes."""
        body = _attribute_graph(node, "body")
        states = len(node.input) - int_attribute(node, "num_scan_inputs", 0)
        scanned = node.input[states:]
        length = scope.shapes.get(scanned[0], (None,))[0] if scanned else None
        if length is None:
            length = self.steps
            self.assumptions.append(f"{name}: scan length unknown, taken as one per step ({self.steps})")
        shapes, types = dict(scope.shapes), dict(scope.types)
        for i, (formal, actual) in enumerate(zip(body.input, node.input, strict=False)):
            shape = scope.shapes.get(actual, ())
            shapes[formal.name] = shape if i < states else shape[1:]
            types[formal.name] = scope.types.get(actual, onnx.TensorProto.FLOAT)
        inner = Scope(shapes, types, dict(scope.values), set(scope.static))
        done = self.walk(body, inner, repeat * int(length), f"{name}/")
        outs = [done.shapes.get(o.name) for o in body.output]
        return {
            out: (s if i < states else (int(length), *s))
            for i, (out, s) in enumerate(zip(node.output, outs, strict=False))
            if s is not None
        }

    def _infer(
        self, graph: onnx.GraphProto, outer: Scope, pinned: dict[str, tuple[Shape, int]], values: dict[str, np.ndarray]
    ) -> Scope:
        """Shapes of every value of `graph`, inferred as a model of its own whose inputs (its formal inputs and the
        outer values it reads) have the shapes known so far, and whose small values evaluated so far are constants
        (pads and shapes computed in the graph, which ONNX's data propagation does not always follow)."""
        g = onnx.GraphProto()
        g.CopyFrom(graph)
        del g.value_info[:]
        folded = [n for n in g.node if n.output and all(o in values for o in n.output) and not _subgraphs(n)]
        for node in folded:
            g.node.remove(node)
            g.initializer.extend(numpy_helper.from_array(values[o], o) for o in node.output)
        inputs = []
        own = {i.name for i in g.input} | {t.name for t in g.initializer}
        for value in g.input:
            inputs.append(value_info(value.name, outer, value))
        for ref in sorted(_outer_references(g) - own):
            if ref in outer.values:  # as a constant: split sizes and shapes read from outside must stay known
                g.initializer.append(numpy_helper.from_array(outer.values[ref], ref))
            elif ref in outer.shapes and ref in outer.types:
                inputs.append(value_info(ref, outer))
        del g.input[:]
        g.input.extend(inputs)
        folded_names = {o for n in folded for o in n.output}
        for name, (shape, elem_type) in pinned.items():
            if elem_type and name not in folded_names:
                g.value_info.append(helper.make_tensor_value_info(name, elem_type, list(shape)))
        model = helper.make_model(g, opset_imports=self.model.opset_import, ir_version=self.model.ir_version)
        try:
            model = shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
        except Exception:  # onnx rejects some graphs ORT runs; what it did not infer stays unknown below
            pass
        scope = Scope(dict(outer.shapes), dict(outer.types), dict(outer.values), set(outer.static))
        for value in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
            tensor = value.type.tensor_type
            if tensor.elem_type:
                scope.types[value.name] = tensor.elem_type
            if tensor.HasField("shape"):
                inferred = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
                previous = scope.shapes.get(value.name)
                if previous is None or None not in inferred:  # never replace a known shape with a vaguer one
                    scope.shapes[value.name] = inferred
        for name in folded_names:
            scope.shapes[name] = tuple(values[name].shape)
            scope.types[name] = helper.np_dtype_to_tensor_dtype(values[name].dtype)
        for name, tensor in _stored_tensors(graph, recurse=False):
            scope.shapes[name] = tuple(tensor.dims)
            scope.types[name] = tensor.data_type
            scope.static.add(name)
            if tensor.data_type in INTEGER_TYPES and int(np.prod(tensor.dims)) <= SMALL:
                scope.values[name] = numpy_helper.to_array(tensor)
        return scope


def _stored_tensors(graph: onnx.GraphProto, recurse: bool = True) -> Iterator[tuple[str, onnx.TensorProto]]:
    """(name, tensor) of every initializer and Constant value, subgraphs included when `recurse`."""
    for tensor in graph.initializer:
        yield tensor.name, tensor
    for node in graph.node:
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.name == "value":
                    yield node.output[0], attribute.t
        if recurse:
            for sub in _subgraphs(node):
                yield from _stored_tensors(sub)


def _tensor_bytes(tensor: onnx.TensorProto) -> int:
    """Bytes a stored tensor takes, int4 at half a byte."""
    elements = int(np.prod(tensor.dims))
    if tensor.data_type in (onnx.TensorProto.INT4, onnx.TensorProto.UINT4):
        return (elements + 1) // 2
    if tensor.data_type == onnx.TensorProto.STRING:
        return sum(len(s) for s in tensor.string_data)
    return elements * helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize


def _outer_references(graph: onnx.GraphProto) -> set[str]:
    """Names read by `graph`'s nodes (and their subgraphs) that `graph` does not produce."""
    produced = {o for n in graph.node for o in n.output}
    read: set[str] = set()
    for node in graph.node:
        read.update(i for i in node.input if i)
        for sub in _subgraphs(node):
            read |= _outer_references(sub) - {i.name for i in sub.input} - {t.name for t in sub.initializer}
    return read - produced


def _subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    """The subgraphs a node holds (If branches, Loop and Scan bodies)."""
    return [g for a in node.attribute for g in ([a.g] if a.HasField("g") else list(a.graphs))]


def _attribute_graph(node: onnx.NodeProto, name: str) -> onnx.GraphProto:
    """The node's graph attribute `name`."""
    return next(a.g for a in node.attribute if a.name == name)
