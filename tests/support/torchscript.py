"""Helpers and fixtures that both halves of tests/test_torchscript.py need: tests/unit/test_torchscript.py and
tests/e2e/test_torchscript_cli.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


class _Streaming(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = torch.nn.LSTM(4, 8, batch_first=True)
        self.fc = torch.nn.Linear(8, 1)

    def forward(self, x: torch.Tensor, sr: int) -> torch.Tensor:
        y, _ = self.rnn(x * float(sr) / 16000.0)
        return self.fc(y[:, -1])

    @torch.jit.export
    def reset_states(self) -> None:
        pass


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ts") / "model.jit"
    torch.jit.save(torch.jit.script(_Streaming().eval()), str(path))
    return path
