"""edgelstm/files.py: what the mutation run (docs/testing/mutation.md) found no test for.

Each test pins one promise of the atomic-file helpers that a surviving mutant broke: temporaries are hidden beside
their target, published files get the usual permissions, nothing is replaced without `overwrite`, a directory
another process made during the write is neither fatal nor removed, and an unwritable --out is refused.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgelstm.errors import OutputExistsError, OutputPathError
from edgelstm.files import (
    _write_temp_beside,
    atomic_directory,
    atomic_path,
    check_output_dir,
    file_sha256,
    write_artifact_pair,
    write_bytes_atomic,
    write_text_atomic,
)


@pytest.fixture
def umask_022() -> Iterator[int]:
    old = os.umask(0o022)
    try:
        yield 0o022
    finally:
        os.umask(old)


def _hidden_temporary_of(target: Path, tmp: Path) -> bool:
    # ".<name>.<random>.tmp" beside the target: never mistaken for the artifact (*.onnx globs, sorted listings)
    return tmp.parent == target.parent and tmp.name.startswith(f".{target.name}.") and tmp.name.endswith(".tmp")


def test_every_temporary_is_a_hidden_dot_tmp_beside_its_target(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    with atomic_path(target) as tmp:
        assert _hidden_temporary_of(target, tmp)
        tmp.write_bytes(b"x")
    beside = _write_temp_beside(tmp_path / "m.export.json", b"{}")
    assert _hidden_temporary_of(tmp_path / "m.export.json", beside)
    with atomic_directory(tmp_path / "best") as directory:
        assert _hidden_temporary_of(tmp_path / "best", directory)


def test_published_files_get_the_permissions_of_a_plain_open(tmp_path: Path, umask_022: int) -> None:
    # mkstemp makes 0600; a published artifact must be readable as any file the user writes (0666 & ~umask: 0644
    # here, where a stray execute bit would show).
    write_bytes_atomic(tmp_path / "a.bin", b"a")
    write_artifact_pair(tmp_path / "m.onnx", b"m", tmp_path / "m.export.json", "{}\n")
    with atomic_directory(tmp_path / "best") as directory:
        (directory / "w").write_text("w")
    for name in ("a.bin", "m.onnx", "m.export.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name
    assert (tmp_path / "best").stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize("helper", ["pair", "bytes", "text"])
def test_the_helpers_refuse_to_replace_a_file_unless_asked(tmp_path: Path, helper: str) -> None:
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        if helper == "pair":
            write_artifact_pair(target, b"new", tmp_path / "m.export.json", "{}\n")
        elif helper == "bytes":
            write_bytes_atomic(target, b"new")
        else:
            write_text_atomic(target, "new")
    assert target.read_bytes() == b"old"


def test_a_parent_made_meanwhile_by_someone_else_is_used_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process creates out/ between the existence check and our mkdir: the write goes on below it."""
    real_mkdir = Path.mkdir
    raced = tmp_path / "out"

    def mkdir(self: Path, *args: object, **kwargs: object) -> None:
        if self == raced and not self.exists():
            real_mkdir(self)  # the other process wins the race
            (self / "theirs.txt").write_text("theirs")
            raise FileExistsError(errno.EEXIST, "File exists", str(self))
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", mkdir)
    model = raced / "run" / "m.onnx"
    write_artifact_pair(model, b"m", model.with_suffix(".export.json"), "{}\n")
    assert model.read_bytes() == b"m" and (raced / "theirs.txt").read_text() == "theirs"


def test_a_failed_pair_keeps_a_created_parent_someone_else_wrote_into(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cleanup removes only the directories it made and left empty; a non-empty one is not an error."""
    out = tmp_path / "out"
    model = out / "run" / "m.onnx"
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        real_fsync(fd)
        (out / "theirs.txt").write_text("written meanwhile")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError, match="No space left"):  # the real failure, not one raised by the cleanup
        write_artifact_pair(model, b"m", model.with_suffix(".export.json"), "{}\n")
    assert sorted(p.name for p in out.iterdir()) == ["theirs.txt"]  # run/ (ours, empty) removed, out/ kept


def test_check_output_dir_names_the_out_option_by_default(tmp_path: Path) -> None:
    a_file = tmp_path / "f"
    a_file.write_text("")
    with pytest.raises(OutputPathError, match=r"^--out .*is a file"):
        check_output_dir(a_file)


def test_an_output_dir_without_write_permission_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root may write anywhere, so the permission answer is faked: writable needs W_OK and X_OK both asked for.
    asked: list[int] = []

    def access(path: object, mode: int) -> bool:
        asked.append(mode)
        return not (mode & (os.W_OK | os.X_OK))

    monkeypatch.setattr(os, "access", access)
    with pytest.raises(OutputPathError, match="cannot write in"):
        check_output_dir(tmp_path / "new" / "out")
    assert asked == [os.W_OK | os.X_OK]


def test_the_real_error_surfaces_when_the_temporary_is_already_gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A full disk at fsync while something (a tmp reaper) already removed our temporary: the cleanup must not
    # replace ENOSPC with its own "no such file".
    def fsync(fd: int) -> None:
        for leftover in tmp_path.glob(".out.bin.*.tmp"):
            leftover.unlink()
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError) as raised:
        _write_temp_beside(tmp_path / "out.bin", b"data")
    assert raised.value.errno == errno.ENOSPC and list(tmp_path.iterdir()) == []


# The full run of files' 131 mutants (docs/testing/mutation.md, "Full run") left these unguarded.


@pytest.mark.parametrize(
    "size", [0, 1, (1 << 20) - 1, 1 << 20, (5 << 19) + 3], ids=["empty", "1", "block-1", "block", "2.5-blocks"]
)
def test_file_sha256_is_the_sha256_of_every_byte(tmp_path: Path, size: int) -> None:
    # Every verdict names the artifact by this digest: it must cover the whole file, across the 1 MiB read blocks.
    data = (bytes(range(251)) * (size // 251 + 1))[:size]  # 251: no period shared with the block size
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
