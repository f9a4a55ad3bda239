"""Helpers and fixtures that both halves of tests/test_bench.py need: tests/unit/test_bench.py and
tests/e2e/test_bench_cli.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.checkpoint import save_checkpoint
from edgelstm.export.api import export_model
from edgelstm.loading import load_model
from tests.conftest import tiny_model


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("bench")
    save_checkpoint(tiny_model(cell="lstm", layers=2), root / "ckpt")
    loaded = load_model(str(root / "ckpt"))
    paths = [export_model(loaded, root / "onnx", ExportConfig(form=form)).path for form in ("sequence", "streaming")]
    return root / "ckpt", paths
