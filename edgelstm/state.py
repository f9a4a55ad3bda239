"""The recurrent state layout: which tensor holds what, for the torch model and every exported graph."""

from __future__ import annotations

from dataclasses import asdict, dataclass
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

    def to_dict(self) -> dict[str, Any]:
        """The state spec as JSON-ready data, recorded in the graph's metadata for streaming callers."""
        return asdict(self)

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


def streaming_state_specs(config: ModelConfig) -> list[StateSpec]:
    """Every state a streaming graph carries between calls: the recurrent state, then the pooling accumulators."""
    return recurrent_state_specs(config) + pooling_state_specs(config)
