"""Helpers and fixtures that both halves of tests/test_onnx_interface.py need: tests/unit/test_onnx_interface.py and
tests/e2e/test_onnx_interface_cli.py."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch


class _StreamingGRU(torch.nn.Module):
    """forward(x, h, gain) -> (y, h_next): a user's streaming model with a scalar argument."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = torch.nn.GRU(3, 6, batch_first=True)
        self.fc = torch.nn.Linear(6, 2)

    def forward(self, x: torch.Tensor, h: torch.Tensor, gain: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, h_next = self.gru(x * gain, h)
        return self.fc(y), h_next


def _export(tmp_path: Path, input_names: list[str], output_names: list[str], name: str = "user.onnx") -> Path:
    torch.manual_seed(0)
    path = tmp_path / name
    x, h, gain = torch.randn(2, 5, 3), torch.zeros(1, 2, 6), torch.tensor(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on nn.GRU; the graph is checked by the probe
        _export_quietly(path, input_names, output_names, x, h, gain)
    return path


def _export_quietly(path, input_names, output_names, x, h, gain) -> None:
    torch.onnx.export(
        _StreamingGRU().eval(),
        (x, h, gain),
        str(path),
        dynamo=False,
        input_names=input_names,
        output_names=output_names,
        dynamic_axes={
            input_names[0]: {0: "B", 1: "T"},
            input_names[1]: {1: "B"},
            output_names[0]: {0: "B", 1: "T"},
            output_names[1]: {1: "B"},
        },
    )


@pytest.fixture(scope="module")
def user_graph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _export(tmp_path_factory.mktemp("g"), ["x", "h", "gain"], ["y", "hn"])
