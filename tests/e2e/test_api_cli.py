"""The typed Python API as a user drives it from a notebook or their own CI, and the shape of the commands over it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgelstm import api, jsonio
from edgelstm.model_source import ModelSource
from edgelstm.quantize.api import QuantizeResult
from edgelstm.quantize.selection_table import SelectionResult
from tests.support import api as shared

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
watch = shared.watch


def test_the_quantize_command_is_parse_one_api_call_render(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from edgelstm.cli import app

    calls = []

    def one_call(model: ModelSource, out: Path, options: api.QuantizeOptions) -> api.QuantizeOutcome:
        calls.append((model, out, options))
        return api.QuantizeOutcome(result=QuantizeResult("dynamic-int8", {}, model.spec, 100, parity_passed=False))

    monkeypatch.setattr(api, "quantize", one_call)
    args = ["quantize", "ckpt", "--out", str(tmp_path), "--scheme", "dynamic-int8", "--exclude", "head,Layer0", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output  # the gate's FAIL, from the outcome the API returned
    ((model, out, options),) = calls
    assert (model.spec, out, options.scheme, options.exclude) == ("ckpt", tmp_path, "dynamic-int8", ("head", "layer0"))
    assert json.loads(result.stdout)["parity_passed"] is False


def test_pipeline_steps_hand_on_typed_results_under_the_keys_earlier_runs_saved() -> None:
    """pipeline.json keeps each step's `context` under the keys the dict-based pipeline wrote, so a run started
    before the typed steps still resumes; read back, a context is the step's dataclass again."""
    from edgelstm.pipeline.run import Carried, Checked, Distilled, Exported, Quantized, _restored

    saved = {
        "distill": {"student": "out/distill/abc/best"},
        "export": {"exports": ["out/export/sequence_fused.onnx", "out/export/streaming_fused.onnx"]},
        "quantize": {
            "quantized": ["out/quantize/dynamic-int8.onnx"],
            "best": "out/quantize/dynamic-int8.onnx",
            "streaming_best": None,
        },
        "check": {"passed": False},
    }
    carried = Carried()
    for name, context in saved.items():
        result = _restored(name, context)
        assert jsonio.to_jsonable(result) == context  # written back byte for byte the same keys and values
        carried = carried.with_result(result)
    assert carried.distill == Distilled("out/distill/abc/best") and carried.check == Checked(False)
    assert carried.export == Exported(saved["export"]["exports"])
    assert carried.quantize == Quantized(["out/quantize/dynamic-int8.onnx"], "out/quantize/dynamic-int8.onnx", None)
    assert [p.name for p in carried.artifacts()] == ["sequence_fused.onnx", "streaming_fused.onnx", "dynamic-int8.onnx"]
    assert _restored("bench", {}) is None and _restored("load", {}) is None


# auto tries every scheme on real windows: a whole quantize command's work (8.5 s on the loaded machine)
@pytest.mark.slow
def test_auto_returns_the_selection(watch, tmp_path: Path) -> None:
    checkpoint, held = watch
    outcome = api.quantize(ModelSource(str(checkpoint)), tmp_path, api.QuantizeOptions("auto", data=held))
    assert isinstance(outcome.selection, SelectionResult) and outcome.result is None
    assert outcome.passed == (outcome.selection.winner is not None)
    assert outcome.payload()["objective"] == "size"
