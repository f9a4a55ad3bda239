"""What a bundle tells the app developer about calling its model: the manifest's one-line calling convention and
the streaming notes (the state-binding pattern in each ORT language API, for this bundle's own names)."""

from __future__ import annotations

from typing import Any

__all__ = ["streaming_usage"]


def streaming_usage(interface: Any) -> str | None:
    if interface.form != "streaming":
        return None
    if interface.impl != "foreign":
        return (
            "call with x [batch, chunk, features] and every *_in state (initial values above); feed each *_out "
            "back as the matching *_in on the next call"
        )
    data = interface.data_input
    pairs = ", ".join(f"{s.output_name} -> {s.input_name}" for s in interface.states)
    constants = ", ".join(f"{k}={v}" for k, v in interface.constants.items()) or "none"
    length = f"{interface.chunk} new samples" if interface.chunk else "one chunk"
    if interface.context:
        length = f"the last {interface.context} samples of the previous call's input followed by {length} (zeros first)"
    return (
        f"call with {data.name} {data.shape} holding {length}, the constants ({constants}) and every state (initial "
        f"value 0, shape as listed under state); feed back {pairs} on the next call"
    )
