"""Long inputs through a streaming graph (or its torch reference) chunk by chunk, the state carried between calls.

Memory then grows with the chunk, not with the sequence: a 100,000-step input costs what one chunk costs, plus
the per-step outputs themselves.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgelstm.artifact.interface import GraphInterface

Feeds = dict[str, np.ndarray]
RunFeeds = Callable[[Feeds], list[np.ndarray]]


def can_stream(interface: GraphInterface) -> bool:
    """Only a streaming-form graph takes its state back in; a sequence graph must see the whole input at once."""
    return interface.form == "streaming" and bool(interface.states)


def run_in_chunks(run: RunFeeds, interface: GraphInterface, feeds: Feeds, chunk: int) -> list[np.ndarray]:
    """`run(feeds)` over the time axis (axis 1 of the data input) in pieces of `chunk` steps; outputs in the graph's
    order, as one call gives: per-step (or per-chunk) outputs joined on axis 1, states as the last call left them.
    States are passed whole, so their batch axis may sit anywhere (silero's is axis 1). A graph with a `context`
    sees that many steps before each chunk (zeros before the first), as its app would feed it."""
    x = feeds[interface.data_input.name]
    if interface.frames_first and can_stream(interface):
        return _frames_first_rows(run, interface, feeds, chunk)
    if not can_stream(interface) or (int(x.shape[1]) <= chunk and not interface.context):
        return run(feeds)
    return _stream(run, interface, feeds, x, chunk, dict.fromkeys(_names(interface), 1))


def _frames_first_rows(run: RunFeeds, interface: GraphInterface, feeds: Feeds, chunk: int) -> list[np.ndarray]:
    """A frames-first graph (axis 0 of its data is frames, its states batch 1) streamed: each data row is its own
    stream, fed one row at a time from the initial states; each call is one frame of `context + chunk` samples,
    as [1, context + chunk] (a frame is a row of the graph's data). Outputs as a batch-first graph gives them:
    per-frame outputs [rows, frames, ...], the states each row ended with stacked on a new axis 0."""
    x = feeds[interface.data_input.name]
    frames_axis = {o.name: o.shape.index("frames") if "frames" in o.shape else 0 for o in interface.outputs}
    rows = [_stream(run, interface, feeds, x[row : row + 1], chunk, frames_axis) for row in range(x.shape[0])]
    return [np.stack([r[i] for r in rows]) for i in range(len(interface.outputs))]


def _names(interface: GraphInterface) -> list[str]:
    return [o.name for o in interface.outputs]


def _stream(
    run: RunFeeds, interface: GraphInterface, feeds: Feeds, x: np.ndarray, chunk: int, join_axis: dict[str, int]
) -> list[np.ndarray]:
    """The calls of one stream: `x` [batch, steps, ...] in pieces of `context + chunk` steps from the initial states
    in `feeds`, each call's states fed to the next; per-call outputs joined on `join_axis[name]`, states as the last
    call left them."""
    x_name, context = interface.data_input.name, interface.context
    steps = int(x.shape[1])
    if context:
        x = np.concatenate([np.zeros((x.shape[0], context, *x.shape[2:]), x.dtype), x], axis=1)
    names = _names(interface)
    state_out = {s.output_name: s.input_name for s in interface.states}
    carried = {s.input_name: feeds[s.input_name] for s in interface.states}
    per_call: dict[str, list[np.ndarray]] = {n: [] for n in names if n not in state_out}
    last: dict[str, np.ndarray] = {}
    for start in range(0, steps, chunk):
        outputs = dict(zip(names, run({**feeds, x_name: x[:, start : start + context + chunk], **carried}), strict=True))
        for name, value in outputs.items():
            if name in per_call:
                per_call[name].append(value)
            else:
                last[name] = value
        carried = {state_out[n]: v for n, v in outputs.items() if n in state_out}
    return [np.concatenate(per_call[n], axis=join_axis[n]) if n in per_call else last[n] for n in names]
