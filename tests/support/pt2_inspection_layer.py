"""Helpers and fixtures that both halves of tests/test_pt2_inspection_layer.py need:
tests/unit/test_pt2_inspection_layer.py and tests/e2e/test_pt2_inspection_layer_cli.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.support.pt2_safety import _TimeMix


@pytest.fixture(scope="module")
def clean_pt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    batch, time = torch.export.Dim("batch"), torch.export.Dim("time")
    program = torch.export.export(_TimeMix(), (torch.randn(2, 5, 3),), dynamic_shapes=({0: batch, 1: time},))
    path = tmp_path_factory.mktemp("pt2_layer") / "clean.pt2"
    torch.export.save(program, str(path))
    return path
