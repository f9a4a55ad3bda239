"""`edgelstm bundle verify`: the bundle is exactly what its manifest lists, unaltered, and its model runs once.

Order matters: the manifest is validated, the directory listing matched against it and every checksum compared
before the model is opened, and the model is run from the very bytes that were hashed, so nothing that is not a
listed, unaltered member is ever loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from edgelstm.artifact.feeds import sequence_feeds, zero_state_interface
from edgelstm.artifact.interface import TensorSpec
from edgelstm.artifact.session import SessionSettings, ort_binding, session_from_onnx
from edgelstm.bundle.litert_verify import run_bundled_tflite
from edgelstm.bundle.manifest import MANIFEST, SYMBOLIC_DIMS, BundleManifest, read_manifest
from edgelstm.bundle.unpack import safe_extract
from edgelstm.errors import BundleError, InputShapeError, first_line
from edgelstm.report.evidence import failed_label
from edgelstm.session_policy import settings_for

MAX_FEED_ELEMENTS = 10_000_000


@dataclass
class VerifyResult:
    """What `bundle verify` checked: files and their sha256s, the manifest, and that the model loads and runs."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("ok",)
    JSON_ORDER: ClassVar[tuple[str, ...]] = ("ok", "files_checked", "files", "ran", "ran_sha256", "outputs")
    ok: ClassVar[bool] = True  # a result exists only when every check passed (a failure is a BundleError)

    files_checked: int
    ran: str
    outputs: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # every member checked -> its sha256
    ran_sha256: str = ""
    parity: str = "not checked"  # what the manifest claims, already matched against the shipped ONNX file
    parity_artifact: str = ""  # that ONNX file, and its sha256
    parity_sha256: str = ""
    session_policy: str = "not measured"  # the manifest's policy in one line; verify's session used it


def verify_bundle(location: Path) -> VerifyResult:
    """Check a bundle (directory or zip) against its manifest; any mismatch is a BundleError naming it."""
    location = Path(location)
    if location.is_dir():
        return _verify_directory(location)
    if location.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            safe_extract(location, Path(tmp))
            return _verify_directory(Path(tmp), shown=location)
    raise BundleError(f"{location}: no such bundle directory or .zip")


def _verify_directory(directory: Path, shown: Path | None = None) -> VerifyResult:
    """Check an unpacked bundle against its manifest (files, sha256s, no links), then that the model runs."""
    where = shown or directory
    manifest_path = directory / MANIFEST
    if not manifest_path.exists() and not manifest_path.is_symlink():
        raise BundleError(f"{where}: no {MANIFEST}; not an edgelstm bundle")
    if not stat.S_ISREG(os.lstat(manifest_path).st_mode):
        raise BundleError(f"{where}: {MANIFEST} is not a regular file (links are refused)")
    manifest = read_manifest(manifest_path)
    _match_listing(directory, manifest, where)
    contents = {name: _read_member(directory / name) for name in sorted(manifest.files)}
    for name, data in contents.items():
        if hashlib.sha256(data).hexdigest() != manifest.files[name]:
            raise BundleError(f"{where}: {name} does not match its sha256 in the manifest (altered or corrupt)")
    for name in [MANIFEST, *contents]:
        text = manifest_path.read_bytes() if name == MANIFEST else contents[name]
        if Path(name).suffix in (".json", ".config") and _has_absolute_path(text.decode("utf-8", "replace")):
            raise BundleError(f"{where}: {name} contains an absolute path; bundles must be relocatable")
    parity = _parity_claim(manifest, where)
    if manifest.model_tflite:  # a LiteRT bundle: the .tflite is both what runs and what parity judged
        ran = judged = manifest.model_tflite
        outputs = run_bundled_tflite(contents[ran], json.loads(manifest_path.read_bytes()), where)
    else:
        ran, judged = manifest.model_ort, manifest.model_onnx
        outputs = _run_once(contents[ran], manifest, where)
    return VerifyResult(
        files_checked=len(contents),
        ran=ran,
        outputs=outputs,
        files={name: manifest.files[name] for name in contents},
        ran_sha256=manifest.files[ran],
        parity=parity,
        parity_artifact=judged,
        parity_sha256=manifest.files[judged],
        session_policy="LiteRT Interpreter, 1 thread (no ORT session policy)"
        if manifest.model_tflite
        else manifest.session_policy.summary,
    )


def _match_listing(directory: Path, manifest: BundleManifest, where: Path) -> None:
    """Every entry is a regular file listed in `files`, and every listed file is there."""
    unlisted, odd = [], []
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.name == MANIFEST:
                continue
            if entry.is_symlink():
                odd.append(f"{entry.name} (symbolic link)")
            elif entry.is_dir(follow_symlinks=False):
                odd.append(f"{entry.name} (subdirectory)")
            elif not entry.is_file(follow_symlinks=False):
                odd.append(f"{entry.name} (not a regular file)")
            elif entry.name not in manifest.files:
                unlisted.append(entry.name)
    if odd:
        raise BundleError(f"{where}: a bundle holds only regular files; refusing {', '.join(sorted(odd))}")
    if unlisted:
        raise BundleError(
            f"{where}: {', '.join(sorted(unlisted))} not listed in {MANIFEST} 'files' (no sha256); "
            "a bundle holds only the files its manifest lists"
        )
    missing = sorted(name for name in manifest.files if not (directory / name).is_file())
    if missing:
        raise BundleError(f"{where}: {', '.join(missing)} listed in the manifest but missing")


def _read_member(path: Path) -> bytes:
    """A bundle file's bytes, refusing symlinks (a bundle is untrusted input)."""
    # O_NOFOLLOW: a member swapped for a link after the listing was checked is refused, not followed.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def _has_absolute_path(text: str) -> bool:
    """Whether text names an absolute path of the machine that built it: after a start, a space, a quote, "(" or "=",
    a POSIX home or system folder, a Windows drive (C:\\) or a Windows network share (\\\\server\\share)."""
    # Inline (re caches it) so the mutation run mutates it. JSON doubles each backslash: a share's match once or twice.
    pattern = r'(^|[\s"\'(=])(/(tmp|home|root|work|usr|var|Users|proc)/|[A-Za-z]:\\|(\\\\){1,2}[A-Za-z0-9][\w.$-]+(\\){1,2}[\w$])'
    return re.search(pattern, text) is not None


def _parity_claim(manifest: BundleManifest, where: Path) -> str:
    """The manifest's parity verdict, which must name the shipped ONNX file's sha256 to count."""
    parity = manifest.parity
    if parity is None or parity.get("passed") is None:
        return "not checked"
    judged = manifest.model_tflite or manifest.model_onnx
    shipped = manifest.files[judged]
    if parity.get("artifact_sha256") != shipped:
        raise BundleError(
            f"{where}: the manifest's parity verdict names sha256 {str(parity.get('artifact_sha256'))[:64]!r}, "
            f"not the shipped {judged} ({shipped}); a verdict must name the artifact it judged"
        )
    if not isinstance(parity["passed"], bool):
        raise BundleError(f"{where}: the manifest's parity 'passed' must be true, false or null")
    if parity["passed"]:
        return "pass"
    # a gate whose data could not resolve its budget is named so (never a pass): the rule `bundle` printed it by
    candidates = parity.get("candidates")
    return failed_label(candidates if isinstance(candidates, list) else [])


def onnxruntime_errors() -> tuple[type[BaseException], ...]:
    """What onnxruntime raises for a model it cannot load or run (its own classes, not RuntimeError subclasses)."""
    state = ort_binding()
    return (
        state.Fail,
        state.InvalidArgument,
        state.InvalidGraph,
        state.InvalidProtobuf,
        state.NoSuchFile,
        state.NotImplemented,
        state.RuntimeException,
        RuntimeError,
    )


def _run_once(model: bytes, manifest: BundleManifest, where: Path) -> list[str]:
    """Load the model and run it once on the manifest's inputs; the problems found."""
    ort_errors = onnxruntime_errors()
    name = manifest.model_ort
    try:
        session = session_from_onnx(model, _policy_settings(manifest))
    except ort_errors as exc:
        raise BundleError(f"{where}: {name} is listed and unaltered but onnxruntime cannot load it ({first_line(exc)})") from None
    expected = sorted(i.name for i in session.get_inputs())
    if sorted(spec.name for spec in manifest.inputs) != expected:
        raise BundleError(
            f"{where}: the manifest's inputs {[s.name for s in manifest.inputs]} are not the model's inputs {expected}"
        )
    _check_state_pairs(manifest, expected, [o.name for o in session.get_outputs()], where)
    feeds = _zero_feeds(manifest, where)
    try:
        outputs = session.run(None, feeds)
    except ort_errors as exc:
        raise BundleError(f"{where}: {name} did not run on the manifest's input shapes ({first_line(exc)})") from None
    if not all(np.isfinite(o).all() for o in outputs if o.dtype.kind == "f"):
        raise BundleError(f"{where}: {name} produced NaN/Inf on zero input")
    return [o.name for o in session.get_outputs()]


def _check_state_pairs(manifest: BundleManifest, inputs: list[str], outputs: list[str], where: Path) -> None:
    """An app feeds each state output back into its input: a pair the model does not have would fail on the device."""
    for state_in, state_out in manifest.state_pairs:
        missing = (f"input {state_in!r}", inputs) if state_in not in inputs else (f"output {state_out!r}", outputs)
        if state_in not in inputs or state_out not in outputs:
            raise BundleError(
                f"{where}: the manifest's state pair {state_in} -> {state_out} is not the model's: it has no {missing[0]} "
                f"({', '.join(missing[1])})"
            )


def _policy_settings(manifest: BundleManifest) -> SessionSettings:
    """The manifest's measured policy at the batch verify runs (read_manifest refused a malformed one)."""
    return settings_for(manifest.session_policy, SYMBOLIC_DIMS["batch"], SessionSettings(graph_optimization="disable"))


def _zero_feeds(manifest: BundleManifest, where: Path) -> dict[str, np.ndarray]:
    """Zero data, full lengths, the manifest's constants and zero states, at the manifest's concrete shapes, from
    the one feed builder. Its dtypes are untrusted text: int64 stays int64, anything else is fed as float32."""
    shapes = [spec.concrete_shape(manifest.symbolic_sizes) for spec in manifest.inputs]
    if sum(int(np.prod(s)) for s in shapes) > MAX_FEED_ELEMENTS:
        raise BundleError(f"{where}: the manifest's input shapes ask for more than {MAX_FEED_ELEMENTS:,} values")
    specs = [
        TensorSpec(spec.name, "int64" if spec.dtype == "int64" else "float32", list(shape))
        for spec, shape in zip(manifest.inputs, shapes, strict=True)
    ]
    if not specs:
        return {}
    interface = zero_state_interface(specs, manifest.constants)
    data = interface.data_input
    try:
        x = np.zeros([int(d) for d in data.shape], np.dtype(data.dtype))  # concrete: the manifest's sizes
        return sequence_feeds(interface, x, None, f"{where}: manifest inputs")
    except InputShapeError as exc:
        raise BundleError(str(exc)) from None
