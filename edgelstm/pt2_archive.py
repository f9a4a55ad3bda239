"""Open a torch.export `.pt2` archive without running code from it.

`torch.export.load` unpickles entries marked `use_pickle` (and custom/opaque objects, legacy `.pt` payloads,
sample inputs that fail `weights_only`) with `weights_only=False`, and loads AOTInductor shared libraries it finds
inside. Any of these runs code from the file. So the archive is inspected first against an allow-list of entries
whose loading is pure data, and then loaded with `torch.load` forced to `weights_only=True` and `pickle.loads`
refused, so an entry the inspection missed still cannot execute.
"""

from __future__ import annotations

import contextlib
import io
import json
import pickle
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgelstm.errors import LoadError, UnsafePickleError

# Entries (below the archive's root folder) whose loading only parses JSON or raw tensor bytes.
_DATA_ENTRIES = re.compile(
    r"^(archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"
    r"|models/[\w.-]+\.json"
    r"|data/weights/[\w.-]+_(weights|model_param)_config\.json|data/weights/weight_\d+"
    r"|data/constants/[\w.-]+_(constants|model_constants)_config\.json|data/constants/tensor_\d+"
    r"|data/sample_inputs/[\w.-]+\.pt"  # a torch.save'd tuple: checked below with weights_only=True
    r"|extra/[\w./-]+)$"  # read as text only
)


def refuse_code_in_pt2(path: Path) -> None:
    """Raise UnsafePickleError when loading `path` with torch.export.load could run code from it."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
            root = _archive_root(path, names)
            for name in names:
                inner = name[len(root) :]
                if not _DATA_ENTRIES.match(inner):
                    raise _unsafe(path, f"entry {name!r} is not plain data (pickled payload, compiled library or legacy format)")
            for name in names:
                inner = name[len(root) :]
                if inner.endswith("_config.json") and inner.startswith(("data/weights/", "data/constants/")):
                    _check_payload_config(path, name, archive.read(name))
                elif inner.startswith("data/sample_inputs/"):
                    _check_weights_only(path, name, archive.read(name))
    except zipfile.BadZipFile as exc:
        raise LoadError(f"{path}: not a readable torch.export program (not a zip archive: {exc})") from None
    except OSError as exc:
        raise LoadError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _archive_root(path: Path, names: list[str]) -> str:
    roots = {name.split("/", 1)[0] + "/" for name in names if "/" in name}
    format_entries = [name for name in names if name.endswith("/archive_format") and name.count("/") == 1]
    if len(roots) != 1 or not format_entries:
        raise LoadError(f"{path}: not a readable torch.export program (no single root folder with an archive_format entry)")
    return roots.pop()


def _check_payload_config(path: Path, name: str, raw: bytes) -> None:
    try:
        config = json.loads(raw).get("config", {})
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        raise LoadError(f"{path}: entry {name!r} is not valid JSON") from None
    if not isinstance(config, dict):
        raise LoadError(f"{path}: entry {name!r} has no payload table")
    for fqn, meta in config.items():
        if not isinstance(meta, dict):
            raise LoadError(f"{path}: entry {name!r} describes {fqn!r} with a {type(meta).__name__}")
        if meta.get("use_pickle") or not str(meta.get("path_name", "")).startswith(("weight_", "tensor_")):
            raise _unsafe(path, f"{fqn!r} is stored as a pickled object ({meta.get('path_name')})")


def _check_weights_only(path: Path, name: str, raw: bytes) -> None:
    import torch

    try:
        torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise _unsafe(path, f"entry {name!r} holds pickled Python objects beyond tensors") from None
    except Exception as exc:  # torch raises RuntimeError/EOFError/... for truncated payloads
        raise LoadError(f"{path}: entry {name!r} is corrupt ({type(exc).__name__})") from None


def _unsafe(path: Path, reason: str) -> UnsafePickleError:
    return UnsafePickleError(
        f"{path}: {reason}; loading it would run code from the file, so it is refused "
        "(pass --unsafe-allow-pickle only if you trust this file)"
    )


@contextlib.contextmanager
def weights_only_loading() -> Iterator[None]:
    """While active, every `torch.load` is weights_only and `pickle.loads` in torch.export's loader refuses."""
    import torch
    import torch.export.pt2_archive._package as package

    original_load = torch.load

    def forced_load(*args: Any, **kwargs: Any) -> Any:
        kwargs["weights_only"] = True
        return original_load(*args, **kwargs)

    class _NoPickle:
        @staticmethod
        def loads(*_args: Any, **_kwargs: Any) -> Any:
            raise UnsafePickleError("a pickled object inside the .pt2 archive was refused")

        def __getattr__(self, name: str) -> Any:
            return getattr(pickle, name)

    # torch's loader module uses `pickle` without exporting it (a private name to type checkers); swapping that
    # module-level reference is the point here, so the module is handled untyped.
    loader: Any = package
    original_pickle = loader.pickle
    torch.load = forced_load  # type: ignore[assignment]
    loader.pickle = _NoPickle()
    try:
        yield
    finally:
        torch.load = original_load  # type: ignore[assignment]
        loader.pickle = original_pickle
