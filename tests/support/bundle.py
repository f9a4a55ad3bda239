"""Helpers and fixtures that both halves of tests/test_bundle.py need: tests/unit/test_bundle.py and
tests/e2e/test_bundle_cli.py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.checkpoint import save_checkpoint
from edgelstm.config import Preprocessing
from edgelstm.export.api import export_model
from edgelstm.loading import load_model
from tests.conftest import tiny_model


@pytest.fixture(scope="module")
def streaming_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bundle")
    save_checkpoint(
        tiny_model(cell="gru", layers=2),
        root / "ckpt",
        Preprocessing(labels=["a", "b", "c"], feature_mean=[0.0] * 5, feature_std=[1.0] * 5),
    )
    return export_model(load_model(str(root / "ckpt")), root / "onnx", ExportConfig(form="streaming")).path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _candidate(artifact: str, verdict: str, sha: str | None = None, provider: str = "cpu") -> dict:
    c = {"artifact": artifact, "provider": provider, "precision": "fp32", "verdict": verdict, "gated": True}
    if sha is not None:
        c["artifact_sha256"] = sha
    return c


def _parity_report(path: Path, *candidates: dict) -> Path:
    # The shape `check --report` writes; only the keys a verdict needs, plus a run-wide "passed" that must not leak.
    path.write_text(json.dumps({"passed": True, "reference_dtype": "float64", "versions": {}, "candidates": list(candidates)}))
    return path
