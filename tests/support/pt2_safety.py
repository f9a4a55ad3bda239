"""Helpers and fixtures that both halves of tests/test_pt2_safety.py need: tests/unit/test_pt2_safety.py and
tests/e2e/test_pt2_safety_cli.py."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch


class _TimeMix(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x).cumsum(1)


class _WritesMarker:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # unpickling calls os.system: the attacker's code
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def clean_pt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    batch, time = torch.export.Dim("batch"), torch.export.Dim("time")
    program = torch.export.export(_TimeMix(), (torch.randn(2, 5, 3),), dynamic_shapes=({0: batch, 1: time},))
    path = tmp_path_factory.mktemp("pt2") / "clean.pt2"
    torch.export.save(program, str(path))
    return path


def _rewrite(source: Path, target: Path, edit) -> Path:
    """Copy the archive entry by entry; `edit(name, data)` returns new bytes, or a list of (name, bytes) to add."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            for name, data in edit(info.filename, zin.read(info)):
                zout.writestr(name, data)
    return target


def _torch_bytes(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _pickled_weight(clean: Path, target: Path, marker: Path) -> Path:
    def edit(name: str, data: bytes):
        if name.endswith("model_weights_config.json"):
            config = json.loads(data)
            first = next(iter(config["config"].values()))
            first["use_pickle"] = True
            return [(name, json.dumps(config).encode())]
        if name.endswith("data/weights/weight_0"):
            return [(name, _torch_bytes(_WritesMarker(marker)))]
        return [(name, data)]

    return _rewrite(clean, target, edit)


def _pickled_sample_inputs(clean: Path, target: Path, marker: Path) -> Path:
    # torch's deserializer retries sample inputs with weights_only=False when the safe load fails
    def edit(name: str, data: bytes):
        return [(name, _torch_bytes((_WritesMarker(marker),)) if "data/sample_inputs/" in name else data)]

    return _rewrite(clean, target, edit)


def _opaque_constant(clean: Path, target: Path, marker: Path) -> Path:
    def edit(name: str, data: bytes):
        if name.endswith("model_constants_config.json"):
            config = {"config": {"evil": {"path_name": "opaque_obj_0", "is_param": False, "use_pickle": True}}}
            return [(name, json.dumps(config).encode())]
        if name.endswith("archive_format"):
            root = name.split("/")[0]
            return [(name, data), (f"{root}/data/constants/opaque_obj_0", pickle.dumps(_WritesMarker(marker)))]
        return [(name, data)]

    return _rewrite(clean, target, edit)


def _aoti_library(clean: Path, target: Path, marker: Path) -> Path:
    def edit(name: str, data: bytes):
        if name.endswith("archive_format"):
            root = name.split("/")[0]
            return [(name, data), (f"{root}/data/aotinductor/model/model.so", b"\x7fELF not really")]
        return [(name, data)]

    return _rewrite(clean, target, edit)


CRAFTED = {
    "pickled-weight": _pickled_weight,
    "pickled-sample-inputs": _pickled_sample_inputs,
    "opaque-constant": _opaque_constant,
    "aoti-library": _aoti_library,
}
