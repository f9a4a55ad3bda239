"""A `.pt2`'s tensor constants (docs/testing/mutation.md, "Full run"): torch.export stores a non-persistent buffer
or a literal tensor as data/constants/tensor_<n>. `inspect` loads such a program, and refuses one whose constants
config marks a constant as pickled, naming the constant (the inspection, not only the loader's second layer)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import torch

from tests.refusals import assert_refused, run_cli


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
    result = run_cli(["inspect", str(path), "--input-size", "3"])
    assert result.exit_code == 0, result.output
    assert "refused" not in result.output


def test_inspect_refuses_a_pt2_whose_constant_is_pickled_naming_it(tmp_path: Path) -> None:
    clean = tmp_path / "clean.pt2"
    torch.export.save(torch.export.export(_WithConstants(), (torch.randn(2, 5, 3),)), str(clean))
    crafted = tmp_path / "crafted.pt2"
    with zipfile.ZipFile(clean) as archive, zipfile.ZipFile(crafted, "w") as out:
        for info in archive.infolist():
            data = archive.read(info.filename)
            if info.filename.endswith("data/constants/model_constants_config.json"):
                config = json.loads(data)
                config["config"]["scale"]["use_pickle"] = True
                data = json.dumps(config).encode()
            out.writestr(info, data)
    assert_refused(["inspect", str(crafted), "--input-size", "3"], "'scale' is stored as a pickled object (tensor_1)")
