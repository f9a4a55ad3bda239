"""Where `edgelstm bundle` may write: checked before anything is built, so a refusal leaves everything as it was.

`--overwrite` replaces only what edgelstm wrote: a directory holding a bundle manifest and exactly the files it
lists, or a zip holding a manifest. Any other directory (a run folder with notes and data) is refused, untouched.
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

from edgelstm.bundle.manifest import MANIFEST, read_manifest
from edgelstm.bundle.unpack import ZIP_ERRORS
from edgelstm.errors import BundleError, OutputExistsError


def zip_path_for(out_dir: Path) -> Path:
    """DIR.zip beside DIR (with_suffix would turn `my.bundle` into `my.zip`)."""
    return out_dir.parent / f"{out_dir.name}.zip"


def bundle_directory_problem(directory: Path) -> str | None:
    """Why `directory` is not a bundle edgelstm wrote, or None when it is one (or is empty)."""
    entries = sorted(os.listdir(directory))
    if not entries:
        return None
    manifest_path = directory / MANIFEST
    if MANIFEST not in entries or not stat.S_ISREG(os.lstat(manifest_path).st_mode):
        return f"it has no {MANIFEST}"
    try:
        manifest = read_manifest(manifest_path)
    except BundleError as exc:
        return f"its {MANIFEST} is not an edgelstm bundle manifest ({str(exc).split(': ', 1)[-1][:160]})"
    foreign = [
        name
        for name in entries
        if name != MANIFEST and (name not in manifest.files or not stat.S_ISREG(os.lstat(directory / name).st_mode))
    ]
    if foreign:
        return f"it holds files the bundle does not list ({', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''})"
    return None


def check_targets(out_dir: Path, zip_path: Path | None, overwrite: bool) -> None:
    """Refuse, before any work, every output that exists and may not be replaced."""
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise OutputExistsError(f"--out {out_dir} exists and is not a directory; choose a new bundle directory")
    if out_dir.is_dir():
        if not overwrite:
            raise OutputExistsError(f"{out_dir} already exists; pass --overwrite to replace it")
        if (problem := bundle_directory_problem(out_dir)) is not None:
            raise OutputExistsError(
                f"--overwrite replaces only an edgelstm bundle, and {out_dir} is not one: {problem}; nothing was deleted"
            )
    if zip_path is None or not (zip_path.exists() or zip_path.is_symlink()):
        return
    if zip_path.is_symlink() or not zip_path.is_file():
        raise OutputExistsError(f"{zip_path} exists and is not a regular file; choose another --out")
    if not overwrite:
        raise OutputExistsError(f"{zip_path} already exists; pass --overwrite to replace it")
    try:
        with zipfile.ZipFile(zip_path) as archive:
            is_bundle = MANIFEST in archive.namelist()
    except ZIP_ERRORS:
        is_bundle = False
    if not is_bundle:
        raise OutputExistsError(
            f"--overwrite replaces only an edgelstm bundle zip, and {zip_path} is not one; nothing was deleted"
        )
