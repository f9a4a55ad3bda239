"""Fixtures for tests/e2e/test_litert_e2e.py: a tiny GRU checkpoint (raw-feature normalisation inside) exported to
LiteRT at two static shapes, and .tflite files that break one promise each (state not carried, shape lied about)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.file import open_artifact
from edgelstm.artifact.layout import as_batch_first
from edgelstm.artifact.litert_file import LiteRTShape, LiteRTSidecar, read_sidecar, sidecar_path
from edgelstm.artifact.metadata import ArtifactMetadata
from edgelstm.checkpoint import save_checkpoint
from edgelstm.config import Preprocessing
from edgelstm.export.litert import (
    LiteRTExportConfig,
    LiteRTExportResult,
    NativeStream,
    example_args,
    export_litert,
    fixed_interface,
)
from edgelstm.export.litert_convert import convert_module
from edgelstm.export.native import native_interface
from edgelstm.files import file_sha256
from edgelstm.loading import load_model
from tests.conftest import tiny_config, tiny_model

CONVERTER_REASON = 'the LiteRT converter is not installed: pip install "edgelstm[litert-convert]"'


@pytest.fixture(scope="module")
def gru_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("litert_torch", reason=CONVERTER_REASON)
    root = tmp_path_factory.mktemp("litert")
    prep = Preprocessing(labels=["a", "b", "c"], feature_mean=[0.5] * 5, feature_std=[2.0] * 5)
    save_checkpoint(tiny_model(cell="gru", layers=2), root / "gru", prep)
    return root / "gru"


@pytest.fixture(scope="module")
def exported(gru_checkpoint: Path) -> LiteRTExportResult:
    """Streaming .tflite files at batch 1 and 2, chunks of 4 steps."""
    config = LiteRTExportConfig(form="streaming", batches=(1, 2), chunks=(4,))
    return export_litert(load_model(str(gru_checkpoint)), gru_checkpoint.parent / "tflite", config)


class StateNotCarried(torch.nn.Module):
    """The model's streaming step, but its state outputs are its state inputs: each call starts where the first did."""

    def __init__(self, step: torch.nn.Module) -> None:
        super().__init__()
        self.step = step

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y = self.step(x, *states)[0]
        return (y, *states)


def rewrite_beside(honest: Path, target: Path, content: bytes, edit=None) -> Path:  # type: ignore[no-untyped-def]
    """`content` written at `target` with the honest file's sidecar, its digest updated (and `edit` applied to it)."""
    target.write_bytes(content)
    data = json.loads(sidecar_path(honest).read_text())
    data["tflite_sha256"] = file_sha256(target)
    if edit is not None:
        edit(data)
    sidecar_path(target).write_text(json.dumps(data))
    return target


def state_not_carried(gru_checkpoint: Path, honest: Path) -> Path:
    """A .tflite of the same model at the honest file's shape (raw features in, its state layout) whose state is never
    updated, described by the honest file's sidecar."""
    interface = open_artifact(honest).interface
    step = NativeStream(load_model(str(gru_checkpoint)).module.float().eval(), interface.normalization, interface.states)
    content = convert_module(StateNotCarried(step), example_args(interface, read_sidecar(honest)[0].shape))
    return rewrite_beside(honest, honest.with_name("stale_state.tflite"), content)


def sidecar_for(tflite: Path, shape: LiteRTShape = LiteRTShape(1, chunk=4), sha: str | None = None) -> LiteRTSidecar:
    """An honest sidecar for `tflite` (whatever its bytes): a 2-layer GRU's streaming interface at `shape`."""
    config = tiny_config(cell="gru", layers=2)
    interface = fixed_interface(
        as_batch_first(native_interface(config, ExportConfig(form="streaming", with_lengths=False))), shape
    )
    metadata = ArtifactMetadata(interface, ExportConfig(form="streaming"), config, None, "checkpoint")
    return LiteRTSidecar(metadata, shape, "fp32", sha or file_sha256(tflite), {"litert-torch": "0.10.0"})


def hide_packages(monkeypatch: pytest.MonkeyPatch, *packages: str) -> None:
    """`packages` (and every submodule already imported) made unimportable as an absent install is: `sys.modules[name]
    = None` makes `import name`, `from name import x` and `importlib.import_module(name)` alike raise
    ModuleNotFoundError with `name` set, and undoes itself after the test."""
    for name in [m for m in sys.modules if m.split(".")[0] in packages] + list(packages):
        monkeypatch.setitem(sys.modules, name, None)  # type: ignore[arg-type]
