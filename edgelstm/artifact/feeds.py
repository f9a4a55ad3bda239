"""The one feed builder: a graph's inputs for one call (data, lengths, initial states, constants) from its interface."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from edgelstm.artifact.interface import GraphInterface, TensorSpec
from edgelstm.artifact.layout import Layout, caller_shape
from edgelstm.errors import InputShapeError
from edgelstm.state import StateSpec


def data_shape(interface: GraphInterface, batch: int, steps: int | None = None) -> list[int]:
    """The data input's shape for one call: `batch`, `steps` on the time/chunk axis (default: a foreign graph's
    confirmed chunk plus its context), fixed axes as declared, any other unnamed axis 1. A frames-first graph
    takes `batch` frames (its batch is 1: callers that feed rows as streams give it one row per call). Batch-first,
    as callers hold data, whatever the graph's layout (edgelstm.artifact.layout turns it at the call)."""
    if steps is None:
        steps = (interface.chunk or 1) + interface.context
    sizes = {"batch": batch, "frames": batch, "time": steps, "chunk": steps}  # frames-first: one frame per row
    return [d if isinstance(d, int) else sizes.get(d, 1) for d in caller_shape(interface, interface.data_input)]


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
    starts from random states, to prove every state input is wired). `x` is batch-first, and so are the feeds: a
    graph of another layout is fed through edgelstm.artifact.layout."""
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
    layout: Layout = "batch_first",
) -> GraphInterface:
    """An interface for running a graph once when all that is known is its input list (a bundle's manifest, a
    file without metadata, a foreign graph before its probe has confirmed anything): `data` (default: the first
    input that is not `lengths` or a constant) with its free axes 0 and 1 named batch and chunk (frames and chunk
    when `roles` say axis 0 is time: a frames-first graph), `lengths`, the constants, and every other input a
    state starting at zero whose free axes follow the batch. `layout` "time_major": the data's free axes 0 and 1 are
    chunk and batch (an edgelstm streaming graph that declares it)."""
    constants = dict(constants or {})
    if data is None:
        data = next((t.name for t in inputs if t.name != "lengths" and t.name not in constants), inputs[0].name)
    leading = "frames" if roles and roles[0] == "time" else "batch"
    names = ("chunk", "batch") if layout == "time_major" else (leading, "chunk")

    def data_dims(shape: Sequence[int | str]) -> list[int | str]:
        return [d if isinstance(d, int) else names[axis] if axis < 2 else d for axis, d in enumerate(shape)]

    specs = [TensorSpec(t.name, t.dtype, data_dims(t.shape) if t.name == data else list(t.shape)) for t in inputs]
    states = [
        StateSpec(t.name, t.name, "", [d if isinstance(d, int) else "batch" for d in t.shape], [], 0.0, t.dtype, "zero")
        for t in inputs
        if t.name not in (data, "lengths") and t.name not in constants
    ]
    return GraphInterface("sequence", "unknown", specs, [], states, constants, layout=layout)
