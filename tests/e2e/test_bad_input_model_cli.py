"""Bad inputs to `inspect`, `export` and `quantize`: each is one `error:` line, exit 2, nothing written.

Families: checkpoint configs and weights, user factory modules, --weights files, .pt2 archives, output
locations, quantize artifacts and options; then the artifact + sidecar pair on a full disk.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import shutil
import sys
import textwrap
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.checkpoint import CONFIG_FILE, PREPROCESSING_FILE, WEIGHTS_FILE, save_checkpoint
from edgelstm.export import VerificationConfig, export_model
from edgelstm.loading import load_model
from tests.conftest import tiny_model
from tests.refusals import assert_refused, run_cli

FAST = ["--batches", "1", "--steps", "3", "--example-steps", "4"]

GOOD_FACTORY = """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(5, 8, batch_first=True)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(self.gru(x)[0])

def build():
    torch.manual_seed(0)
    return Net()
"""


@dataclass
class Base:
    """Inputs built once per module: a checkpoint, its export, and state dicts for the factory above."""

    root: Path
    ckpt: Path
    onnx: Path
    weights_st: Path
    weights_pt: Path
    other_weights: Path  # a state dict of a different architecture


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    root = tmp_path_factory.mktemp("bad_input_base")
    ckpt = save_checkpoint(tiny_model(), root / "ckpt")
    loaded = load_model(str(ckpt))
    result = export_model(loaded, root / "exported", ExportConfig(), VerificationConfig(batches=(1,), steps=(3,)))
    assert result.written
    torch.manual_seed(0)
    net = torch.nn.ModuleDict({"gru": torch.nn.GRU(5, 8, batch_first=True), "fc": torch.nn.Linear(8, 2)})
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(root / "w.safetensors"))
    torch.save(state, root / "w.pt")
    torch.save(torch.nn.Linear(3, 3).state_dict(), root / "other.pt")
    return Base(root, ckpt, result.path, root / "w.safetensors", root / "w.pt", root / "other.pt")


@dataclass
class Env:
    """One test's world: its own tmp directory (the cwd, so factory modules import), the shared base."""

    tmp: Path
    base: Base
    monkeypatch: pytest.MonkeyPatch

    @property
    def out(self) -> Path:
        return self.tmp / "out"

    def checkpoint(self, edit: Callable[[dict], object] | None = None, raw: bytes | None = None) -> Path:
        """A copy of the base checkpoint with its config.json edited (or replaced by raw bytes)."""
        target = self.tmp / "ckpt"
        shutil.copytree(self.base.ckpt, target)
        if raw is not None:
            (target / CONFIG_FILE).write_bytes(raw)
        elif edit is not None:
            config = json.loads((target / CONFIG_FILE).read_text())
            replaced = edit(config)
            (target / CONFIG_FILE).write_text(json.dumps(config if replaced is None else replaced))
        return target

    def factory(self, source: str) -> str:
        """Write a module into the cwd under a fresh name (no import-cache clashes); return its 'mod:build'."""
        name = f"badinput_{uuid.uuid4().hex[:12]}"
        (self.tmp / f"{name}.py").write_text(textwrap.dedent(source))
        return f"{name}:build"

    def file(self, name: str, data: bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(data)
        return path

    def truncated(self, source: Path, name: str) -> Path:
        data = source.read_bytes()
        return self.file(name, data[: len(data) // 2])


# A case returns the CLI arguments and the fragments the one error line must contain.
Case = Callable[[Env], tuple[list[str], tuple[str, ...]]]


def _edit(key: str, value: object) -> Callable[[dict], None]:
    return lambda config: config.__setitem__(key, value)


def _ckpt_case(command: str, fragments: tuple[str, ...], **kw: object) -> Case:
    def case(env: Env) -> tuple[list[str], tuple[str, ...]]:
        ckpt = env.checkpoint(**kw)  # type: ignore[arg-type]
        args = ["inspect", ckpt] if command == "inspect" else ["export", ckpt, "--out", env.out, *FAST]
        return [str(a) for a in args], fragments

    return case


def _without(key: str) -> Callable[[dict], None]:
    return lambda config: config.__delitem__(key)


CHECKPOINT_CASES: dict[str, Case] = {
    "config-binary": _ckpt_case("export", ("config.json", "not UTF-8"), raw=b"\x89PNG\r\n\x1a\n\xff\xfe\x00"),
    "config-not-json": _ckpt_case("inspect", ("config.json", "not valid JSON"), raw=b"{hidden_size: 8"),
    "config-list": _ckpt_case("export", ("config.json", "JSON object"), edit=lambda c: [c]),
    "config-hidden-string": _ckpt_case("export", ("hidden_size", "'8'"), edit=_edit("hidden_size", "8")),
    "config-bidirectional-string": _ckpt_case("inspect", ("bidirectional", "true or false"), edit=_edit("bidirectional", "yes")),
    "config-dropout-string": _ckpt_case("inspect", ("dropout",), edit=_edit("dropout", "high")),
    "config-missing-key": _ckpt_case("export", ("missing required", "hidden_size"), edit=_without("hidden_size")),
    "config-unknown-key": _ckpt_case("inspect", ("unknown model config field", "hiden_size"), edit=_edit("hiden_size", 8)),
    "config-negative-size": _ckpt_case("export", ("hidden_size", "-3"), edit=_edit("hidden_size", -3)),
    "config-zero-layers": _ckpt_case("inspect", ("num_layers", "0"), edit=_edit("num_layers", 0)),
    "config-unknown-cell": _ckpt_case("export", ("cell", "transformer", "lstm"), edit=_edit("cell", "transformer")),
    "config-unknown-head": _ckpt_case(
        "inspect", ("head.kind", "ranking"), edit=lambda c: c["head"].__setitem__("kind", "ranking")
    ),
    "config-head-not-object": _ckpt_case("export", ("head must be a JSON object",), edit=_edit("head", [3])),
    "config-hidden-1e6": _ckpt_case("export", ("parameters", "hidden_size=1000000"), edit=_edit("hidden_size", 10**6)),
    "config-layers-1e4": _ckpt_case(
        "inspect",
        ("parameters", "num_layers=10000"),
        edit=lambda c: c.update(num_layers=10**4, hidden_size=256),
    ),
    "weights-mismatch-config": _ckpt_case("export", ("model.safetensors", "shape"), edit=_edit("hidden_size", 16)),
}


def _checkpoint_weights(env: Env, mutate: Callable[[Path], None]) -> Path:
    ckpt = env.checkpoint()
    mutate(ckpt / WEIGHTS_FILE)
    return ckpt


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


CHECKPOINT_CASES |= {
    "ckpt-weights-truncated": lambda env: (
        ["export", str(_checkpoint_weights(env, _truncate)), "--out", str(env.out), *FAST],
        ("model.safetensors", "corrupt"),
    ),
    "ckpt-weights-missing": lambda env: (
        ["inspect", str(_checkpoint_weights(env, Path.unlink))],
        ("no model.safetensors",),
    ),
    "ckpt-config-is-directory": lambda env: (
        [
            "inspect",
            str(_checkpoint_weights(env, lambda w: ((w.parent / CONFIG_FILE).unlink(), (w.parent / CONFIG_FILE).mkdir()))),
        ],
        ("config.json", "not a regular file"),
    ),
    "ckpt-preprocessing-binary": lambda env: (
        ["inspect", str(_checkpoint_weights(env, lambda w: (w.parent / PREPROCESSING_FILE).write_bytes(b"\xff\x00\xfe")))],
        ("preprocessing.json", "invalid"),
    ),
}


def _factory_case(source: str, *fragments: str, command: str = "export") -> Case:
    def case(env: Env) -> tuple[list[str], tuple[str, ...]]:
        spec = env.factory(source)
        args = ["inspect", spec] if command == "inspect" else ["export", spec, "--out", str(env.out), *FAST]
        return args, fragments

    return case


FORWARD_FAILS = """
import torch
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = torch.nn.GRU(5, 8, batch_first=True)
    def forward(self, x):
        raise ValueError("shapes do not line up")
def build():
    return Net()
"""

FACTORY_CASES: dict[str, Case] = {
    "factory-syntax-error": _factory_case("def build(:\n    pass\n", "running", "importing", "SyntaxError"),
    "factory-import-error": _factory_case(
        "import no_such_dependency_zz\ndef build():\n    pass\n", "running", "no_such_dependency_zz", command="inspect"
    ),
    "factory-raises": _factory_case(
        "def build():\n    raise RuntimeError('out of licences')\n", "running", "build()", "out of licences"
    ),
    "factory-returns-int": _factory_case("def build():\n    return 42\n", "returned int", "not a torch.nn.Module"),
    "factory-forward-fails": _factory_case(
        FORWARD_FAILS, "running", "on x[2, 16, 5] failed", "shapes do not line up", command="inspect"
    ),
    "factory-calls-sys-exit": _factory_case("import sys\nsys.exit(3)\ndef build():\n    pass\n", "running", "SystemExit"),
    "factory-needs-arguments": _factory_case("def build(hidden):\n    pass\n", "no arguments", "hidden"),
}


def _weights_case(make: Callable[[Env], Path], *fragments: str) -> Case:
    def case(env: Env) -> tuple[list[str], tuple[str, ...]]:
        spec = env.factory(GOOD_FACTORY)
        return ["export", spec, "--weights", str(make(env)), "--out", str(env.out), *FAST], fragments

    return case


WEIGHTS_CASES: dict[str, Case] = {
    "weights-missing": _weights_case(lambda env: env.tmp / "nope.safetensors", "nope.safetensors", "no such file"),
    "weights-empty": _weights_case(lambda env: env.file("w.safetensors", b""), "empty"),
    "weights-truncated-safetensors": _weights_case(lambda env: env.truncated(env.base.weights_st, "w.safetensors"), "corrupt"),
    "weights-truncated-pt": _weights_case(lambda env: env.truncated(env.base.weights_pt, "w.pt"), "corrupt"),
    "weights-garbage-pt": _weights_case(lambda env: env.file("w.pt", b"not a tensor file " * 8), "not a torch file"),
    "weights-other-model": _weights_case(lambda env: env.base.other_weights, "do not match"),
    "weights-directory": _weights_case(lambda env: env.tmp, "is a directory"),
}


def _zip_prefix(env: Env) -> Path:
    path = env.tmp / "model.pt2"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/version", "1")
        archive.writestr("archive/data/weights/w0", b"\x00" * 4096)
    return env.truncated(path, "truncated.pt2")


PT2_CASES: dict[str, Case] = {
    "pt2-empty": lambda env: (["inspect", str(env.file("e.pt2", b""))], ("e.pt2", "not a readable torch.export program")),
    "pt2-garbage": lambda env: (
        ["export", str(env.file("g.pt2", b"\x7fELF" + os.urandom(256))), "--out", str(env.out)],
        ("g.pt2", "not a readable"),
    ),
    "pt2-truncated-zip": lambda env: (["inspect", str(_zip_prefix(env))], ("truncated.pt2", "not a readable")),
}


def _afile(env: Env) -> Path:
    return env.file("afile", b"not a directory")


def _readonly(env: Env) -> Path:
    """A read-only directory. Root ignores permission bits, so the kernel's answer is simulated for this path."""
    directory = env.tmp / "readonly"
    directory.mkdir()
    directory.chmod(0o555)
    real_access = os.access
    env.monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == directory else real_access(p, mode, **kw))
    return directory


OPTION_CASES: dict[str, Case] = {
    "model-is-onnx": lambda env: (
        ["export", str(env.base.onnx), "--out", str(env.out)],
        ("is an ONNX graph already", "--form streaming"),
    ),
    "input-size-zero": lambda env: (["inspect", env.factory(GOOD_FACTORY), "--input-size", "0"], ("--input-size", "got 0")),
    "input-size-negative": lambda env: (
        ["export", env.factory(GOOD_FACTORY), "--input-size", "-5", "--out", str(env.out)],
        ("--input-size", "-5"),
    ),
    "example-steps-zero": lambda env: (
        ["export", str(env.base.ckpt), "--out", str(env.out), "--example-steps", "0"],
        ("--example-steps", "got 0"),
    ),
    "out-is-file": lambda env: (["export", str(env.base.ckpt), "--out", str(_afile(env)), *FAST], ("--out", "is a file")),
    "out-under-file": lambda env: (
        ["export", str(env.base.ckpt), "--out", str(_afile(env) / "sub"), *FAST],
        ("afile is a file",),
    ),
    "out-read-only": lambda env: (
        ["export", str(env.base.ckpt), "--out", str(_readonly(env) / "new"), *FAST],
        ("cannot write", "readonly"),
    ),
    "out-exists-no-overwrite": lambda env: (
        ["export", str(env.base.ckpt), "--out", str(_copy_export(env)), *FAST],
        ("already exists", "--overwrite"),
    ),
}


def _copy_export(env: Env) -> Path:
    shutil.copytree(env.base.onnx.parent, env.out)
    return env.out


def _onnx_with(env: Env, edit: Callable[[object], None]) -> Path:
    import onnx

    model = onnx.load(str(env.base.onnx))
    edit(model)
    path = env.tmp / "edited.onnx"
    onnx.save(model, str(path))
    return path


def _strip_metadata(model: object) -> None:
    del model.metadata_props[:]  # type: ignore[attr-defined]


def _break_metadata(model: object) -> None:
    for prop in model.metadata_props:  # type: ignore[attr-defined]
        if prop.key == "edgelstm.interface":
            prop.value = '{"form": "sequence"'


def _quantize_case(
    make: Callable[[Env], Path | str],
    *fragments: str,
    scheme: str = "dynamic-int8",
    extra: Callable[[Env], list[str]] = lambda env: [],
) -> Case:
    def case(env: Env) -> tuple[list[str], tuple[str, ...]]:
        model = str(make(env))
        reference = ["--reference", str(env.base.ckpt)] if model.endswith(".onnx") else []
        return ["quantize", model, "--out", str(env.out), "--scheme", scheme, *reference, *extra(env)], fragments

    return case


def _budget(text: str) -> Callable[[Env], list[str]]:
    return lambda env: ["--budget", str(env.file("budget.toml", text.encode()))]


QUANTIZE_CASES: dict[str, Case] = {
    "quantize-foreign-onnx": _quantize_case(lambda env: _onnx_with(env, _strip_metadata), "no edgelstm metadata"),
    "quantize-malformed-metadata": _quantize_case(lambda env: _onnx_with(env, _break_metadata), "metadata is malformed"),
    "quantize-corrupt-onnx": _quantize_case(
        lambda env: env.truncated(env.base.onnx, "cut.onnx"), "cut.onnx", "not a readable ONNX"
    ),
    "quantize-empty-onnx": _quantize_case(lambda env: env.file("empty.onnx", b""), "empty.onnx", "empty"),
    "quantize-missing-onnx": _quantize_case(lambda env: env.tmp / "absent.onnx", "absent.onnx", "no such"),
    "quantize-bad-scheme": _quantize_case(lambda env: env.base.ckpt, "unknown scheme", "int3", scheme="int3"),
    "quantize-budget-nan": _quantize_case(lambda env: env.base.ckpt, "atol", "nan", extra=_budget("[default]\natol = nan\n")),
    "quantize-budget-negative": _quantize_case(lambda env: env.base.ckpt, "rtol", "-1", extra=_budget("[default]\nrtol = -1\n")),
    "quantize-missing-reference": lambda env: (
        ["quantize", str(env.base.onnx), "--out", str(env.out), "--scheme", "dynamic-int8"],
        ("--reference",),
    ),
    "quantize-out-is-file": lambda env: (
        ["quantize", str(env.base.ckpt), "--out", str(_afile(env)), "--scheme", "dynamic-int8"],
        ("--out", "is a file"),
    ),
}

ALL_CASES: dict[str, Case] = {
    **CHECKPOINT_CASES,
    **FACTORY_CASES,
    **WEIGHTS_CASES,
    **PT2_CASES,
    **OPTION_CASES,
    **QUANTIZE_CASES,
}


@pytest.fixture
def env(tmp_path: Path, base: Base, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # importing a factory must not add __pycache__ here
    monkeypatch.setattr(sys, "path", list(sys.path))  # load_model puts the cwd on sys.path; undone afterwards
    return Env(tmp_path, base, monkeypatch)


@pytest.mark.parametrize("name", list(ALL_CASES))
def test_bad_input_is_refused_in_one_line(env: Env, name: str) -> None:
    args, fragments = ALL_CASES[name](env)
    modules_before = set(sys.modules)
    try:
        assert_refused(args, *fragments, watch=(env.tmp, env.base.root))
    finally:
        for module in set(sys.modules) - modules_before:
            if module.startswith("badinput_"):
                del sys.modules[module]
    assert not env.out.exists() or name == "out-exists-no-overwrite"


# -- the artifact and its sidecar: together or not at all -----------------------------------------------------


def _disk_full_on(call: int) -> Callable[..., Path]:
    """Replace the temp-file writer so its `call`-th use (1: the sidecar, 2: the model) fails like a full disk."""
    from edgelstm import files

    real = files._write_temp_beside
    calls = itertools.count(1)

    def write(path: Path, data: bytes) -> Path:
        if next(calls) == call:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data)

    return write


@pytest.mark.parametrize("failing_write", [1, 2], ids=["sidecar", "model"])
def test_export_on_full_disk_leaves_nothing(env: Env, failing_write: int) -> None:
    env.monkeypatch.setattr("edgelstm.files._write_temp_beside", _disk_full_on(failing_write))
    assert_refused(["export", str(env.base.ckpt), "--out", str(env.out), *FAST], "no space left", watch=(env.tmp,))
    assert not env.out.exists()  # the directory made for the pair is removed too


def test_export_rename_failure_removes_the_published_sidecar(env: Env) -> None:
    """The model is renamed last; if that fails, the sidecar already in place must go, so no half pair remains."""
    env.out.mkdir()
    (env.out / "notes.txt").write_text("mine")
    real_replace = os.replace

    def replace(src: object, dst: object) -> None:
        if str(dst).endswith(".onnx"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)

    env.monkeypatch.setattr(os, "replace", replace)
    assert_refused(["export", str(env.base.ckpt), "--out", str(env.out), *FAST], "no space left", watch=(env.tmp,))
    assert sorted(p.name for p in env.out.iterdir()) == ["notes.txt"]


def test_export_on_read_only_file_system_names_it(env: Env) -> None:
    def read_only(path: Path, data: bytes) -> Path:
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    env.monkeypatch.setattr("edgelstm.files._write_temp_beside", read_only)
    assert_refused(["export", str(env.base.ckpt), "--out", str(env.out), *FAST], "read-only file system", watch=(env.tmp,))


def test_quantize_on_full_disk_leaves_nothing(env: Env) -> None:
    env.monkeypatch.setattr("edgelstm.files._write_temp_beside", _disk_full_on(2))
    args = ["quantize", str(env.base.onnx), "--out", str(env.out), "--scheme", "dynamic-int8", "--no-check"]
    assert_refused(args, "no space left", watch=(env.tmp, env.base.root))
    assert not env.out.exists()


def test_export_and_quantize_publish_complete_pairs(env: Env) -> None:
    """The success path of the same writer: both files, no temporaries, and refusal to overwrite either."""
    exported = run_cli(["export", str(env.base.ckpt), "--out", str(env.out), *FAST])
    assert exported.exit_code == 0, exported.output
    quantized = run_cli(["quantize", str(env.base.onnx), "--out", str(env.out), "--scheme", "dynamic-int8", "--no-check"])
    assert quantized.exit_code == 0, quantized.output
    names = sorted(p.name for p in env.out.iterdir())
    assert names == [
        "sequence_fused.dynamic-int8.onnx",
        "sequence_fused.dynamic-int8.quant.json",
        "sequence_fused.export.json",
        "sequence_fused.onnx",
    ]
    report = json.loads((env.out / "sequence_fused.export.json").read_text())
    assert report["written"] is True and report["path"] == str(env.out / "sequence_fused.onnx")
    # a lone sidecar left by someone else still blocks a new pair without --overwrite
    (env.out / "sequence_fused.onnx").unlink()
    assert_refused(
        ["export", str(env.base.ckpt), "--out", str(env.out), *FAST], "export.json", "already exists", watch=(env.out,)
    )
