"""The sha256 a verdict names is the file's (docs/testing/mutation.md, "Full run"): `check --report` names the
artifact, the reference and the data by the sha256 of all their bytes, as `sha256sum` would."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from tests.refusals import run_cli
from tests.support.silero_check import silero_check_args


def test_check_names_the_artifact_reference_and_data_by_their_sha256(tmp_path: Path) -> None:
    silero_vad = pytest.importorskip("silero_vad", reason="silero-vad 6.2.3 is a dev dependency (pip install -e '.[dev]')")
    from edgelstm.parity.stream_data import synthetic_speech

    graph = Path(silero_vad.__file__).parent / "data" / "silero_vad_16k_op15.onnx"
    reference = Path(silero_vad.__file__).parent / "data" / "silero_vad.onnx"
    audio = tmp_path / "speech.npy"
    np.save(audio, synthetic_speech(20 * 512 / 16_000, 16_000, seed=1, chunk=512).x[0, : 20 * 512])
    report = tmp_path / "report.json"
    result = run_cli(silero_check_args(graph, reference, audio, "--max-delta", "1", "--max-flips", "1", "--report", report))
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    sha = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (graph, reference, audio)}
    assert len(set(sha.values())) == 3
    assert (data["artifact_sha256"], data["reference_sha256"], data["data_sha256"]) == (sha[graph], sha[reference], sha[audio])
    assert data["candidates"][0]["artifact_sha256"] == sha[graph]
