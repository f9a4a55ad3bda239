"""edgelstm/files.py's own logic: a write that fails half way leaves the old file (or nothing), never a torn one.

The full-disk tests in test_bad_input_model.py replace `_write_temp_beside`, so the helpers' temp-then-rename never
runs there. Here the failure is injected below the helpers (os.fsync, the byte write), where a real full disk
surfaces, so a helper that wrote straight to the final path would destroy the old bytes and fail these tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgelstm.files import atomic_directory, atomic_path, write_artifact_pair, write_text_atomic
from tests.support.atomic_files import _fsync_fails_on, _full_disk, _torn_write_bytes

OLD_MODEL, OLD_SIDECAR = b"old model bytes", '{"old": true}\n'


@pytest.mark.parametrize("failing_fsync", [1, 2], ids=["sidecar", "model"])
def test_overwriting_a_pair_on_a_full_disk_keeps_the_old_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_fsync: int
) -> None:
    model, sidecar = tmp_path / "m.onnx", tmp_path / "m.export.json"
    model.write_bytes(OLD_MODEL)
    sidecar.write_text(OLD_SIDECAR)
    calls = _fsync_fails_on(monkeypatch, failing_fsync)
    with pytest.raises(OSError, match="No space left"):
        write_artifact_pair(model, b"new model", sidecar, '{"new": true}\n', overwrite=True)
    assert len(calls) == failing_fsync  # the failure came from inside the helper's own write
    assert model.read_bytes() == OLD_MODEL and sidecar.read_text() == OLD_SIDECAR
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.export.json", "m.onnx"]  # no temporaries left


def test_a_pair_is_written_beside_its_target_and_renamed_into_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, sidecar = tmp_path / "m.onnx", tmp_path / "m.export.json"
    renamed: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def replace(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        renamed.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    write_artifact_pair(model, b"model", sidecar, "{}\n")
    assert [dst for _, dst in renamed] == [sidecar, model]  # the model last: its presence implies the sidecar
    assert all(src.parent == dst.parent and src != dst for src, dst in renamed)
    assert model.read_bytes() == b"model" and sidecar.read_text() == "{}\n"


def test_atomic_path_yields_a_temporary_and_a_failed_block_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")
    with pytest.raises(OSError, match="No space left"), atomic_path(target, overwrite=True) as tmp:
        assert tmp != target and tmp.parent == target.parent
        tmp.write_text("half of the new")
        assert target.read_text() == "old"  # nothing visible until the block succeeds
        raise _full_disk()
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_torn_text_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "summary.json"
    target.write_text("old")
    _torn_write_bytes(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        write_text_atomic(target, "a much longer new summary", overwrite=True)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_failed_directory_build_keeps_the_old_directory(tmp_path: Path) -> None:
    target = tmp_path / "best"
    target.mkdir()
    (target / "weights").write_text("old")
    with pytest.raises(OSError, match="No space left"), atomic_directory(target, overwrite=True) as tmp:
        assert tmp != target
        (tmp / "weights").write_text("new, half")
        raise _full_disk()
    assert (target / "weights").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]
