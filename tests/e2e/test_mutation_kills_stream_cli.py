"""`check` on a streaming graph at the edge of its |delta p| budget (docs/testing/mutation.md, "Full run"):
`--max-delta D` allows a largest |p - p_ref| of exactly D, so a graph checked against itself passes the zero budget
(`--max-flips 0 --max-delta 0`: identical probabilities asked for, and given)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.refusals import run_cli
from tests.support.silero_check import silero_check_args


@pytest.fixture(scope="module")
def silero(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(silero-vad's graph, 40 chunks of synthetic speech as .npy)."""
    silero_vad = pytest.importorskip("silero_vad", reason="silero-vad 6.2.3 is a dev dependency (pip install -e '.[dev]')")
    from edgelstm.parity.stream_data import synthetic_speech

    root = tmp_path_factory.mktemp("delta")
    audio = synthetic_speech(40 * 512 / 16_000, 16_000, seed=1, chunk=512).x[:, : 40 * 512]
    np.save(root / "speech.npy", audio[0])
    return Path(silero_vad.__file__).parent / "data" / "silero_vad_16k_op15.onnx", root / "speech.npy"


def test_a_graph_checked_against_itself_passes_a_zero_delta_budget(silero: tuple[Path, Path], tmp_path: Path) -> None:
    graph, audio = silero
    report = tmp_path / "report.json"
    result = run_cli(silero_check_args(graph, graph, audio, "--max-flips", "0", "--max-delta", "0", "--report", report))
    assert result.exit_code == 0, result.output
    (candidate,) = json.loads(report.read_text())["candidates"]
    assert (candidate["max_abs_delta"], candidate["flips"], candidate["decisions"]) == (0.0, 0, 40)
    assert candidate["verdict"] == "pass"
