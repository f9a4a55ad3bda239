"""The parity gate's reference really computes in float64, and that decides verdicts a float32 reference would not.

The model: a GRU classifier whose logits pass through (z + 1e4) - 1e4. In float32 that keeps z only to the spacing
of float32 numbers near 1e4 (2**-10, about 1e-3), so float32 runs -- torch's and ONNX Runtime's alike -- round the
logits by up to ~5e-4; in float64 the round trip is exact to ~1e-12. Its float32 ONNX export therefore matches a
float32 torch run bit for bit (export's own verification passes it) and fails a float64 reference at the default
fp32 tolerance (atol 1e-5 + rtol 1e-4 x range). With offset 0 the same model passes: the cancellation is the cause.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from edgelstm.loading import LoadedModel, load_model
from edgelstm.parity import CheckConfig, run_check
from edgelstm.parity.data import SequenceData
from edgelstm.parity.reference import TorchReference
from tests.support import float64_reference as shared
from tests.support.float64_reference import NAME, _artifact

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
workspace = shared.workspace
pytestmark = pytest.mark.filterwarnings("ignore:random weights")  # the factories' weights are their seed's


def _loaded(workspace: Path, factory: str = "build") -> LoadedModel:
    return load_model(f"{NAME}:{factory}", input_size=5)


def test_the_reference_runs_in_float64_to_float64_precision(workspace: Path) -> None:
    loaded = _loaded(workspace)
    x = np.load(workspace / "data.npz")["x"]
    (out,) = TorchReference(loaded).run(_interface(workspace), {"x": x})
    with torch.no_grad():
        exact = copy.deepcopy(loaded.module).double()(torch.from_numpy(x).double()).numpy()
        single = loaded.module(torch.from_numpy(x)).numpy()
    assert out.dtype == np.float64
    assert np.abs(out - exact).max() < 1e-9  # float64 arithmetic, not float32 widened afterwards
    assert np.abs(single - exact).max() > 1e-4  # and float32 is measurably different on this model


def test_run_check_fails_the_artifact_against_float64_and_passes_the_plain_model(workspace: Path) -> None:
    x = np.load(workspace / "data.npz")["x"]
    data = SequenceData(x, None, None, "synthetic")
    config = CheckConfig(providers=("cpu",), task="none", stress=False)
    for factory, passed in (("build", False), ("build_plain", True)):
        report = run_check([_artifact(workspace, factory)], _loaded(workspace, factory), data, config)
        (candidate,) = report.candidates
        assert report.reference_dtype == "float64" and "reference_note" not in report.settings
        assert candidate.passed is passed, factory
        worst = max(o.max_abs_error for case in candidate.cases for o in case.outputs)
        assert (worst > 1e-4) if not passed else (worst < 1e-5)


def test_a_float32_reference_would_pass_what_the_float64_one_fails(workspace: Path) -> None:
    """The counterfactual, measured: the same artifact judged against torch float32 is within the tolerance."""
    loaded = _loaded(workspace)
    x = np.load(workspace / "data.npz")["x"]
    interface = _interface(workspace)
    (as64,) = TorchReference(loaded, "float64").run(interface, {"x": x})
    (as32,) = TorchReference(loaded, "float32").run(interface, {"x": x})
    import onnxruntime as ort

    (graph,) = ort.InferenceSession(str(_artifact(workspace)), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    scale = float(np.abs(as64).max())
    limit = 1e-5 + 1e-4 * scale  # the fp32 default
    assert np.abs(graph - as32).max() <= limit < np.abs(graph - as64).max()


def _interface(workspace: Path):  # type: ignore[no-untyped-def]
    from edgelstm.artifact.file import open_artifact

    return open_artifact(_artifact(workspace)).interface
