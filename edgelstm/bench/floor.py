"""The floor under a streaming artifact's per-step cost (issue 21): what a call costs when the graph does nothing.

A pass-through graph with the artifact's inputs and outputs (same names, types and ranks) is run the way the
artifact is: each state output is an Identity of its state input, every other output an Identity of the data
input. Its per-call cost is what ONNX Runtime and the calling code charge for binding and running that many
tensors at all; the one-call per-step cost is what the model computes per step; floor / chunk + compute is the
per-step cost a chunk could reach if the graph itself added nothing. `bench` prints all three beside the measured
per-step cost, so the gap says how much of a streamed step is ORT, how much the graph, how much the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from edgelstm.artifact.interface import GraphInterface, TensorSpec
from edgelstm.artifact.session import STREAMING_SESSION, SessionSettings, session_from_onnx
from edgelstm.artifact.streaming import StreamingSession

__all__ = ["FloorSessions", "fed_back_run", "passthrough_graph", "stepped"]

_ELEM = {"float32": TensorProto.FLOAT, "int64": TensorProto.INT64, "int32": TensorProto.INT32, "float16": TensorProto.FLOAT16}


def passthrough_graph(interface: GraphInterface, opset: int = 17) -> onnx.ModelProto:
    """A graph with `interface`'s inputs and outputs whose nodes are one Identity per output: state outputs copy
    their state inputs, other outputs the data input (declared with the data input's type and shape, so the graph
    is valid whatever the artifact's outputs hold)."""
    data = interface.data_input
    sources = {s.output_name: s.input_name for s in interface.states}
    inputs = {t.name: t for t in interface.inputs}
    nodes, outputs = [], []
    for output in interface.outputs:
        source = inputs[sources.get(output.name, data.name)]
        nodes.append(helper.make_node("Identity", [source.name], [output.name], name=f"{output.name}_passthrough"))
        outputs.append(_value(TensorSpec(output.name, source.dtype, source.shape)))
    graph = helper.make_graph(nodes, "edgelstm_floor", [_value(t) for t in interface.inputs], outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="edgelstm")
    model.ir_version = 8
    return model


def _value(spec: TensorSpec) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(spec.name, _ELEM[spec.dtype], spec.shape)


def fed_back_run(session: Any, interface: GraphInterface, feeds: dict[str, np.ndarray]) -> Callable[[], object]:
    """One call the way an app without StreamingSession makes it: session.run on a feed dict, each state output put
    back in the dict as the next call's input (numpy)."""
    names = [o.name for o in interface.outputs]
    fed_back = [(names.index(s.output_name), s.input_name) for s in interface.states]

    def call() -> object:
        outputs = session.run(names, feeds)
        for index, name in fed_back:
            feeds[name] = outputs[index]
        return outputs

    return call


def stepped(session: Any, interface: GraphInterface, piece: np.ndarray, where: str) -> Callable[[], object]:
    """One StreamingSession step on `piece`, the stream going on from call to call."""
    stream = StreamingSession(session, interface, batch=piece.shape[0], where=where)
    return lambda: stream.step(piece)


@dataclass(frozen=True)
class FloorSessions:
    """The pass-through graph of one interface, opened twice as the artifact is timed: a plain session (1 thread,
    no spinning) for feed-dict runs and one at STREAMING_SESSION for StreamingSession."""

    interface: GraphInterface
    plain: Any
    streamed: Any

    @classmethod
    def open(cls, interface: GraphInterface) -> FloorSessions:
        """Build the pass-through graph for `interface` and open its two sessions."""
        graph = passthrough_graph(interface).SerializeToString()
        return cls(interface, session_from_onnx(graph, SessionSettings()), session_from_onnx(graph, STREAMING_SESSION))

    def calls(self, piece: np.ndarray, feeds: dict[str, np.ndarray]) -> tuple[Callable[[], object], Callable[[], object]]:
        """The floor's feed-dict call and StreamingSession step on the same chunk as the artifact's."""
        plain = fed_back_run(self.plain, self.interface, dict(feeds))
        return plain, stepped(self.streamed, self.interface, piece, "pass-through floor")
