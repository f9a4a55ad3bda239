"""The recurrent state layout: which tensor holds what, for the torch model and every exported graph."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from edgelstm.config import ModelConfig


@dataclass(frozen=True)
class StateSpec:
    """One state tensor carried between calls.

    `shape` uses the symbol "batch" for the dynamic batch axis. `rows` names what each slice along axis 0
    holds (for h/c: one row per layer and direction, in torch's order: layer-major, forward before backward).
    """

    name: str
    input_name: str
    output_name: str
    shape: list[int | str]
    rows: list[str]
    initial_value: float
    dtype: str
    description: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StateSpec:
        """A state spec read back from metadata JSON."""
        return cls(**data)


def recurrent_state_specs(config: ModelConfig) -> list[StateSpec]:
    """h (and c for LSTM cells), shaped like torch's nn.LSTM/nn.GRU state: [layers*directions, batch, size]."""
    directions = ("forward", "backward")[: config.num_directions]
    rows = [f"layer{layer}.{direction}" for layer in range(config.num_layers) for direction in directions]
    count = len(rows)
    specs = [
        StateSpec(
            name="h",
            input_name="h_in",
            output_name="h_out",
            shape=[count, "batch", config.output_hidden_size],
            rows=rows,
            initial_value=0.0,
            dtype="float32",
            description="hidden state of every layer and direction" + (" (after projection)" if config.proj_size else ""),
        )
    ]
    if config.has_cell_state:
        specs.append(
            StateSpec(
                name="c",
                input_name="c_in",
                output_name="c_out",
                shape=[count, "batch", config.hidden_size],
                rows=rows,
                initial_value=0.0,
                dtype="float32",
                description="cell state of every layer and direction",
            )
        )
    return specs


def layer_state_specs(config: ModelConfig) -> list[StateSpec]:
    """The slim streaming form's recurrent state (issue 21): one h (and c) pair per layer, shaped [directions,
    batch, size] as the fused LSTM/GRU node reads and writes it, so the graph needs no Slice to pick a layer's rows
    and no Concat to stack them. Layer k's pair is `h{k}_in` -> `h{k}_out`; a one-layer model keeps `h_in` -> `h_out`
    (its whole state was already one layer's)."""
    directions = ("forward", "backward")[: config.num_directions]
    specs = []
    for layer in range(config.num_layers):
        tag = "" if config.num_layers == 1 else str(layer)
        rows = [f"layer{layer}.{direction}" for direction in directions]
        slots = [("h", config.output_hidden_size, "hidden")] + (
            [("c", config.hidden_size, "cell")] if config.has_cell_state else []
        )
        for slot, size, what in slots:
            after = " (after projection)" if slot == "h" and config.proj_size else ""
            specs.append(
                StateSpec(
                    name=f"{slot}{tag}",
                    input_name=f"{slot}{tag}_in",
                    output_name=f"{slot}{tag}_out",
                    shape=[len(rows), "batch", size],
                    rows=rows,
                    initial_value=0.0,
                    dtype="float32",
                    description=f"{what} state of layer {layer}{after}",
                )
            )
    return specs


def pooling_state_specs(config: ModelConfig) -> list[StateSpec]:
    """Extra state a streaming mean-pooled head needs: running sum of outputs and the number of steps seen."""
    if not (config.head.is_pooled and config.head.pooling == "mean"):
        return []
    return [
        StateSpec(
            name="pool_sum",
            input_name="pool_sum_in",
            output_name="pool_sum_out",
            shape=["batch", config.recurrent_output_size],
            rows=[],
            initial_value=0.0,
            dtype="float32",
            description="sum of top-layer outputs over the steps seen so far (for the mean-pooled head)",
        ),
        StateSpec(
            name="pool_count",
            input_name="pool_count_in",
            output_name="pool_count_out",
            shape=["batch", 1],
            rows=[],
            initial_value=0.0,
            dtype="float32",
            description="number of steps seen so far (for the mean-pooled head)",
        ),
    ]


STREAMING_LAYOUTS = ("slim", "stacked")  # stacked: h_in [layers*directions, batch, H], the layout before issue 21


def streaming_state_specs(config: ModelConfig, layout: str = "slim") -> list[StateSpec]:
    """Every state a streaming graph carries between calls: the recurrent state (per layer in the slim layout, all
    layers stacked in the layout written before issue 21), then the pooling accumulators."""
    if layout not in STREAMING_LAYOUTS:
        raise ValueError(f"streaming layout {layout!r}: one of {', '.join(STREAMING_LAYOUTS)}")
    recurrent = layer_state_specs(config) if layout == "slim" else recurrent_state_specs(config)
    return recurrent + pooling_state_specs(config)


def torch_state_groups(states: list[StateSpec]) -> list[list[StateSpec]]:
    """A graph's states grouped as the torch model's state tuple holds them (h, c, then the pooling accumulators):
    the slim layout's per-layer `h0`, `h1` make one `h` stacked on axis 0 in layer order; a stacked or one-layer
    state is its own group."""
    groups: dict[str, list[StateSpec]] = {}
    for spec in states:
        groups.setdefault(re.sub(r"^([hc])\d+$", r"\1", spec.name), []).append(spec)
    return list(groups.values())
