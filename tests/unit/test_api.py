"""The typed Python API as a user drives it from a notebook or their own CI, and the shape of the commands over it."""

from __future__ import annotations

import ast
import json
import textwrap
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

import numpy as np
import pytest

from edgelstm import api, jsonio
from edgelstm.checkpoint import save_checkpoint
from edgelstm.config import HeadConfig, ModelConfig
from edgelstm.errors import ConfigError, EdgelstmError, LoadError, OutputExistsError, RandomWeightsWarning
from edgelstm.export.api import ExportResult
from edgelstm.loading import load_model
from edgelstm.model import SequenceModel
from edgelstm.model_source import ModelSource
from edgelstm.parity import ParityReport
from edgelstm.parity.evidence_strength import FAIL, PASS
from edgelstm.quantize.api import QuantizeResult
from tests.support import api as shared

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
watch = shared.watch

REPO = Path(__file__).resolve().parents[2]
MAX_COMMAND_FUNCTION_LINES = 40

USER_MODULE = textwrap.dedent(
    """
    import torch
    from torch import nn


    class TinyGRU(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(6, 8, batch_first=True)
            self.head = nn.Linear(8, 7)

        def forward(self, x):
            h, _ = self.gru(x)
            return self.head(h[:, -1])


    def build():
        torch.manual_seed(0)
        return TinyGRU().eval()
    """
)


def test_a_native_checkpoint_exports_checks_and_quantizes_with_typed_results(watch, tmp_path: Path) -> None:
    checkpoint, held = watch
    model = ModelSource(str(checkpoint))
    exported = api.export(model, tmp_path / "onnx", api.ExportOptions(batches=(1, 2), steps=(5, 30)))
    assert isinstance(exported, ExportResult) and exported.passed and exported.path.is_file()

    verdict = api.check([exported.path], model, api.CheckOptions(data=held, providers=("cpu",), stress=False))
    assert isinstance(verdict, api.CheckOutcome) and isinstance(verdict.report, ParityReport)
    assert verdict.verdict == PASS and verdict.passed and bool(verdict)
    assert verdict.payload()["candidates"][0]["artifact"] == str(exported.path)  # the JSON `check --json` prints

    options = api.QuantizeOptions("dynamic-int8", data=held, exclude=("head",))
    outcome = api.quantize(ModelSource(str(exported.path)), tmp_path / "q", replace(options, reference=str(checkpoint)))
    assert isinstance(outcome.result, QuantizeResult) and outcome.selection is None and outcome.mixed is None
    assert tuple(outcome.result.config["exclude"]) == ("head",)  # the option reached the scheme's config
    assert outcome.passed == (outcome.result.parity_passed is not False)
    assert outcome.result.path is not None and outcome.result.path.is_file()


def test_a_failing_gate_is_a_typed_verdict_not_an_exit(watch, tmp_path: Path) -> None:
    """A graph of other weights than the reference: check returns FAIL as data, with per-candidate numbers."""
    import torch

    checkpoint, held = watch
    torch.manual_seed(1)
    other = tmp_path / "other"
    save_checkpoint(SequenceModel(ModelConfig(input_size=6, hidden_size=12, head=HeadConfig("classify", 7))).eval(), other)
    graph = api.export(ModelSource(str(other)), tmp_path / "onnx", api.ExportOptions(batches=(1,), steps=(5,)))
    assert isinstance(graph, ExportResult)
    verdict = api.check([graph.path], ModelSource(str(checkpoint)), api.CheckOptions(data=held, providers=("cpu",), stress=False))
    assert verdict.verdict == FAIL and not verdict and verdict.report is not None
    assert not verdict.report.candidates[0].passed


def test_a_user_module_goes_through_the_same_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, watch) -> None:
    _, held = watch
    (tmp_path / "my_tiny_gru.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(RandomWeightsWarning):  # no weights file: the module's own seeded init, said once
        model = load_model(ModelSource("my_tiny_gru:build"))  # loaded once, handed to every call
    exported = api.export(model, tmp_path / "onnx", api.ExportOptions(batches=(1, 2), steps=(5, 30)))
    assert isinstance(exported, ExportResult) and exported.passed
    verdict = api.check([exported.path], model, api.CheckOptions(data=held, providers=("cpu",), stress=False))
    assert verdict.passed, verdict.payload()


def test_user_errors_raise_the_named_errors_not_system_exit(watch, tmp_path: Path) -> None:
    checkpoint, held = watch
    model = ModelSource(str(checkpoint))
    with pytest.raises(ConfigError, match="unknown scheme"):
        api.quantize(model, tmp_path / "q", api.QuantizeOptions("int3"))
    with pytest.raises(ConfigError, match="--rounding / --granularity apply to weight-only"):
        api.quantize(model, tmp_path / "q", api.QuantizeOptions("dynamic-int8", data=held, rounding="gptq"))
    with pytest.raises(ConfigError, match="needs a reference model"):
        api.quantize(model, tmp_path / "q", api.QuantizeOptions("auto"))
    with pytest.raises(LoadError):
        api.export(ModelSource(str(tmp_path / "no-such-checkpoint")), tmp_path / "onnx")
    with pytest.raises(ConfigError, match="names no provider"):
        api.CheckOptions(providers=())
    with pytest.raises(ConfigError, match="--limit"):
        api.CheckOptions(limit=0)
    first = api.export(model, tmp_path / "twice", api.ExportOptions(batches=(1,), steps=(5,)))
    assert isinstance(first, ExportResult) and first.written
    with pytest.raises(OutputExistsError):
        api.export(model, tmp_path / "twice", api.ExportOptions(batches=(1,), steps=(5,)))


def test_each_scheme_takes_the_options_its_config_names() -> None:
    """One rule instead of a switch on the scheme's name: an option reaches a config that has a field of that name."""
    options = api.QuantizeOptions(
        per_channel=True, exclude=("head",), method="entropy", fixed_batch=4, block_size=64, keep_fp32=("LSTM",)
    )

    def settings(scheme: str) -> dict[str, object]:
        return replace(options, scheme=scheme).scheme_settings()

    assert settings("dynamic-int8") == {"per_channel": True, "reduce_range": None, "exclude": ("head",), "weight_type": "int8"}
    assert settings("static-int8") == {"per_channel": True, "method": "entropy", "fixed_batch": 4}
    assert settings("fp16") == {"keep_fp32_ops": ("LSTM",)}
    assert settings("int4") == {"block_size": 64}
    assert settings("weight-only-int8") == {"block_size": 64, "rounding": "nearest", "granularity": "channel"}
    assert settings("weight-only-int4") == {"block_size": 64, "rounding": "nearest", "granularity": "channel"}


def test_to_jsonable_writes_nested_typed_results() -> None:
    class Kind(Enum):
        FUSED = "fused"

    @dataclass
    class Inner:
        path: Path
        kind: Kind

    @dataclass
    class Outer:
        score: np.float32
        count: np.int64
        rows: np.ndarray
        inner: Inner
        pair: tuple[int, int]
        worst: float

    value = Outer(np.float32(0.5), np.int64(3), np.arange(2), Inner(Path("a/b.onnx"), Kind.FUSED), (1, 2), float("inf"))
    assert list(jsonio.to_jsonable(value)) == ["score", "count", "rows", "inner", "pair", "worst"]  # field order kept
    assert json.loads(jsonio.dumps(value)) == {
        "score": 0.5,
        "count": 3,
        "rows": [0, 1],
        "inner": {"path": "a/b.onnx", "kind": "fused"},
        "pair": [1, 2],
        "worst": "inf",
    }
    assert jsonio.dumps({"a": [1, (2, 3)]}) == json.dumps({"a": [1, [2, 3]]}, indent=2)  # plain data: bytes unchanged


def long_command_functions(root: Path = REPO / "edgelstm" / "commands", limit: int = MAX_COMMAND_FUNCTION_LINES) -> list[str]:
    """Every function in a command module longer than `limit` lines (signature, docstring and body together)."""
    found = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found.append(f"{path.name}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_command_function_is_over_40_lines() -> None:
    """A command parses options, makes one API call and renders: orchestration belongs in edgelstm.api."""
    assert long_command_functions() == []


def test_the_length_scan_sees_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(40))
    (tmp_path / "long.py").write_text(f"def orchestrates():\n{body}\n\n\ndef short():\n    return 1\n")
    assert long_command_functions(tmp_path) == ["long.py:1 orchestrates (41 lines)"]


def test_a_failing_call_is_never_a_system_exit(tmp_path: Path) -> None:
    """The API raises edgelstm's errors; exit codes are the CLI's business alone."""
    try:
        api.bundle(tmp_path / "missing.onnx", tmp_path / "bundle")
    except SystemExit:  # pragma: no cover - the failure this test exists for
        pytest.fail("the API raised SystemExit")
    except EdgelstmError as exc:
        assert "no such artifact" in str(exc)
    else:  # pragma: no cover
        pytest.fail("bundling a missing file succeeded")
