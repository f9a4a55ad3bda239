"""edgelstm/files.py's own logic: a write that fails half way leaves the old file (or nothing), never a torn one.

The full-disk tests in test_bad_input_model.py replace `_write_temp_beside`, so the helpers' temp-then-rename never
runs there. Here the failure is injected below the helpers (os.fsync, the byte write), where a real full disk
surfaces, so a helper that wrote straight to the final path would destroy the old bytes and fail these tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.checkpoint import save_checkpoint
from edgelstm.export.api import export_model
from edgelstm.export.verify import VerificationConfig
from edgelstm.loading import load_model
from tests.conftest import tiny_model
from tests.refusals import assert_refused
from tests.support.atomic_files import _fsync_fails_on, _torn_write_bytes

# -- end to end ----------------------------------------------------------------------------------------------


@pytest.fixture
def published(tmp_path: Path) -> tuple[Path, Path]:
    """A checkpoint and its exported pair in out/."""
    ckpt = save_checkpoint(tiny_model(), tmp_path / "ckpt")
    out = tmp_path / "out"
    result = export_model(
        load_model(str(ckpt)), out, ExportConfig(), VerificationConfig(batches=(1,), steps=(3,), example_steps=4)
    )
    assert result.written
    return ckpt, out


@pytest.mark.parametrize("failing_fsync", [1, 2], ids=["sidecar", "model"])
def test_export_overwrite_on_a_full_disk_keeps_the_published_pair(
    published: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_fsync: int
) -> None:
    ckpt, out = published
    save_checkpoint(tiny_model(seed=1), ckpt, overwrite=True)  # other weights: the new pair would differ
    _fsync_fails_on(monkeypatch, failing_fsync)
    args = ["export", str(ckpt), "--out", str(out), "--overwrite", "--batches", "1", "--steps", "3", "--example-steps", "4"]
    assert_refused(args, "no space left", watch=(out,))  # every byte of the old pair unchanged, nothing added


def test_check_report_overwrite_on_a_full_disk_keeps_the_old_report(
    published: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ckpt, out = published
    report = tmp_path / "report.json"
    report.write_text('{"previous": "report"}\n')
    _torn_write_bytes(monkeypatch)
    args = ["check", str(out / "sequence_fused.onnx"), "--reference", str(ckpt), "--no-stress", "--report", str(report)]
    assert_refused(args, "no space left", watch=(tmp_path,))
