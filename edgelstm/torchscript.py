"""TorchScript archives (`.jit`): recognised without loading, loaded only when the user opts in.

A TorchScript archive carries code (its `code/` entries run as TorchScript, its constants are unpickled), so
loading one runs code from the file. edgelstm recognises the archive from its zip entries, refuses it unless the
command was given `--unsafe-allow-torchscript`, and then describes what it can see: the forward signature, the
other methods, parameters and the recurrent layers inside.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from edgelstm.errors import LoadError, UnsafePickleError, first_line

TORCHSCRIPT_FLAG = "--unsafe-allow-torchscript"
_RECURRENT = ("LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell")


def is_torchscript_archive(path: Path) -> bool:
    """A zip whose single root folder holds `code/` entries and a `constants.pkl` or `data.pkl`: torch.jit.save's layout."""
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    inner = {name.split("/", 1)[1] for name in names if "/" in name}
    return any(name.startswith("code/") for name in inner) and bool({"data.pkl", "constants.pkl"} & inner)


def refuse_torchscript(path: Path) -> UnsafePickleError:
    """The error for a TorchScript archive: loading it runs code, so it needs the explicit trust flag."""
    return UnsafePickleError(
        f"{path}: is a TorchScript archive; it carries code that runs when it is loaded, so it is refused "
        f"(pass {TORCHSCRIPT_FLAG} only if you trust this file)"
    )


@dataclass
class TorchScriptSummary:
    """What can be read from a TorchScript archive without running it: class, forward schema, sha256."""

    path: str
    sha256: str
    module_class: str
    forward: str  # the schema, e.g. "forward(Tensor x, int sr) -> Tensor"
    forward_args: list[tuple[str, str]]  # (name, type) without self
    methods: list[str]
    parameters: int
    size_bytes: int
    recurrent_layers: list[tuple[str, str]] = field(default_factory=list)  # (qualified name, layer type)


def describe_torchscript(path: Path) -> TorchScriptSummary:
    """Load (the caller has the user's consent) and describe a TorchScript archive."""
    import torch

    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError variants for corrupt or incompatible archives
        raise LoadError(f"{path}: not a loadable TorchScript archive ({first_line(exc)})") from None
    schema = module.forward.schema
    args = [(a.name, str(a.type)) for a in schema.arguments if a.name != "self"]
    returns = ", ".join(str(r.type) for r in schema.returns)
    methods = sorted(name for name in module._c._method_names() if not name.startswith("_") and name != "forward")
    params = list(module.parameters())
    recurrent = [
        (name, module_.original_name)
        for name, module_ in module.named_modules()
        if getattr(module_, "original_name", "") in _RECURRENT
    ]
    return TorchScriptSummary(
        path=str(path),
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        module_class=module.original_name,
        forward=f"forward({', '.join(f'{t} {n}' for n, t in args)}) -> {returns}",
        forward_args=args,
        methods=methods,
        parameters=sum(p.numel() for p in params),
        size_bytes=sum(p.numel() * p.element_size() for p in params),
        recurrent_layers=recurrent,
    )
