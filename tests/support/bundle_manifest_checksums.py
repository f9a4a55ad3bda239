"""Helpers and fixtures that both halves of tests/test_bundle_manifest_checksums.py need:
tests/unit/test_bundle_manifest_checksums.py and tests/e2e/test_bundle_manifest_checksums_cli.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.bundle import build_bundle
from edgelstm.checkpoint import save_checkpoint
from edgelstm.export.api import export_model
from edgelstm.loading import load_model
from tests.conftest import tiny_model

NAMED = {"ort": ("model", "ort"), "onnx": ("model", "onnx"), "operators": (None, "required_operators_config")}


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("manifest_layer")
    save_checkpoint(tiny_model(cell="gru"), root / "ckpt")
    artifact = export_model(load_model(str(root / "ckpt")), root / "onnx", ExportConfig(form="streaming")).path
    return build_bundle(artifact, root / "bundle").directory


@pytest.fixture
def bundle(honest: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(honest, tmp_path / "bundle"))


def _name_unlisted(bundle: Path, key: str, name: str = "renamed.bin") -> Path:
    """Point the manifest's `key` at `name`, which has no entry in 'files'; returns the manifest's path."""
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    parent, field = NAMED[key]
    (manifest[parent] if parent else manifest)[field] = name
    path.write_text(json.dumps(manifest))
    return path
