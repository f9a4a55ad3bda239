"""TorchScript archives carry code: recognised without loading, refused without the opt-in flag, described with it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from tests.refusals import assert_refused, run_cli
from tests.support import torchscript as shared
from tests.support.torchscript import _Streaming

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
scripted = shared.scripted


def _forbid_jit_load(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args, **_kwargs):
        raise AssertionError("torch.jit.load ran without the opt-in flag")

    monkeypatch.setattr(torch.jit, "load", refuse)


@pytest.mark.parametrize("command", ["inspect", "export"])
def test_refused_without_the_flag_and_never_loaded(
    scripted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    _forbid_jit_load(monkeypatch)
    out = tmp_path / "out"
    args = [command, scripted] + (["--out", out] if command == "export" else [])
    # --unsafe-allow-pickle is not the consent for code archives
    assert_refused([*args, "--unsafe-allow-pickle"], "TorchScript", "--unsafe-allow-torchscript", watch=(tmp_path,))
    assert not out.exists()


def test_described_with_the_flag(scripted: Path) -> None:
    result = run_cli(["inspect", scripted, "--unsafe-allow-torchscript", "--json"])
    assert result.exit_code == 0, result.output
    described = json.loads(result.stdout)
    assert described["forward_args"] == [["x", "Tensor"], ["sr", "int"]]
    assert described["methods"] == ["reset_states"]
    assert described["recurrent_layers"] == [["rnn", "LSTM"]]
    assert described["parameters"] == sum(p.numel() for p in _Streaming().parameters())


SILERO = importlib.util.find_spec("silero_vad")


@pytest.mark.skipif(SILERO is None, reason="silero-vad is not installed (pip install silero-vad==6.2.3)")
def test_silero_jit_described() -> None:
    path = Path(SILERO.origin).parent / "data" / "silero_vad.jit"
    result = run_cli(["inspect", path, "--unsafe-allow-torchscript"])
    assert result.exit_code == 0, result.output
    assert "forward(Tensor x, int sr) -> Tensor" in result.stdout and "reset_states" in result.stdout
    assert "LSTMCell" in result.stdout
