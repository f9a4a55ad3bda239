"""Unpack a bundle zip safely: flat, regular files only, every name checked before a byte is written."""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from edgelstm.bundle.manifest import member_name_problem
from edgelstm.errors import BundleError

MAX_UNPACKED_BYTES = 4 << 30  # a bundle is a small model and a few JSON files; this only stops zip bombs
# What zipfile raises for truncated, corrupt, encrypted or unsupported archives.
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, RuntimeError, ValueError)


def _escapes(name: str) -> bool:
    """Whether an archive member's name would land outside the target directory."""
    posix, windows = PurePosixPath(name.replace("\\", "/")), PureWindowsPath(name)
    return posix.is_absolute() or ".." in posix.parts or windows.is_absolute() or bool(windows.drive) or "\\" in name


def check_members(archive: Path, members: list[zipfile.ZipInfo]) -> None:
    """Refuse the whole archive if any member is not a plain, regular, listed-once file."""
    if not members:
        raise BundleError(f"{archive}: the zip is empty (no manifest.json, no model)")
    seen: set[str] = set()
    total = 0
    for member in members:
        name = member.filename
        if _escapes(name):
            raise BundleError(f"{archive}: refusing member {name!r}: it would write outside the bundle")
        if stat.S_ISLNK(member.external_attr >> 16):
            raise BundleError(f"{archive}: refusing symbolic link {name!r}")
        if member.is_dir() or "/" in name:
            raise BundleError(f"{archive}: refusing member {name!r}: a bundle is flat (no subdirectories)")
        if (problem := member_name_problem(name)) is not None:
            raise BundleError(f"{archive}: refusing member {name!r}: it {problem}")
        if name in seen:
            raise BundleError(f"{archive}: member {name!r} appears twice")
        seen.add(name)
        total += member.file_size
    if total > MAX_UNPACKED_BYTES:
        raise BundleError(f"{archive}: unpacks to {total:,} bytes, more than a bundle can be ({MAX_UNPACKED_BYTES:,})")


def safe_extract(archive: Path, target: Path) -> list[str]:
    """Unpack a bundle zip into the existing directory `target`; returns the member names written."""
    archive = Path(archive)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            check_members(archive, members)
            Path(target).mkdir(parents=True, exist_ok=True)
            for member in members:
                # "xb": a member never replaces a file, and names were checked to stay inside `target`.
                with zf.open(member) as source, open(Path(target) / member.filename, "xb") as sink:
                    shutil.copyfileobj(source, sink)
    except ZIP_ERRORS as exc:
        raise BundleError(f"{archive}: not a readable zip ({type(exc).__name__}: {str(exc)[:120]})") from None
    return [m.filename for m in members]
