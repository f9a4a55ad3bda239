"""`edgelstm bundle verify`: checksums, no paths outside the bundle, and one run of the ORT-format model."""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from edgelstm.bundle.build import MANIFEST
from edgelstm.errors import EdgelstmError


class BundleError(EdgelstmError):
    """A bundle is incomplete, altered, or unsafe to unpack."""


@dataclass
class VerifyResult:
    files_checked: int
    ran: str
    outputs: list[str] = field(default_factory=list)


def safe_extract(archive: Path, target: Path) -> None:
    """Unpack a bundle zip; refuse any member that would land outside `target` (absolute, .., links)."""
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            name = PurePosixPath(member.filename)
            if name.is_absolute() or ".." in name.parts or "\\" in member.filename or member.filename.startswith("/"):
                raise BundleError(f"{archive}: refusing member {member.filename!r}: it would write outside the bundle")
            if (member.external_attr >> 16) & 0o170000 == 0o120000:
                raise BundleError(f"{archive}: refusing symbolic link {member.filename!r}")
        zf.extractall(target)


def _has_absolute_path(text: str) -> bool:
    import re

    return re.search(r'(^|[\s"\'(=])(/(tmp|home|root|work|usr|var|Users)/|[A-Za-z]:\\)', text) is not None


def verify_bundle(location: Path) -> VerifyResult:
    location = Path(location)
    if location.suffix == ".zip" and location.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            safe_extract(location, Path(tmp))
            return _verify_directory(Path(tmp))
    if not location.is_dir():
        raise BundleError(f"{location}: no such bundle directory or .zip")
    return _verify_directory(location)


def _verify_directory(directory: Path) -> VerifyResult:
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{directory}: no {MANIFEST}")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(f"{manifest_path}: not valid JSON ({exc})") from None
    files = manifest.get("files", {})
    for name, digest in files.items():
        if "/" in name or "\\" in name or name.startswith("."):
            raise BundleError(f"{manifest_path}: file entry {name!r} is not a plain name inside the bundle")
        path = directory / name
        if not path.is_file():
            raise BundleError(f"{directory}: {name} is listed in the manifest but missing")
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise BundleError(f"{directory}: {name} does not match its sha256 in the manifest (altered or corrupt)")
    for name in [MANIFEST, *files]:
        path = directory / name
        if path.suffix in (".json", ".config") and _has_absolute_path(path.read_text()):
            raise BundleError(f"{directory}: {name} contains an absolute path; bundles must be relocatable")
    ort_file = directory / manifest["model"]["ort"]
    from edgelstm.runtime import SessionSettings, session_from_onnx

    session = session_from_onnx(ort_file, SessionSettings(graph_optimization="disable"))
    feeds = {}
    for spec in manifest["inputs"]:
        dims = [1 if d == "batch" else 4 if d in ("time", "chunk") else int(d) for d in spec["shape"]]
        if spec["name"] == "lengths":
            x_dims = [1 if d == "batch" else 4 if d in ("time", "chunk") else int(d) for d in manifest["inputs"][0]["shape"]]
            feeds[spec["name"]] = np.full(dims, x_dims[1], np.int64)
        else:
            feeds[spec["name"]] = np.zeros(dims, np.int64 if spec["dtype"] == "int64" else np.float32)
    outputs = session.run(None, feeds)
    if not all(np.isfinite(o).all() for o in outputs if o.dtype.kind == "f"):
        raise BundleError(f"{ort_file.name}: produced NaN/Inf on zero input")
    return VerifyResult(len(files), ort_file.name, [o.name for o in session.get_outputs()])
