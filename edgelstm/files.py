"""Atomic file writes (an artifact is either complete or absent, never half-written) and files' sha256."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgelstm.errors import OutputExistsError, OutputPathError


def ensure_writable(path: Path, overwrite: bool) -> None:
    """Refuse to replace an existing output unless --overwrite was given (no silent overwrite)."""
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass --overwrite to replace it")


def check_output_dir(path: Path, option: str = "--out") -> None:
    """Refuse, before any work, an output directory that cannot be one: a file, under a file, or not writable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{option} {path}: is a file; give a directory for the artifacts")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # the directory that would hold the ones still to be created
    if existing.exists() and not existing.is_dir():
        raise OutputPathError(f"{option} {path}: {existing} is a file, so no directory can be created under it")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputPathError(f"{option} {path}: cannot write in {existing} (read-only or no permission)")


def write_artifact_pair(model_path: Path, model: bytes, sidecar_path: Path, sidecar: str, overwrite: bool = False) -> None:
    """Publish a model file and its JSON sidecar together or not at all.

    Both are written to temporary names first (a full disk fails there, before anything is visible); then the
    sidecar is renamed into place and the model last, so a model file's presence implies its sidecar is complete.
    On any failure both temporaries, the renamed sidecar and directories created here are removed.
    """
    for path in (model_path, sidecar_path):
        ensure_writable(path, overwrite)
    created = _make_parents(model_path.parent)
    temps: list[Path] = []
    published: list[Path] = []
    try:
        for path, data in ((sidecar_path, sidecar.encode("utf-8")), (model_path, model)):
            temps.append(_write_temp_beside(path, data))
        for tmp, path in zip(temps, (sidecar_path, model_path), strict=True):
            os.replace(tmp, path)
            published.append(path)
    except BaseException:
        # A failure leaves at most the sidecar published (the model is renamed last): remove it with the temps.
        for leftover in [*temps, *published]:
            leftover.unlink(missing_ok=True)
        for directory in reversed(created):
            with contextlib.suppress(OSError):  # not empty: someone else wrote there meanwhile
                directory.rmdir()
        raise


def _write_temp_beside(path: Path, data: bytes) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # a full disk can surface only here, not at write()
        os.chmod(tmp, 0o666 & ~_umask())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _make_parents(directory: Path) -> list[Path]:
    """mkdir -p, returning the directories it created (outermost first) so a failed write can remove them."""
    missing = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    created = []
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            continue  # made meanwhile by someone else: not ours to remove
        created.append(path)
    return created


@contextmanager
def atomic_path(path: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it into place only if the block succeeds."""
    ensure_writable(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; artifacts get the usual permissions
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(path: Path, data: bytes, overwrite: bool = False) -> None:
    """Write bytes through a temporary file and a rename, so a crash never leaves a half-written file."""
    with atomic_path(path, overwrite) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: Path, text: str, overwrite: bool = False) -> None:
    """Write UTF-8 text atomically (see `write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"), overwrite)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextmanager
def atomic_directory(path: Path, overwrite: bool = False) -> Iterator[Path]:
    """Build a directory under a temporary name and swap it into place when complete."""
    ensure_writable(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def file_sha256(path: Path) -> str:
    """A file's sha256, read in 1 MiB blocks: every verdict names what it judged by content."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
