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
    """`run(feeds)` over the time axis in pieces of `chunk` steps; outputs in the graph's order, as one call gives."""
    x_name = interface.inputs[0].name
    x = feeds[x_name]
    steps = int(x.shape[1])
    if not can_stream(interface) or steps <= chunk:
        return run(feeds)
    names = [o.name for o in interface.outputs]
    state_out = {s.output_name: s.input_name for s in interface.states}
    carried = {s.input_name: feeds[s.input_name] for s in interface.states}
    per_step: dict[str, list[np.ndarray]] = {n: [] for n in names if n not in state_out}
    last: dict[str, np.ndarray] = {}
    for start in range(0, steps, chunk):
        outputs = dict(zip(names, run({**feeds, x_name: x[:, start : start + chunk], **carried}), strict=True))
        for name, value in outputs.items():
            if name in per_step:
                per_step[name].append(value)
            else:
                last[name] = value
        carried = {state_out[n]: v for n, v in outputs.items() if n in state_out}
    return [np.concatenate(per_step[n], axis=1) if n in per_step else last[n] for n in names]
