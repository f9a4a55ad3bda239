"""`manifest.json`: what a bundle may contain, read strictly.

The manifest is the one file a bundle's checksums cannot cover, so everything in it is treated as untrusted: every
file it names must be a plain member name (no directories, no `..`, no absolute or `/proc/...` paths) and carry a
sha256 in `files`, before any file is opened.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgelstm.errors import BundleError, SessionPolicyError
from edgelstm.report.evidence import SHA256_HEX
from edgelstm.session_policy import SessionPolicy

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
SYMBOLIC_DIMS = {"batch": 1, "time": 4, "chunk": 4}  # the sizes `bundle verify` runs the model at
MAX_DIM = 65_536
JSON_KINDS = {dict: "an object", list: "a list", str: "a string", int: "an integer"}


def member_name_problem(name: object) -> str | None:
    """Why `name` is not a plain file name inside a flat bundle, or None when it is one."""
    if not isinstance(name, str) or not name:
        return "is not a file name"
    if "/" in name or "\\" in name or ":" in name or "\x00" in name:
        return "is a path, not a plain file name inside the bundle"
    if name.startswith("."):
        return "starts with '.' (hidden files and '..' are not bundle members)"
    if len(name) > 255:
        return "is longer than a file name can be"
    return None


@dataclass(frozen=True)
class InputSpec:
    """One input as the manifest describes it to an app: name, type, shape and what to feed."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]

    def concrete_shape(self, sizes: dict[str, int] | None = None) -> list[int]:
        """`sizes` overrides the symbolic sizes (a foreign graph runs only at its confirmed chunk length)."""
        known = {**SYMBOLIC_DIMS, **(sizes or {})}
        return [known.get(d, 1) if isinstance(d, str) else d for d in self.shape]


@dataclass(frozen=True)
class BundleManifest:
    """The bundle's manifest: its files with sha256s, the inputs, the streaming settings and the parity verdict."""

    version: int
    model_ort: str
    model_onnx: str
    operators_config: str | None
    inputs: tuple[InputSpec, ...]
    files: dict[str, str]  # member name -> sha256 (lower-case hex)
    parity: dict[str, Any] | None
    constants: dict[str, float | int] = field(default_factory=dict)  # scalar inputs fed on every call
    chunk: int | None = None  # a foreign graph's confirmed chunk length
    context: int = 0  # samples of the previous chunk each call also sees
    state_pairs: tuple[tuple[str, str], ...] = ()  # (input, output) of each recurrent state, from 'state'
    # threads and spinning per batch as measured (or "not measured": defaults); sessions on the bundle use it
    session_policy: SessionPolicy = field(
        default_factory=lambda: SessionPolicy.not_measured("the manifest has no session_policy")
    )
    model_tflite: str = ""  # a LiteRT bundle (bundle --target android): its .tflite, in place of the ORT/ONNX files

    @property
    def symbolic_sizes(self) -> dict[str, int]:
        """Sizes for symbolic dims an app must pick (a streaming graph's chunk, with its context)."""
        return {"chunk": self.chunk + self.context} if self.chunk else {}

    def named_files(self) -> dict[str, str]:
        """Every file the manifest refers to outside `files`, by the key that names it."""
        if self.model_tflite:
            return {"model.tflite": self.model_tflite}
        named = {"model.ort": self.model_ort, "model.onnx": self.model_onnx}
        if self.operators_config is not None:
            named["required_operators_config"] = self.operators_config
        return named


def read_manifest(path: Path) -> BundleManifest:
    """Parse and validate a manifest; any problem is one BundleError naming the key and what is wrong."""
    try:
        data = json.loads(Path(path).read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: not valid JSON ({type(exc).__name__}: {str(exc)[:120]})") from None
    if not isinstance(data, dict):
        raise BundleError(f"{path}: the manifest must be a JSON object, got {type(data).__name__}")

    def need(key: str, kind: type, where: dict[str, Any] = data, prefix: str = "") -> Any:
        if key not in where:
            raise BundleError(f"{path}: missing key '{prefix}{key}'; rebuild the bundle with `edgelstm bundle`")
        value = where[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise BundleError(f"{path}: '{prefix}{key}' must be {JSON_KINDS[kind]}, got {type(value).__name__}")
        return value

    version = need("manifest_version", int)
    if version != MANIFEST_VERSION:
        raise BundleError(f"{path}: manifest_version {version} is not one this edgelstm reads ({MANIFEST_VERSION})")
    model = need("model", dict)
    files = need("files", dict)
    for name, digest in files.items():
        if (problem := member_name_problem(name)) is not None or name == MANIFEST:
            raise BundleError(f"{path}: files entry {name!r} {problem or 'is the manifest itself'}")
        if not isinstance(digest, str) or not SHA256_HEX.fullmatch(digest):
            raise BundleError(f"{path}: the sha256 of {name!r} is not 64 lower-case hex digits ({str(digest)[:80]!r})")
    if "tflite" in model:  # a LiteRT bundle: one .tflite, no ORT or ONNX file
        named = {"model.tflite": need("tflite", str, model, "model.")}
    else:
        named = {
            "model.ort": need("ort", str, model, "model."),
            "model.onnx": need("onnx", str, model, "model."),
        }
    operators = data.get("required_operators_config")
    if operators is not None:
        named["required_operators_config"] = need("required_operators_config", str)
    for key, name in named.items():
        # Checked before anything is opened: a model path outside the bundle must never reach a loader.
        if (problem := member_name_problem(name)) is not None:
            raise BundleError(f"{path}: {key} {name!r} {problem}; a bundle names only its own members")
        if name not in files:
            raise BundleError(f"{path}: {key} {name!r} has no sha256 in 'files'; an unchecked file is never loaded")
    parity = data.get("parity")
    if parity is not None and not isinstance(parity, dict):
        raise BundleError(f"{path}: 'parity' must be an object or null, got {type(parity).__name__}")
    constants = data.get("constants") or {}
    if not isinstance(constants, dict) or not all(
        isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        for k, v in constants.items()
    ):
        raise BundleError(f"{path}: 'constants' must map input names to finite numbers")
    chunk, context = data.get("chunk"), data.get("context", 0)
    for key, value, low in (("chunk", chunk, 1), ("context", context, 0)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_DIM):
            raise BundleError(f"{path}: '{key}' must be an integer {low}..{MAX_DIM} or null, got {str(value)[:40]!r}")
    policy = _session_policy(path, data)
    state_pairs = _state_pairs(path, data.get("state") or [])
    return BundleManifest(
        version=version,
        model_ort=named.get("model.ort", ""),
        model_onnx=named.get("model.onnx", ""),
        model_tflite=named.get("model.tflite", ""),
        operators_config=operators,
        inputs=tuple(_input_spec(path, i, spec) for i, spec in enumerate(need("inputs", list))),
        files=dict(files),
        parity=parity,
        constants=dict(constants),
        chunk=chunk,
        context=context or 0,
        state_pairs=state_pairs,
        session_policy=policy,
    )


def _state_pairs(path: Path, states: Any) -> tuple[tuple[str, str], ...]:
    """'state': a list of objects naming each state's input_name and output_name (checked against the model later)."""
    if not isinstance(states, list) or not all(
        isinstance(s, dict) and isinstance(s.get("input_name"), str) and isinstance(s.get("output_name"), str) for s in states
    ):
        raise BundleError(f"{path}: 'state' must be a list of objects with string input_name and output_name")
    return tuple((s["input_name"], s["output_name"]) for s in states)


def _session_policy(path: Path, data: dict[str, Any]) -> SessionPolicy:
    """The manifest's measured policy, well-formed or refused; a manifest written before policies were recorded
    has none and reads as not measured."""
    if "session_policy" not in data:
        return SessionPolicy.not_measured("the manifest has no session_policy")
    try:
        return SessionPolicy.from_dict(data["session_policy"])
    except SessionPolicyError as exc:
        raise BundleError(f"{path}: 'session_policy' {exc}; rebuild the bundle with `edgelstm bundle --bench-report`") from None


def _input_spec(path: Path, index: int, spec: Any) -> InputSpec:
    """One manifest input checked and read, its position named in any error."""
    where = f"{path}: inputs[{index}]"
    if not isinstance(spec, dict):
        raise BundleError(f"{where} must be an object, got {type(spec).__name__}")
    name, dtype, shape = spec.get("name"), spec.get("dtype"), spec.get("shape")
    if not isinstance(name, str) or not isinstance(dtype, str) or not isinstance(shape, list):
        raise BundleError(f"{where} needs a string 'name', a string 'dtype' and a list 'shape'")
    for dim in shape:
        if isinstance(dim, bool) or not isinstance(dim, (int, str)) or (isinstance(dim, int) and not 1 <= dim <= MAX_DIM):
            raise BundleError(f"{where} ({name}): shape entry {dim!r} is not an axis name or an integer 1..{MAX_DIM}")
    return InputSpec(name, dtype, tuple(shape))
