"""Compare what two edgelstm installs do from the outside: the same CLI commands, run by an old and a new interpreter.

Issue 18 restructures the code with behaviour unchanged. This script is the evidence for it: a fixed list of CLI
commands (train the reference model for one epoch, export, inspect, check with its report files, quantize, bench,
report, bundle + bundle verify, silero-vad through inspect/check, one refusal per error class, every `--help`), run
once per side in its own temp directory, then compared:

- exit codes;
- every file a command wrote: model files (.onnx, .ort, .npz, .safetensors, .zip, .bin) by sha256, JSON files by
  their fields (recursive names and types) and deterministic values (numbers within a tolerance, timings masked),
  text files (Markdown, JUnit, HTML, README) and stdout/stderr by layout: numbers, digests, durations, temp paths
  masked, so that labels and table shape are what is compared;
- `--json` stdout the same way as a JSON file.

Exit 0 when nothing differs outside ALLOWED (each entry carries its reason), else 1.

Usage: python scripts/compare_behaviour.py --old /work/venv-old/bin/python --new /work/venv-same/bin/python
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# -- masking: what may differ between two runs of the same code --------------------------------------------------------

# ISO dates/times (manifests, reports) and clock times.
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?|\b\d{2}:\d{2}:\d{2}\b")
# sha256 digests, whole or cut to 12 characters, and other long hex names (temp files).
_HEX = re.compile(r"\b[0-9a-f]{8,64}\b")
# A number, not part of a name: `int8`, `op15`, `silero_vad_16k` keep their digits.
_NUMBER = re.compile(r"(?<![A-Za-z_\d.])[-+]?(?:\d[\d,]*)?\.?\d+(?:[eE][-+]?\d+)?(?![A-Za-z_]*\d)")
# Images embedded in HTML reports: their pixels follow the timings drawn in them.
_DATA_URI = re.compile(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+")
# Temp names Python's tempfile and edgelstm's atomic writes make.
_TEMPNAME = re.compile(r"\btmp[A-Za-z0-9_]{4,}\b|\.tmp[A-Za-z0-9_.-]*")
# Rich tables pad columns to their widest cell: a number of another width moves every border, so runs of rule
# characters and of spaces count as one.
_RULE_RUN = re.compile(r"([─━═┄┅])\1+|(-)-{2,}")
_SPACE_RUN = re.compile(r"[ \t]+")


def mask_paths(text: str, paths: Mapping[str, str]) -> str:
    """Replace each absolute path (longest first, so a sub-path is not half-replaced) by its token."""
    for path in sorted(paths, key=len, reverse=True):
        if path:
            text = text.replace(path, paths[path])
    return text


def mask_line(line: str) -> str:
    """One line of output with everything that differs between runs of the same code masked: timestamps, digests,
    temp names, numbers (durations, errors, sizes); rule and space runs collapsed."""
    line = _DATA_URI.sub("<IMAGE>", line)
    line = _TIMESTAMP.sub("<T>", line)
    line = _TEMPNAME.sub("<TMP>", line)
    line = _HEX.sub("<HEX>", line)
    line = _NUMBER.sub("<N>", line)
    line = _RULE_RUN.sub(lambda m: m.group(1) or m.group(2), line)
    line = _SPACE_RUN.sub(" ", line)
    return line.strip()


def mask_text(text: str, paths: Mapping[str, str] | None = None, extra: re.Pattern[str] | None = None) -> list[str]:
    """The layout of a command's output: paths replaced by tokens, `extra` (a command's own measured words) masked,
    each line masked, blank lines dropped."""
    text = mask_paths(text, paths or {})
    if extra is not None:
        text = extra.sub("<MEASURED>", text)
    return [masked for masked in (mask_line(line) for line in text.splitlines()) if masked]


def line_differences(old: list[str], new: list[str], most: int = 5) -> list[str]:
    """'line N: OLD -> NEW' for each line that differs (at most `most`), then the first line one side has more of."""
    found = [
        f"line {number}: {a[:90]!r} -> {b[:90]!r}" for number, (a, b) in enumerate(zip(old, new, strict=False), start=1) if a != b
    ][:most]
    if len(old) != len(new):
        number = min(len(old), len(new)) + 1
        extra = (old if len(old) > len(new) else new)[number - 1]
        side = "old only" if len(old) > len(new) else "new only"
        found.append(f"line {number} ({side}): {extra[:90]!r}")
    return found


def first_difference(old: list[str], new: list[str]) -> str | None:
    """The first of `line_differences`, or None when the two layouts are the same."""
    found = line_differences(old, new, most=1)
    return found[0] if found else None


# -- JSON: fields, types and deterministic values ---------------------------------------------------------------------


def json_type(value: Any) -> str:
    """JSON type name; int and float are kept apart (a count turning into a float is a changed field)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def json_fields(value: Any, path: str = "") -> dict[str, set[str]]:
    """Every field path -> the set of types seen there. List items share the path `name[]`, so a list of rows of
    one shape gives one set of fields however long it is."""
    fields: dict[str, set[str]] = {}

    def walk(item: Any, where: str) -> None:
        fields.setdefault(where or "$", set()).add(json_type(item))
        if isinstance(item, dict):
            for key, child in item.items():
                walk(child, f"{where}.{key}" if where else str(key))
        elif isinstance(item, list):
            for child in item:
                walk(child, f"{where}[]")

    walk(value, path)
    return fields


def json_leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Every leaf value by its full path, list indices included (`rows[2].p50_ms`)."""
    leaves: dict[str, Any] = {}

    def walk(item: Any, where: str) -> None:
        if isinstance(item, dict):
            for key, child in item.items():
                walk(child, f"{where}.{key}" if where else str(key))
        elif isinstance(item, list):
            leaves[f"{where}.length"] = len(item)  # a list that grows or shrinks is a value change
            for index, child in enumerate(item):
                walk(child, f"{where}[{index}]")
        else:
            leaves[where or "$"] = item

    walk(value, path)
    return leaves


@dataclass(frozen=True)
class Tolerance:
    """How close two numbers must be to count as the same value (float noise across runs of the same code)."""

    rel: float = 1e-4
    abs: float = 1e-9


def numbers_close(a: float, b: float, tolerance: Tolerance) -> bool:
    if isinstance(a, float) and isinstance(b, float) and (math.isnan(a) or math.isnan(b)):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=tolerance.rel, abs_tol=tolerance.abs)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def compare_json(
    old: Any,
    new: Any,
    volatile: Callable[[str], bool] | None = None,
    tolerance: Tolerance = Tolerance(),
    paths: Mapping[str, str] | None = None,
) -> list[str]:
    """Differences between two JSON documents: fields missing or added, a field's types changed, then values that
    differ at paths `volatile` does not accept (numbers within `tolerance`; strings after masking `paths` and temp
    names). Each difference is one short line starting with its path."""
    differences: list[str] = []
    old_fields, new_fields = json_fields(old), json_fields(new)
    for name in sorted(old_fields.keys() - new_fields.keys()):
        differences.append(f"{name}: field missing in new")
    for name in sorted(new_fields.keys() - old_fields.keys()):
        differences.append(f"{name}: field added in new")
    for name in sorted(old_fields.keys() & new_fields.keys()):
        # null mixes with any type where a field is optional; only a type seen on one side only is a change
        a, b = old_fields[name] - {"null"}, new_fields[name] - {"null"}
        if a and b and a != b:
            differences.append(f"{name}: type {'/'.join(sorted(a))} -> {'/'.join(sorted(b))}")
    old_leaves, new_leaves = json_leaves(old), json_leaves(new)
    for name in sorted(old_leaves.keys() & new_leaves.keys()):
        if volatile is not None and volatile(name):
            continue
        a, b = old_leaves[name], new_leaves[name]
        if _is_number(a) and _is_number(b):
            same = numbers_close(float(a), float(b), tolerance)
        elif isinstance(a, str) and isinstance(b, str):
            same = _mask_string(a, paths) == _mask_string(b, paths)
        else:
            same = a == b
        if not same:
            differences.append(f"{name}: value {_short(a)} -> {_short(b)}")
    return differences


def _mask_string(text: str, paths: Mapping[str, str] | None) -> str:
    return _TEMPNAME.sub("<TMP>", _TIMESTAMP.sub("<T>", mask_paths(text, paths or {})))


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# Field names whose values are measured on this machine (timings, memory, throughput, speed ratios): a path with one
# of these as a segment is compared by presence and type only. Error figures, verdicts, digests, counts and the
# versions/machine records are compared (both sides run on the same machine and the same onnxruntime).
VOLATILE_FIELDS = re.compile(r"(?i)\w*_(ms|us|ns|mb)(_\w+)?|\w*seconds|\w*_per_s|\w*gmacs\w*|\w*_vs_\w*|created\w*|timestamp")


def volatile_path(path: str, extra: re.Pattern[str] | None = None) -> bool:
    """True when the value at this JSON path is a measurement: a segment named like a timing, or `extra` matches."""
    segments = [s for s in re.split(r"[.\[\]]+", path) if s]
    return any(VOLATILE_FIELDS.fullmatch(s) for s in segments) or (extra is not None and extra.search(path) is not None)


# -- the commands ------------------------------------------------------------------------------------------------------

BYTE_SUFFIXES = (".onnx", ".ort", ".npz", ".npy", ".safetensors", ".zip", ".bin", ".data", ".pt")
JSON_SUFFIXES = (".json",)
TEXT_SUFFIXES = (".md", ".xml", ".html", ".txt", ".toml", ".py")


@dataclass(frozen=True)
class Step:
    """One command line. args follow `edgelstm` (or, with program='train', scripts/train_reference.py); `{in}` is the
    shared inputs folder, run in the side's own folder so the paths it writes are relative."""

    name: str
    args: tuple[str, ...]
    program: str = "edgelstm"
    stdout_json: bool = False
    volatile: str = ""  # extra JSON paths (regex) whose values are timings for this command
    measured: str = ""  # text (regex) in its output that a measurement decides, masked before comparing layout


FAST_VERIFY = ("--batches", "1,3", "--steps", "1,7,16")
# bench's session policy is taken from the artifact that timed fastest: with two artifacts of near-equal speed, which one
# that is differs from run to run (seen: sequence_fused.onnx on the old side, streaming_fused.onnx on the new one)
POLICY_ARTIFACT = r"policy\.\d+\.artifact$"
FASTEST_ARTIFACT = r"(?<=spinning \()[\w.-]+\.onnx(?=\))"

STEPS: tuple[Step, ...] = (
    # --help of the app and of every command
    Step("help", ("--help",)),
    *(
        Step(f"help-{name.replace(' ', '-')}", (*name.split(), "--help"))
        for name in ("inspect", "export", "check", "quantize", "bench", "bundle", "bundle verify", "report", "convert", "distill")
    ),
    # the reference checkpoint (trained once by the old side, shared by both)
    Step("inspect-ckpt", ("inspect", "{in}/ref")),
    Step("inspect-ckpt-json", ("inspect", "{in}/ref", "--json"), stdout_json=True),
    # README's first export: streaming form with real data, default verification grid
    Step("export-stream", ("export", "{in}/ref", "--form", "streaming", "--data", "{in}/small.npz", "--out", "exp-stream")),
    Step("export-seq-json", ("export", "{in}/ref", "--out", "exp-seq", *FAST_VERIFY, "--json"), stdout_json=True),
    Step("export-seq-loop", ("export", "{in}/ref", "--impl", "loop", "--out", "exp-loop", "--batches", "1", "--steps", "7")),
    Step("inspect-artifact", ("inspect", "exp-stream/streaming_fused.onnx")),
    Step("inspect-artifact-json", ("inspect", "exp-stream/streaming_fused.onnx", "--json"), stdout_json=True),
    # quantize: two schemes, gated on the small data
    Step(
        "quantize-dynamic-int8", ("quantize", "{in}/ref", "--scheme", "dynamic-int8", "--data", "{in}/small.npz", "--out", "run")
    ),
    Step(
        "quantize-weight-only-int4",
        ("quantize", "{in}/ref", "--scheme", "weight-only-int4", "--data", "{in}/small.npz", "--out", "run"),
    ),
    # the parity gate with every report file
    Step(
        "check",
        (
            "check",
            "exp-seq/sequence_fused.onnx",
            "exp-stream/streaming_fused.onnx",
            "--reference",
            "{in}/ref",
            "--data",
            "{in}/small.npz",
            "--report",
            "run/check.json",
            "--junit",
            "run/check.xml",
            "--markdown",
            "run/check.md",
        ),
    ),
    Step(
        "check-json",
        (
            "check",
            "exp-stream/streaming_fused.onnx",
            "--reference",
            "{in}/ref",
            "--data",
            "{in}/small.npz",
            "--providers",
            "cpu",
            "--no-stress",
            "--json",
        ),
        stdout_json=True,
    ),
    # bench at its fewest rounds, one shape
    Step(
        "bench",
        (
            "bench",
            "exp-seq/sequence_fused.onnx",
            "exp-stream/streaming_fused.onnx",
            "--reference",
            "{in}/ref",
            "--batches",
            "1",
            "--steps",
            "16",
            "--rounds",
            "3",
            "--chunks",
            "4",
            "--report",
            "run/bench.json",
        ),
        volatile=POLICY_ARTIFACT,
    ),
    Step("report", ("report", "run"), volatile=POLICY_ARTIFACT, measured=FASTEST_ARTIFACT),
    Step(
        "bundle",
        (
            "bundle",
            "exp-stream/streaming_fused.onnx",
            "--out",
            "bun",
            "--zip",
            "--parity-report",
            "run/check.json",
            "--bench-report",
            "run/bench.json",
        ),
    ),
    Step("bundle-verify", ("bundle", "verify", "bun")),
    Step("bundle-verify-json", ("bundle", "verify", "bun.zip", "--json"), stdout_json=True),
    # the whole chain from a recipe (written into each side's folder by run_both)
    # which artifact is fastest at batch 1 is decided by timings that differ from run to run
    Step(
        "convert",
        ("convert", "recipe.toml"),
        # pipeline.json's bench summary names the fastest artifact and its p50 in words
        volatile=rf"{POLICY_ARTIFACT}|^bench\.summary$",
        measured=rf"fastest at batch \d+: \S+|{FASTEST_ARTIFACT}",
    ),
    # silero-vad: a graph made elsewhere
    Step("silero-inspect", ("inspect", "{in}/silero_vad.onnx")),
    Step("silero-inspect-json", ("inspect", "{in}/silero_vad.onnx", "--json"), stdout_json=True),
    Step(
        "silero-check",
        (
            "check",
            "{in}/silero_vad_16k_op15.onnx",
            "--reference",
            "{in}/silero_vad.onnx",
            "--providers",
            "cpu",
            "--seconds",
            "2",
            "--const",
            "sr=16000",
            "--report",
            "silero/check.json",
        ),
    ),
    # one refusal per error class: exit 2 and one `error:` line
    Step("refuse-config", ("bench", "exp-stream/streaming_fused.onnx", "--spinning", "sometimes")),
    Step("refuse-load", ("inspect", "{in}/missing.onnx")),
    Step(
        "refuse-unsafe-pickle",
        ("check", "exp-stream/streaming_fused.onnx", "--reference", "{in}/ref", "--data", "{in}/pickled.npy"),
    ),
    Step(
        "refuse-input-shape",
        ("check", "exp-stream/streaming_fused.onnx", "--reference", "{in}/ref", "--data", "{in}/bad_shape.npz"),
    ),
    Step(
        "refuse-label", ("check", "exp-stream/streaming_fused.onnx", "--reference", "{in}/ref", "--data", "{in}/bad_labels.npz")
    ),
    Step("refuse-output-exists", ("export", "{in}/ref", "--out", "exp-seq", "--batches", "1", "--steps", "3")),
    Step("refuse-output-path", ("export", "{in}/ref", "--out", "{in}/afile", "--batches", "1", "--steps", "3")),
    Step(
        "refuse-output-collision",
        ("check", "exp-stream/streaming_fused.onnx", "--reference", "{in}/ref", "--report", "exp-stream/streaming_fused.onnx"),
    ),
    Step("refuse-too-large", ("inspect", "{in}/huge")),
    Step("refuse-user-code", ("inspect", "badfactory:build")),
    Step("refuse-bundle", ("bundle", "verify", "{in}/notbundle")),
    Step("refuse-unsupported-graph", ("export", "{in}/plain.onnx", "--form", "streaming", "--out", "plain-out")),
    Step("refuse-graph-runtime", ("inspect", "{in}/typemix.onnx")),
)

TRAIN = Step("train-reference", ("--out", "ref", "--epochs", "1"), program="train")

# Differences that are on purpose or not behaviour, each with its reason: (step regex, kind, regex searched in the
# difference text) -> reason. kind: rc, artifacts, json, layout. An entry is added only after its cause was found.
_ORT_NOT_REPRODUCIBLE = (
    "the .ort conversion (ORT's optimized-model writer, same options old and new) is not byte-reproducible: four "
    "conversions of one .onnx in one process gave four digests, old code and new alike, from the same pool (old: "
    "9b365099aa14, 40b0fab55287, b5e1f074dcaf, 0802810f58eb; new: 4b0bf315e0a4, 56392195f97b, ...); bundle verify "
    "runs the .ort on both sides"
)
_STREAMING_SESSION_MOVED = (
    "issue 18 core (1044cb5): StreamingSession moved from edgelstm.runtime to edgelstm.artifact.streaming and the "
    "bundle README names where it lives; a listed change for the issue's note"
)
_DISTILL_HELP = (
    "issue 18 lists it as a defect: `convert --help` lost `[distill]` to rich markup; escaped in commands/convert.py's "
    "docstring (api a9fb318, docs 3ca5e18)"
)
_VERIFY_HELP = (
    "issue 18 lists it as a defect: `bundle verify --help` printed bundle's help; it prints verify's own usage since "
    "3ca5e18 (docs branch; content tested in tests/e2e/test_help_texts.py), so the whole text differs"
)
ALLOWED: dict[tuple[str, str, str], str] = {
    # the bundle step, and convert's bundle, hold an .ort file and a README naming StreamingSession
    ("bundle|convert", "artifacts", r"^(bun|pipe/bundle)/[\w.-]+\.ort: sha256 "): _ORT_NOT_REPRODUCIBLE,
    ("bundle|convert", "artifacts", r"^(bun|pipe/bundle)\.zip: sha256 "): (
        "the zip holds the .ort and README.md compared on their own here; " + _ORT_NOT_REPRODUCIBLE
    ),
    ("bundle|convert", "json", r"^(bun|pipe/bundle)/manifest\.json: files\.[\w.-]+\.ort: value "): (
        "its sha256; " + _ORT_NOT_REPRODUCIBLE
    ),
    ("bundle|convert", "json", r"^(bun|pipe/bundle)/manifest\.json: files\.README\.md: value "): (
        "its sha256; " + _STREAMING_SESSION_MOVED
    ),
    (
        "bundle|convert",
        "layout",
        r"^(bun|pipe/bundle)/README\.md: line \d+: .*edgelstm\.runtime\.StreamingSession.* -> "
        r".*edgelstm\.artifact\.streaming\.StreamingSession",
    ): _STREAMING_SESSION_MOVED,
    ("bundle-verify-json", "json", r"^stdout: (files\.[\w.-]+\.ort|ran_sha256): value "): (
        "the .ort's sha256; " + _ORT_NOT_REPRODUCIBLE
    ),
    ("bundle-verify-json", "json", r"^stdout: files\.README\.md: value "): "its sha256; " + _STREAMING_SESSION_MOVED,
    ("help", "layout", r"convert Run load -> -> export .* -> .*convert Run load -> \[distill\] -> export"): _DISTILL_HELP,
    ("help-bundle-verify", "layout", r"^stdout line \d+"): _VERIFY_HELP,
    ("help-convert", "layout", r"'Run load -> -> export .* -> 'Run load -> \[distill\] -> export"): _DISTILL_HELP,
}


# -- running one side --------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one command did on one side."""

    rc: int
    stdout: str
    stderr: str
    seconds: float
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256 of files it wrote or changed


@dataclass
class Side:
    """One interpreter and its own folder."""

    label: str
    python: Path
    folder: Path
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    @property
    def edgelstm(self) -> list[str]:
        script = self.python.parent / "edgelstm"
        return [str(script)] if script.exists() else [str(self.python), "-m", "edgelstm.cli"]

    def repo(self) -> Path:
        code = "import edgelstm, pathlib; print(pathlib.Path(edgelstm.__file__).resolve().parent.parent)"
        return Path(
            subprocess.run(
                [str(self.python), "-c", code], capture_output=True, text=True, check=True, cwd=self.folder
            ).stdout.strip()
        )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # wide, colourless terminal: rich wraps and colours by these, and they must be the same on both sides
    env.update({"COLUMNS": "200", "LINES": "50", "NO_COLOR": "1", "TERM": "dumb", "PYTHONHASHSEED": "0"})
    env.pop("FORCE_COLOR", None)
    return env


def _snapshot(folder: Path) -> dict[str, str]:
    state = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            state[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def run_step(side: Side, step: Step, inputs: Path, timeout: float) -> Outcome:
    args = [a.replace("{in}", str(inputs)) for a in step.args]
    if step.program == "train":
        command = [str(side.python), str(side.repo() / "scripts" / "train_reference.py"), *args]
    else:
        command = [*side.edgelstm, *args]
    before = _snapshot(side.folder)
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=side.folder, env=_env(), capture_output=True, text=True, timeout=timeout)
        rc, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        rc, stdout, stderr = -9, _text(exc.stdout), _text(exc.stderr) + f"\n(timed out after {timeout:.0f} s)"
    seconds = time.perf_counter() - start
    after = _snapshot(side.folder)
    written = {name: digest for name, digest in after.items() if before.get(name) != digest}
    return Outcome(rc, stdout, stderr, seconds, written)


def _text(data: bytes | str | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def run_side(side: Side, steps: Iterable[Step], inputs: Path, timeout: float, log: bool) -> None:
    for step in steps:
        outcome = run_step(side, step, inputs, timeout)
        side.outcomes[step.name] = outcome
        if log:
            print(f"  {side.label:>3} {step.name:<28} rc {outcome.rc:>2}  {outcome.seconds:6.1f} s", file=sys.stderr, flush=True)


# Inputs both sides share, made by the old interpreter from the reference checkpoint (numpy, onnx and safetensors
# are edgelstm dependencies, so this script itself needs only the standard library).
PREPARE = r"""
import json, shutil, sys
from pathlib import Path
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
import silero_vad

inputs, ref = Path(sys.argv[1]), Path(sys.argv[2])
if ref.resolve() != (inputs / "ref").resolve():
    shutil.copytree(ref, inputs / "ref")
held = np.load(inputs / "ref" / "heldout.npz")
np.savez(inputs / "small.npz", x=held["x"][:48], y=held["y"][:48])
np.savez(inputs / "bad_shape.npz", x=np.zeros((4, 10, 5), np.float32))
np.savez(inputs / "bad_labels.npz", x=held["x"][:4], y=held["y"][:3])
np.save(inputs / "pickled.npy", np.array([{"not": "data"}], dtype=object), allow_pickle=True)
(inputs / "afile").write_text("not a directory\n")
(inputs / "notbundle").mkdir()
huge = inputs / "huge"
shutil.copytree(inputs / "ref", huge)
config = json.loads((huge / "config.json").read_text())
config["hidden_size"] = 10**6
(huge / "config.json").write_text(json.dumps(config))
silero = Path(silero_vad.__file__).parent / "data"
for name in ("silero_vad.onnx", "silero_vad_16k_op15.onnx"):
    shutil.copy(silero / name, inputs / name)
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", 5])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "time", 5])
def save(name, node, inits=()):
    graph = helper.make_graph([node], "g", [x], [y], list(inits))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(inputs / name))
save("plain.onnx", helper.make_node("Relu", ["x"], ["y"]))
save("typemix.onnx", helper.make_node("Add", ["x", "c"], ["y"]), [numpy_helper.from_array(np.ones(5, np.int64), "c")])
"""

# The smallest whole chain: one form, one scheme, one provider, one bench shape. Paths in a recipe are relative to it.
RECIPE = """\
[model]
source = "{in}/ref"

[data]
heldout = "{in}/small.npz"

[export]
forms = ["streaming"]

[quantize]
schemes = ["dynamic-int8"]

[check]
providers = ["cpu"]

[bench]
batches = [1]
steps = [16]

[bundle]
artifact = "best"
form = "streaming"

[output]
dir = "pipe"
"""

BAD_FACTORY = "def build():\n    raise RuntimeError('out of licences')\n"


def prepare_inputs(old: Side, inputs: Path, reference: Path) -> None:
    subprocess.run([str(old.python), "-c", PREPARE, str(inputs), str(reference)], check=True, env=_env(), cwd=inputs)


# -- comparing ---------------------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One command's comparison: each column is 'same' or the first difference."""

    step: str
    old_rc: int
    new_rc: int
    artifacts: list[str] = field(default_factory=list)
    json: list[str] = field(default_factory=list)
    layout: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)  # differences found in ALLOWED, with their reasons
    rc_allowed: bool = False

    @property
    def differences(self) -> list[tuple[str, str]]:
        return [
            *((("rc", f"exit {self.old_rc} -> {self.new_rc}"),) if self.old_rc != self.new_rc and not self.rc_allowed else ()),
            *(("artifacts", d) for d in self.artifacts),
            *(("json", d) for d in self.json),
            *(("layout", d) for d in self.layout),
        ]


def allowed_reason(step: str, kind: str, difference: str, allowed: Mapping[tuple[str, str, str], str] = ALLOWED) -> str | None:
    """The reason an allow-list entry gives for this difference, or None when it is not allowed."""
    for (name, which, pattern), reason in allowed.items():
        if re.fullmatch(name, step) and which == kind and re.search(pattern, difference):
            return reason
    return None


def _load_json(path: Path) -> tuple[Any, str | None]:
    try:
        return json.loads(path.read_text()), None
    except (OSError, ValueError) as exc:
        return None, f"{path.name}: not JSON ({exc})"


def _stdout_json(text: str) -> tuple[Any, str | None]:
    try:
        return json.loads(text), None
    except ValueError as exc:
        return None, f"stdout: not JSON ({exc})"


def compare_step(step: Step, old: Side, new: Side, inputs: Path) -> Row:
    a, b = old.outcomes[step.name], new.outcomes[step.name]
    row = Row(step.name, a.rc, b.rc)
    paths_old = _path_tokens(old, inputs)
    paths_new = _path_tokens(new, inputs)
    extra = re.compile(step.volatile) if step.volatile else None

    def volatile(path: str) -> bool:
        return volatile_path(path, extra)

    measured = re.compile(step.measured) if step.measured else None
    # files written
    for name in sorted(a.files.keys() - b.files.keys()):
        row.artifacts.append(f"{name}: written by old only")
    for name in sorted(b.files.keys() - a.files.keys()):
        row.artifacts.append(f"{name}: written by new only")
    for name in sorted(a.files.keys() & b.files.keys()):
        old_path, new_path = old.folder / name, new.folder / name
        if name.endswith(BYTE_SUFFIXES):
            if a.files[name] != b.files[name]:
                row.artifacts.append(f"{name}: sha256 {a.files[name][:12]} -> {b.files[name][:12]}")
        elif name.endswith(JSON_SUFFIXES):
            (one, error_a), (two, error_b) = _load_json(old_path), _load_json(new_path)
            if error_a or error_b:
                row.json.extend(e for e in (error_a, error_b) if e)
                continue
            row.json.extend(f"{name}: {d}" for d in compare_json(one, two, volatile, paths=paths_old | paths_new))
        elif name.endswith(TEXT_SUFFIXES) or "." not in Path(name).name:
            diff = line_differences(
                mask_text(old_path.read_text(errors="replace"), paths_old, measured),
                mask_text(new_path.read_text(errors="replace"), paths_new, measured),
            )
            row.layout.extend(f"{name}: {d}" for d in diff)
    # stdout: JSON or a table
    if step.stdout_json and a.rc in (0, 1) and b.rc in (0, 1):
        (one, error_a), (two, error_b) = _stdout_json(a.stdout), _stdout_json(b.stdout)
        if error_a or error_b:
            row.json.extend(e for e in (error_a, error_b) if e)
        else:
            row.json.extend(f"stdout: {d}" for d in compare_json(one, two, volatile, paths=paths_old | paths_new))
    else:
        diff = line_differences(mask_text(a.stdout, paths_old, measured), mask_text(b.stdout, paths_new, measured))
        row.layout.extend(f"stdout {d}" for d in diff)
    diff = line_differences(mask_text(a.stderr, paths_old, measured), mask_text(b.stderr, paths_new, measured))
    row.layout.extend(f"stderr {d}" for d in diff)
    # sort out what the allow-list explains
    for column in ("artifacts", "json", "layout"):
        kept = []
        for difference in getattr(row, column):
            reason = allowed_reason(step.name, column, difference)
            if reason is None:
                kept.append(difference)
            else:
                row.allowed.append(f"{column}: {difference} [allowed: {reason}]")
        setattr(row, column, kept)
    if a.rc != b.rc and (reason := allowed_reason(step.name, "rc", f"exit {a.rc} -> {b.rc}")):
        row.allowed.append(f"rc: exit {a.rc} -> {b.rc} [allowed: {reason}]")
        row.rc_allowed = True
    return row


def _path_tokens(side: Side, inputs: Path) -> dict[str, str]:
    tokens = {str(side.folder): "<W>", str(inputs): "<IN>", str(side.python.parent.parent): "<VENV>"}
    resolved = {str(Path(p).resolve()): t for p, t in tokens.items()}
    return tokens | resolved


def _cell(items: list[str]) -> str:
    return "same" if not items else f"DIFFER ({len(items)})"


def print_table(rows: list[Row], old: Side, new: Side) -> None:
    print(f"{'command':<28} {'old rc':>6} {'new rc':>6}  {'artifacts':<12} {'json fields':<12} {'stdout layout':<13}")
    for row in rows:
        rc_mark = "" if row.old_rc == row.new_rc else " *"
        print(
            f"{row.step:<28} {row.old_rc:>6} {row.new_rc:>6}{rc_mark:2}{_cell(row.artifacts):<12} {_cell(row.json):<12} "
            f"{_cell(row.layout):<13}{'  (allowed differences: ' + str(len(row.allowed)) + ')' if row.allowed else ''}"
        )
    print()
    for row in rows:
        for kind, difference in row.differences:
            print(f"DIFF  {row.step} [{kind}] {difference}")
        for note in row.allowed:
            print(f"ALLOW {row.step} {note}")
        if row.step.startswith("refuse-"):
            for label, side in (("old", old), ("new", new)):
                lines = [line for line in side.outcomes[row.step].stderr.splitlines() if line.strip()]
                shape = "one error: line" if len(lines) == 1 and lines[0].startswith("error:") else f"{len(lines)} stderr lines"
                print(f"      {row.step} {label}: rc {side.outcomes[row.step].rc}, {shape}: {lines[0][:140] if lines else ''}")


def run_both(old: Side, new: Side, steps: list[Step], inputs: Path, args: argparse.Namespace) -> list[Step]:
    """Train (unless --reference), prepare the shared inputs, then run every step on both sides; the steps run."""
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        if args.reference is None:  # each side trains for one epoch; the old side's model is the shared one
            list(pool.map(lambda side: run_side(side, [TRAIN], inputs, args.timeout, True), (old, new)))
            reference = old.folder / "ref"
            steps = [TRAIN, *steps]
        else:
            reference = args.reference.absolute()
        if not (inputs / "ref").exists():
            prepare_inputs(old, inputs, reference)
        for side in (old, new):
            (side.folder / "badfactory.py").write_text(BAD_FACTORY)
            (side.folder / "recipe.toml").write_text(RECIPE.replace("{in}", str(inputs)))
        rest = [s for s in steps if s is not TRAIN]
        list(pool.map(lambda side: run_side(side, rest, inputs, args.timeout, True), (old, new)))
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="python of the old install (a venv's bin/python)")
    parser.add_argument("--new", type=Path, required=True, help="python of the new install")
    parser.add_argument("--reference", type=Path, help="an existing reference checkpoint (skips training it)")
    parser.add_argument("--work", type=Path, help="folder for both sides (default: a fresh temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--only", nargs="*", default=None, help="run only these steps (names, regex)")
    parser.add_argument(
        "--jobs", type=int, choices=(1, 2), default=2, help="run the two sides side by side (2) or one after the other"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one command may run")
    parser.add_argument(
        "--recompare", action="store_true", help="compare the outcomes saved in --work again without running anything"
    )
    args = parser.parse_args(argv)
    if args.recompare and args.work is None:
        parser.error("--recompare needs --work")

    started = time.perf_counter()
    work = args.work or Path(tempfile.mkdtemp(prefix="compare-behaviour-"))
    work.mkdir(parents=True, exist_ok=True)
    inputs = work / "inputs"
    inputs.mkdir(exist_ok=True)
    old = Side("old", args.old.absolute(), work / "old")
    new = Side("new", args.new.absolute(), work / "new")
    for side in (old, new):
        side.folder.mkdir(exist_ok=True)
    steps = [s for s in STEPS if args.only is None or any(re.fullmatch(p, s.name) for p in args.only)]
    saved = work / "outcomes.json"
    try:
        if args.recompare:
            for label, outcomes in json.loads(saved.read_text()).items():
                side = old if label == "old" else new
                side.outcomes = {name: Outcome(**outcome) for name, outcome in outcomes.items()}
            steps = [s for s in (TRAIN, *steps) if s.name in old.outcomes]
        else:
            steps = run_both(old, new, steps, inputs, args)
            saved.write_text(json.dumps({s.label: {n: dataclasses.asdict(o) for n, o in s.outcomes.items()} for s in (old, new)}))
        rows = [compare_step(step, old, new, inputs) for step in steps]
        print_table(rows, old, new)
        failed = [row.step for row in rows if row.differences]
        took = time.perf_counter() - started
        per_side = {s.label: sum(o.seconds for o in s.outcomes.values()) for s in (old, new)}
        print(
            f"\n{len(rows)} commands; {len(failed)} with differences outside the allow-list"
            f"{': ' + ', '.join(failed) if failed else ''}; wall {took:.0f} s "
            f"(commands: old {per_side['old']:.0f} s, new {per_side['new']:.0f} s, jobs {args.jobs}); work folder {work}"
        )
        return 1 if failed else 0
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
