"""The one place a graph's data layout meets its callers' (issue 21).

edgelstm's Python speaks batch-first everywhere: data `[batch, steps, ...]`, per-step outputs `[batch, steps, ...]`
(feeds from the one feed builder, chunked runs, parity, StreamingSession's `step`). A graph may declare another
layout in its interface: the slim streaming graph is time-major (`GraphInterface.layout == "time_major"`: data
`[chunk, batch, ...]`, per-step outputs `[chunk, batch, ...]`, as the fused LSTM/GRU nodes read and write them, so
no Transpose runs on a call). Whoever hands a feed dict to a graph or reads its outputs goes through here, so a
batch-first graph (every graph written before, every foreign one) passes through unchanged.

Only axes 0 and 1 swap; states keep the shape the interface gives them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Literal

import numpy as np

from edgelstm.artifact.interface import Dim, GraphInterface, TensorSpec

Layout = Literal["batch_first", "time_major"]
LAYOUTS: tuple[Layout, ...] = ("batch_first", "time_major")
TIME_AXES = ("chunk", "time")

Feeds = dict[str, np.ndarray]


def time_major(interface: GraphInterface) -> bool:
    """Whether the graph takes its data (and gives its per-step outputs) with time on axis 0."""
    return interface.layout == "time_major"


def swapped(interface: GraphInterface, name: str) -> bool:
    """Whether value `name` (an input or output of the graph) has its batch and time axes swapped against the
    caller's batch-first layout: the data input and every output whose axis 0 is a time axis, in a time-major graph."""
    if not time_major(interface):
        return False
    if name == interface.data_input.name:
        return True
    spec = next((t for t in interface.outputs if t.name == name), None)
    return spec is not None and bool(spec.shape) and spec.shape[0] in TIME_AXES


def caller_shape(interface: GraphInterface, spec: TensorSpec) -> list[Dim]:
    """`spec`'s shape as callers hold the value (batch-first)."""
    shape = list(spec.shape)
    if swapped(interface, spec.name) and len(shape) > 1:
        shape[0], shape[1] = shape[1], shape[0]
    return shape


def to_graph(interface: GraphInterface, name: str, value: np.ndarray) -> np.ndarray:
    """A batch-first value as the graph takes it (contiguous: ORT copies a strided array anyway)."""
    if not swapped(interface, name) or value.ndim < 2:
        return value
    return np.ascontiguousarray(value.swapaxes(0, 1))


def to_caller(interface: GraphInterface, name: str, value: np.ndarray) -> np.ndarray:
    """A value as the graph gives it, seen batch-first (a view: no copy)."""
    if not swapped(interface, name) or value.ndim < 2:
        return value
    return value.swapaxes(0, 1)


def graph_feeds(interface: GraphInterface, feeds: Mapping[str, np.ndarray]) -> Feeds:
    """Batch-first feeds (the one feed builder's) as the graph takes them."""
    return {name: to_graph(interface, name, value) for name, value in feeds.items()}


def caller_outputs(interface: GraphInterface, names: Sequence[str], outputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The graph's outputs `names` (in that order), seen batch-first."""
    return [to_caller(interface, name, np.asarray(value)) for name, value in zip(names, outputs, strict=True)]


def run_batch_first(
    interface: GraphInterface, run: Callable[[list[str], Feeds], Sequence[np.ndarray]]
) -> Callable[[list[str], Feeds], list[np.ndarray]]:
    """`run(names, feeds)` (a session's run) taking batch-first feeds and giving batch-first outputs, whatever the
    graph's layout."""
    if not time_major(interface):
        return lambda names, feeds: [np.asarray(v) for v in run(names, feeds)]

    def adapted(names: list[str], feeds: Feeds) -> list[np.ndarray]:
        return caller_outputs(interface, names, run(names, graph_feeds(interface, feeds)))

    return adapted


def as_batch_first(interface: GraphInterface) -> GraphInterface:
    """The same interface with its data and per-step outputs declared batch-first: for a graph made from it that
    takes batch-first data itself (a LiteRT file of the model's streaming step)."""
    if not time_major(interface):
        return interface

    def turned(specs: list[TensorSpec]) -> list[TensorSpec]:
        return [replace(spec, shape=caller_shape(interface, spec)) for spec in specs]

    return replace(interface, inputs=turned(interface.inputs), outputs=turned(interface.outputs), layout="batch_first")
