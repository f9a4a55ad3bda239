"""The gate finds the batch of every tensor one way (`batch_axis_of`), the fixed batch of a graph included, and runs
a fixed-batch graph on any number of rows in padded slices trimmed back (issue 18: there were two ways)."""

from __future__ import annotations

import numpy as np

from edgelstm.artifact.interface import GraphInterface, TensorSpec
from edgelstm.parity.batch_axis import batch_axis_of, fixed_batch, run_in_fixed_batches
from edgelstm.state import StateSpec


def _interface(batch: int | str, layers: int = 2, state_first: bool = False) -> GraphInterface:
    """x [batch, time, 3] -> y [batch, time, 2], with a layered state h [layers, batch, 4] carried between calls."""
    h = StateSpec("h", "h_in", "h_out", [layers, batch, 4], [f"layer{k}" for k in range(layers)], 0.0, "float32", "hidden")
    inputs = [TensorSpec("x", "float32", [batch, "time", 3]), TensorSpec("h_in", "float32", [layers, batch, 4])]
    return GraphInterface(
        "streaming",
        "loop",
        inputs[::-1] if state_first else inputs,
        [TensorSpec("y", "float32", [batch, "time", 2]), TensorSpec("h_out", "float32", [layers, batch, 4])],
        [h],
    )


def test_a_fixed_batch_is_read_on_the_axis_batch_axis_of_finds() -> None:
    assert fixed_batch(_interface(2)) == 2
    assert fixed_batch(_interface("batch")) is None
    # a graph that lists its state first: axis 0 of its first input is the 3 layers, not the batch of 2
    assert fixed_batch(_interface(2, layers=3, state_first=True)) == 2
    # the layered state of a fixed-batch graph has its batch on axis 1, the data on axis 0
    fixed = _interface(2)
    assert [batch_axis_of(fixed, n) for n in ("x", "h_in", "y", "h_out")] == [0, 1, 0, 1]


def test_a_fixed_batch_graph_runs_any_rows_in_padded_slices_trimmed_back() -> None:
    interface = _interface(2)
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((5, 7, 3)), "h_in": rng.standard_normal((2, 5, 4))}
    calls: list[tuple[int, int]] = []

    def run(chunk: dict[str, np.ndarray]) -> list[np.ndarray]:
        calls.append((chunk["x"].shape[0], chunk["h_in"].shape[1]))
        return [chunk["x"][..., :2] * 2, chunk["h_in"] + 1]  # row-wise, so a misplaced row shows in the result

    y, h_out = run_in_fixed_batches(run, interface, ["y", "h_out"], feeds, 2)
    assert calls == [(2, 2)] * 3  # 5 rows: two full slices and one padded with a copy of the last row
    np.testing.assert_array_equal(y, feeds["x"][..., :2] * 2)
    np.testing.assert_array_equal(h_out, feeds["h_in"] + 1)
