"""Helpers and fixtures that both halves of tests/test_bundle_tamper.py need: tests/unit/test_bundle_tamper.py and
tests/e2e/test_bundle_tamper_cli.py."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.bundle import build_bundle
from edgelstm.checkpoint import save_checkpoint
from edgelstm.config import Preprocessing
from edgelstm.export.api import export_model
from edgelstm.loading import load_model
from tests.conftest import tiny_model

ORT, ONNX = "streaming_fused.ort", "streaming_fused.onnx"
NOT_A_MODEL = b"#!/bin/sh\ntouch ran.marker\n"  # what the outside file holds: a load would fail, not succeed


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tamper")
    save_checkpoint(
        tiny_model(cell="gru"),
        root / "ckpt",
        Preprocessing(labels=["a", "b", "c"], feature_mean=[0.0] * 5, feature_std=[1.0] * 5),
    )
    artifact = export_model(load_model(str(root / "ckpt")), root / "onnx", ExportConfig(form="streaming")).path
    return build_bundle(artifact, root / "bundle").directory


@pytest.fixture
def bundle(honest: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "work" / "bundle"
    shutil.copytree(honest, copy)
    return copy


def edit_manifest(bundle: Path, change: Callable[[dict[str, Any]], None]) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    change(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def zip_of(directory: Path, target: Path, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(directory.iterdir()):
            archive.write(path, arcname=path.name)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return target


# --- the model path: only a plain member name with a checksum ---------------------------------------------------


def outside_model(bundle: Path) -> Path:
    outside = bundle.parent.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "evil.ort").write_bytes(NOT_A_MODEL)
    return outside / "evil.ort"


# --- a member that names the builder's machine -------------------------------------------------------------------


def plant_path(bundle: Path, member: str, path: str) -> None:
    """Write `path` into a member the way a careless builder would (a JSON member gets it as a JSON string, escaped;
    a text member as a line) and update the member's sha256, so only the relocatability check can object."""
    target = bundle / member
    if target.suffix == ".json":
        data = {"built_from": path, "report": json.loads(target.read_text())}
        target.write_text(json.dumps(data, indent=2) + "\n")
    else:
        target.write_text(target.read_text() + f"# built from {path}\n")
    edit_manifest(bundle, lambda m: m["files"].__setitem__(member, sha256(target.read_bytes())))
