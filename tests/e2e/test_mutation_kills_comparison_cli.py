"""The SNR floor decides `check`'s verdict end to end (docs/testing/mutation.md, "Full run of comparison and
publish"): an exported graph whose output is multiplied by 1.1 has, against its reference, a noise of 0.1 x the
signal on every element, so its SNR is -20 log10(0.1) = 20 dB whatever the data. A `min_snr_db` floor of 19.9
passes it, 20.1 fails it: a wrong SNR formula (the signal as sum e^3, say) moves it off 20 dB and flips one of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.refusals import run_cli
from tests.support import gate_verdict_boundaries as shared


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("snr")
    shared._workspace(root, "forecast", None, None)  # no targets: the numbers are the only check
    shared._route_output(root / "onnx" / "sequence_fused.onnx", root / "scaled_1.1.onnx", "Mul", np.array(1.1, np.float32))
    return root


def _check(root: Path, min_snr_db: float) -> tuple[int, dict]:
    (root / "limits.toml").write_text(f"[default]\natol = inf\nrtol = inf\nmin_snr_db = {min_snr_db}\n")
    report = root / "report.json"
    args = ["check", root / "scaled_1.1.onnx", "--reference", root / "ckpt", "--data", root / "data.npz"]
    result = run_cli([*args, "--providers", "cpu", "--no-stress", "--tolerances", root / "limits.toml", "--report", report])
    return result.exit_code, json.loads(report.read_text())


def _output_snrs(report: dict) -> list[float]:
    cases = report["candidates"][0]["cases"]
    return [float(o["snr_db"]) for case in cases for o in case["outputs"] if o["name"] == "output"]


def test_an_output_scaled_by_1_1_has_an_snr_of_20_db_and_the_floor_decides_the_verdict(scaled: Path) -> None:
    code, report = _check(scaled, 19.9)
    assert code == 0, report["candidates"][0]["verdict"]
    snrs = _output_snrs(report)
    assert snrs and all(s == pytest.approx(20.0, abs=1e-3) for s in snrs)
    code, report = _check(scaled, 20.1)
    assert code == 1 and report["candidates"][0]["verdict"] == "FAIL"
