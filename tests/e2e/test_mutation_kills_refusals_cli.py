"""A `.pt2` with tensor constants is plain data (docs/testing/mutation.md, "Full run"): torch.export stores a
non-persistent buffer or a literal tensor as data/constants/tensor_<n>, and `inspect` must load it, not refuse it."""

from __future__ import annotations

from pathlib import Path

import torch

from tests.refusals import run_cli


class _WithConstants(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)
        self.register_buffer("scale", torch.full((2,), 0.5), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * self.scale + torch.tensor([1.0, 2.0])


def test_inspect_loads_a_pt2_with_tensor_constants(tmp_path: Path) -> None:
    batch, time = torch.export.Dim("batch"), torch.export.Dim("time")
    program = torch.export.export(_WithConstants(), (torch.randn(2, 5, 3),), dynamic_shapes=({0: batch, 1: time},))
    path = tmp_path / "constants.pt2"
    torch.export.save(program, str(path))
    result = run_cli(["inspect", path, "--input-size", "3"])
    assert result.exit_code == 0, result.output
    assert "refused" not in result.output
