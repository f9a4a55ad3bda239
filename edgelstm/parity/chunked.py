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
