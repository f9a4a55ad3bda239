"""Long inputs through a streaming graph (or its torch reference) chunk by chunk, the state carried between calls.

Memory then grows with the chunk, not with the sequence: a 100,000-step input costs what one chunk costs, plus
the per-step outputs themselves.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgelstm.export.config import GraphInterface

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
    x_name = interface.data_input.name
    x = feeds[x_name]
    if interface.frames_first and can_stream(interface):
        return _frames_first_rows(run, interface, feeds, chunk)
    steps = int(x.shape[1])
    context = interface.context
    if not can_stream(interface) or (steps <= chunk and not context):
        return run(feeds)
    if context:
        pad = np.zeros((x.shape[0], context, *x.shape[2:]), x.dtype)
        x = np.concatenate([pad, x], axis=1)
    names = [o.name for o in interface.outputs]
    state_out = {s.output_name: s.input_name for s in interface.states}
    carried = {s.input_name: feeds[s.input_name] for s in interface.states}
    per_step: dict[str, list[np.ndarray]] = {n: [] for n in names if n not in state_out}
    last: dict[str, np.ndarray] = {}
    for start in range(0, steps, chunk):
        piece = x[:, start : start + context + chunk]
        outputs = dict(zip(names, run({**feeds, x_name: piece, **carried}), strict=True))
        for name, value in outputs.items():
            if name in per_step:
                per_step[name].append(value)
            else:
                last[name] = value
        carried = {state_out[n]: v for n, v in outputs.items() if n in state_out}
    return [np.concatenate(per_step[n], axis=1) if n in per_step else last[n] for n in names]


def _frames_first_rows(run: RunFeeds, interface: GraphInterface, feeds: Feeds, chunk: int) -> list[np.ndarray]:
    """A frames-first graph (axis 0 of its data is frames, its states batch 1) streamed: each data row is its own
    stream, fed one row at a time from the initial states; each call is one frame of `context + chunk` samples,
    as [1, context + chunk] (a frame is a row of the graph's data). Outputs as a batch-first graph gives them:
    per-frame outputs [rows, frames, ...], the states each row ended with stacked on a new axis 0."""
    x_name = interface.data_input.name
    x = feeds[x_name]
    names = [o.name for o in interface.outputs]
    state_out = {s.output_name: s.input_name for s in interface.states}
    frames_axis = {o.name: o.shape.index("frames") if "frames" in o.shape else 0 for o in interface.outputs}
    rows: list[list[np.ndarray]] = []
    for row in range(x.shape[0]):
        carried = {s.input_name: feeds[s.input_name] for s in interface.states}
        padded = np.concatenate([np.zeros((1, interface.context, *x.shape[2:]), x.dtype), x[row : row + 1]], axis=1)
        per_frame: dict[str, list[np.ndarray]] = {n: [] for n in names if n not in state_out}
        last: dict[str, np.ndarray] = {}
        for start in range(0, int(x.shape[1]), chunk):
            frame = padded[:, start : start + interface.context + chunk]
            outputs = dict(zip(names, run({**feeds, x_name: frame, **carried}), strict=True))
            for name, value in outputs.items():
                if name in per_frame:
                    per_frame[name].append(value)
                else:
                    last[name] = value
            carried = {state_out[n]: v for n, v in outputs.items() if n in state_out}
        rows.append([np.concatenate(per_frame[n], axis=frames_axis[n]) if n in per_frame else last[n] for n in names])
    return [np.stack([r[i] for r in rows]) for i in range(len(names))]
