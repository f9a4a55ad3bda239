"""Without the LiteRT extras every LiteRT command ends in one `error:` line naming what to install (exit 2), and
writes nothing. The extras are hidden from the import system here, so this runs whether or not they are installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgelstm.artifact.litert_file import sidecar_path
from edgelstm.checkpoint import save_checkpoint
from tests.conftest import tiny_model
from tests.refusals import assert_refused
from tests.support.litert import hide_packages, sidecar_for


@pytest.fixture
def hidden_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    hide_packages(monkeypatch, "litert_torch", "ai_edge_litert", "ai_edge_quantizer")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    save_checkpoint(tiny_model(cell="gru", layers=2), tmp_path / "ckpt")
    tflite = tmp_path / "streaming_litert_b1_k4.tflite"
    tflite.write_bytes(b"TFL3 not run: the interpreter is missing")
    sidecar_path(tflite).write_text(sidecar_for(tflite).to_json())
    return tmp_path


def test_export_without_the_converter(hidden_extras: None, workspace: Path) -> None:
    out = workspace / "out"
    args = ["export", workspace / "ckpt", "--out", out, "--target", "litert", "--form", "streaming"]
    assert_refused(args, 'pip install "edgelstm[litert-convert]"', watch=(workspace,))
    assert not out.exists()


def test_check_without_the_interpreter(hidden_extras: None, workspace: Path) -> None:
    args = ["check", workspace / "streaming_litert_b1_k4.tflite", "--reference", workspace / "ckpt", "--providers", "litert"]
    assert_refused(args, 'pip install "edgelstm[litert]"', watch=(workspace,))


def test_quantize_without_the_quantizer(hidden_extras: None, workspace: Path) -> None:
    args = ["quantize", workspace / "streaming_litert_b1_k4.tflite", "--target", "litert", "--scheme", "dynamic-int8"]
    assert_refused([*args, "--no-check", "--out", workspace / "q"], 'pip install "edgelstm[litert-convert]"', watch=(workspace,))
