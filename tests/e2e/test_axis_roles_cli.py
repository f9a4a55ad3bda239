"""Axis roles of a foreign graph's data input (batch, time/frames, features), read from the state inputs' batch
dimension and confirmed by the probe (issue 19, item 5), on tiny LSTM graphs built with onnx.helper."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.refusals import assert_refused, run_cli
from tests.support import axis_roles as shared
from tests.support.axis_roles import WINDOW

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
graphs = shared.graphs


def test_check_and_bench_read_the_interface_inspect_reads(graphs: dict[str, Path], tmp_path: Path) -> None:
    """No hints given: check and bench describe the stateful graph as inspect does (they once read it as a
    stateless graph: "the graph carries no state", "don't know how to feed h, c")."""
    path = graphs["frames"]
    inspected = run_cli(["inspect", path])
    assert inspected.exit_code == 0, inspected.output
    assert "h -> hn, c -> cn" in inspected.output and "axes of x: time, features" in inspected.output
    checked = run_cli(["check", path, "--reference", path, "--providers", "cpu", "--data", _audio(tmp_path)])
    assert checked.exit_code == 0, checked.output
    assert "state carried (h -> hn, c -> cn)" in checked.output
    report = tmp_path / "bench.json"
    benched = run_cli(
        ["bench", path, "--batches", "1,2", "--rounds", "3", "--no-cold-start", "--no-roofline", "--report", report]
    )
    assert benched.exit_code == 0, benched.output
    assert "fed frames.onnx: x [frames, 4], state pairs h -> hn, c -> cn" in benched.output
    fed = json.loads(report.read_text())["interfaces"]
    assert fed == [
        {
            "name": "frames.onnx",
            "data_input": "x",
            "data_shape": ["frames", WINDOW],
            "states": ["h -> hn", "c -> cn"],
            "constants": {},
        }
    ]
    assert {r["batch"] for r in json.loads(report.read_text())["latencies"]} == {1}  # batch 1 only: axis 0 is frames


def test_inspect_refuses_ambiguous_axes_in_one_line_and_takes_the_declaration(graphs: dict[str, Path]) -> None:
    assert_refused(["inspect", graphs["ambiguous"]], "declare them, e.g. --axes x=time,features")
    declared = run_cli(["inspect", graphs["ambiguous"], "--axes", "x=time,features", "--chunk", "8"])
    assert declared.exit_code == 0, declared.output
    assert "axes of x: time, features (declared (--axes))" in declared.output


def _audio(tmp_path: Path) -> Path:
    path = tmp_path / "stream.npy"
    np.save(path, np.random.default_rng(2).standard_normal(40 * WINDOW).astype(np.float32))
    return path
