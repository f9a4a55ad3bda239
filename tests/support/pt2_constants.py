"""A torch.export program with tensor constants, and the same archive with one constant marked as pickled: shared by
the refusal tests (unit: the inspection; e2e: `inspect`)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import torch


class WithConstants(torch.nn.Module):
    """A program with tensor constants (a non-persistent buffer, a literal tensor): torch.export stores them as
    data/constants/tensor_<n>, described by a constants config."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)
        self.register_buffer("scale", torch.full((2,), 0.5), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * self.scale + torch.tensor([1.0, 2.0])


def save_with_constants(path: Path, dynamic: bool = False) -> Path:
    """WithConstants exported (batch and time free when `dynamic`) and saved at `path`."""
    shapes = ({0: torch.export.Dim("batch"), 1: torch.export.Dim("time")},) if dynamic else None
    torch.export.save(torch.export.export(WithConstants(), (torch.randn(2, 5, 3),), dynamic_shapes=shapes), str(path))
    return path


def with_pickled_constant(source: Path, target: Path) -> Path:
    """`source` (a saved program with constants) with its constants config marking `scale` as pickled."""
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w") as out:
        for info in archive.infolist():
            data = archive.read(info.filename)
            if info.filename.endswith("data/constants/model_constants_config.json"):
                config = json.loads(data)
                config["config"]["scale"]["use_pickle"] = True
                data = json.dumps(config).encode()
            out.writestr(info, data)
    return target
