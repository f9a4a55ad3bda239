"""Where the batch sits in each tensor of a graph, and a fixed-batch graph run on any number of rows."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgelstm.artifact.interface import GraphInterface
from edgelstm.artifact.layout import caller_shape


def batch_axis_of(interface: GraphInterface, name: str) -> int:
    """The axis of tensor `name` (an input or output) that follows the batch: where its shape says "batch"; in a
    fixed-batch graph, whose shapes are all numbers, a layered state ([layers*directions, batch, size]: its `rows`
    name axis 0) has it on axis 1. Everything else is batch-first. As callers hold the tensor: a time-major graph's
    data and per-step outputs are batch-first here too (edgelstm.artifact.layout)."""
    for spec in (*interface.inputs, *interface.outputs):
        shape = caller_shape(interface, spec)
        if spec.name == name and "batch" in shape:
            return shape.index("batch")
    for state in interface.states:
        if name in (state.input_name, state.output_name):
            return state.shape.index("batch") if "batch" in state.shape else int(bool(state.rows))
    return 0


def fixed_batch(interface: GraphInterface) -> int | None:
    """The one batch size a graph takes: its data input's batch axis (found as for every tensor) when that is a number."""
    data = interface.inputs[0]
    axis, shape = batch_axis_of(interface, data.name), caller_shape(interface, data)
    size = shape[axis] if len(shape) > axis else None
    return size if isinstance(size, int) else None


def run_in_fixed_batches(
    run: Callable[[dict[str, np.ndarray]], list[np.ndarray]],
    interface: GraphInterface,
    names: list[str],
    feeds: dict[str, np.ndarray],
    fixed: int,
) -> list[np.ndarray]:
    """`run` (outputs `names`) in slices of `fixed` rows along each tensor's batch axis, the last slice padded with
    copies of its last row, then trimmed: a fixed-batch graph checked on any number of sequences."""
    rows = next(iter(feeds.values())).shape[batch_axis_of(interface, next(iter(feeds)))]
    pieces: list[list[np.ndarray]] = []
    for start in range(0, rows, fixed):
        stop = min(start + fixed, rows)
        chunk = {}
        for name, value in feeds.items():
            axis = batch_axis_of(interface, name)
            part = np.take(value, range(start, stop), axis=axis)
            if stop - start < fixed:  # pad with copies of the last row; trimmed below
                pad = np.repeat(np.take(part, [-1], axis=axis), fixed - (stop - start), axis=axis)
                part = np.concatenate([part, pad], axis=axis)
            chunk[name] = part
        outputs = run(chunk)
        pieces.append(
            [np.take(o, range(stop - start), axis=batch_axis_of(interface, n)) for n, o in zip(names, outputs, strict=True)]
        )
    return [np.concatenate([p[i] for p in pieces], axis=batch_axis_of(interface, n)) for i, n in enumerate(names)]
