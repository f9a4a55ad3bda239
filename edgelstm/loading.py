"""Load a trained model from an edgelstm checkpoint, a torch.export program, or a user factory + weights.

Nothing is unpickled by default: weights travel as safetensors or through `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from edgelstm.checkpoint import is_checkpoint_dir, load_checkpoint, load_state_dict_strict
from edgelstm.config import ModelConfig, Preprocessing
from edgelstm.errors import (
    EdgelstmError,
    FixedTimeAxisError,
    LoadError,
    RandomWeightsWarning,
    UnsafePickleError,
    UserCodeError,
    first_line,
)
from edgelstm.files import file_sha256
from edgelstm.model import SequenceModel
from edgelstm.model_source import FACTORY_PATTERN, ModelSource
from edgelstm.pt2_archive import refuse_code_in_pt2, weights_only_loading
from edgelstm.torchscript import is_torchscript_archive
from edgelstm.user_module import ForwardSignature, make_user_module, probe_user_module

Source = Literal["checkpoint", "factory", "torch.export", "pickle"]


@dataclass(frozen=True)
class InputSignature:
    """What the model's first input looks like: float features [B, T, size] or token ids [B, T]."""

    kind: Literal["features", "tokens"]
    size: int  # feature count, or vocabulary size for tokens
    example_steps: int = 16

    @classmethod
    def from_config(cls, config: ModelConfig) -> InputSignature:
        """The input signature a native edgelstm model declares in its config (token ids or feature vectors)."""
        if config.input_kind == "tokens":
            return cls("tokens", config.vocab_size)
        return cls("features", config.input_size)


@dataclass
class LoadedModel:
    """A torch module loaded from any supported source, in eval mode, with what is known about its inputs and origin."""

    module: Any  # torch.nn.Module, in eval mode
    source: Source
    origin: str
    signature: InputSignature
    config: ModelConfig | None = None  # set when the module is an edgelstm SequenceModel
    preprocessing: Preprocessing | None = None
    exported_program: Any = None  # the torch.export program, for source == "torch.export"
    model_source: ModelSource | None = None  # what the user named, with the options it was loaded with
    forward: ForwardSignature | None = None  # a user module: how its forward is called (layout, lengths, state)
    weights_sha256: str | None = None  # a factory's --weights; None with a factory: random init

    @property
    def user_module(self) -> Any:
        """The user's own nn.Module (`module` wraps it so every command can call `module(x)`)."""
        return getattr(self.module, "inner", self.module) if self.forward is not None else self.module

    @property
    def weights_record(self) -> str | None:
        """What reports say about a factory's weights: their sha256, or that there were none."""
        if self.source != "factory":
            return None
        return self.weights_sha256 or "none (random init)"

    @property
    def is_native(self) -> bool:
        """Whether this is an edgelstm SequenceModel (it has a model config), which export can build every form of."""
        return self.config is not None


def load_model(
    spec: str | ModelSource,
    weights: str | Path | None = None,
    allow_unsafe_pickle: bool = False,
    input_size: int | None = None,
) -> LoadedModel:
    """Load MODEL as the CLI accepts it: a checkpoint dir, a `.pt2` file, `pkg.module:factory`, or a pickle.

    `spec` is a `ModelSource` (what every command passes) or, for library callers, the spec string with the
    older keyword options.
    """
    if isinstance(spec, ModelSource):
        source = spec
    else:
        source = ModelSource(str(spec), Path(weights) if weights is not None else None, input_size, allow_unsafe_pickle)
    loaded = _load(source)
    loaded.model_source = source
    return loaded


def _load(source: ModelSource) -> LoadedModel:
    spec, weights, allow_unsafe_pickle, input_size = source.spec, source.weights, source.allow_pickle, source.input_size
    path = Path(spec)
    if path.is_dir():
        if not is_checkpoint_dir(path):
            raise LoadError(f"{spec}: directory is not an edgelstm checkpoint (no config.json)")
        if weights is not None:
            raise LoadError("--weights is for factory models; a checkpoint directory carries its own weights")
        model, prep = load_checkpoint(path)
        return LoadedModel(model, "checkpoint", spec, InputSignature.from_config(model.config), model.config, prep)
    if path.suffix == ".pt2":
        _require_file(path)
        return _load_exported_program(path, allow_unsafe_pickle)
    if FACTORY_PATTERN.match(spec) and not path.exists():
        return _load_factory(spec, weights, input_size, dict(source.constants))
    if path.exists():
        if is_torchscript_archive(path):  # before torch.load, which would hand it to torch.jit.load
            raise UnsafePickleError(
                f"{path}: is a TorchScript archive; it carries code that runs when it is loaded, so it is not loaded "
                "here (`edgelstm inspect --unsafe-allow-torchscript` describes it; to export or check it, give the ONNX "
                "file or the 'package.module:factory' it came from)"
            )
        return _load_file(path, allow_unsafe_pickle, input_size, dict(source.constants))
    raise LoadError(f"{spec}: no such file or directory, and not a 'package.module:factory' reference")


def _require_file(path: Path) -> None:
    if path.is_dir():
        raise LoadError(f"{path}: is a directory, not a file")
    if not path.is_file():
        raise LoadError(f"{path}: no such file")


def _require_torch_file(path: Path) -> None:
    """torch files are zip archives (torch.save since 1.6) or legacy pickles (protocol 2+ starts with 0x80)."""
    if path.stat().st_size == 0:
        raise LoadError(f"{path}: empty file, not a torch file")
    with open(path, "rb") as handle:
        head = handle.read(4)
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        raise LoadError(
            f"{path}: not a torch file (neither a zip archive nor a pickle); save weights with torch.save or safetensors"
        )


def _load_factory(
    spec: str, weights: str | Path | None, input_size: int | None, constants: dict[str, float | int]
) -> LoadedModel:
    import torch

    module_name, attr = spec.split(":")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # like `python -m`: user code next to where the command runs
    # The user's code may fail in any way (SyntaxError, its own exceptions, sys.exit): each becomes one line
    # naming the step, never a traceback from inside edgelstm.
    with user_code(spec, f"importing {module_name}"):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name or module_name.startswith(f"{exc.name}."):
                raise LoadError(
                    f"{spec}: cannot import module {module_name!r} (not found here or on the Python path; run from its folder)"
                ) from None
            raise
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise LoadError(f"{spec}: {module_name!r} has no callable {attr!r}")
    parameters: list[inspect.Parameter] = []  # builtins without a signature: calling it will tell
    with contextlib.suppress(TypeError, ValueError):
        parameters = list(inspect.signature(factory).parameters.values())
    required = [
        p
        for p in parameters
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    if required:
        raise LoadError(
            f"{spec}: the factory must be callable with no arguments (it requires: {', '.join(p.name for p in required)})"
        )
    with user_code(spec, f"{attr}()"):
        built = factory()
    if not isinstance(built, torch.nn.Module):
        raise LoadError(f"{spec}: the factory returned {type(built).__name__}, not a torch.nn.Module")
    if weights is not None:
        load_state_dict_strict(built, read_state_dict(Path(weights)), str(weights))
    loaded = _wrap_module(built.eval(), "factory", spec, input_size, constants)
    if weights is None:
        # Said out loud and recorded: a reference with random weights makes every later verdict meaningless.
        warnings.warn(RandomWeightsWarning(f"random weights: no --weights given for {spec}"), stacklevel=2)
    else:
        loaded.weights_sha256 = file_sha256(Path(weights))
    return loaded


@contextlib.contextmanager
def user_code(spec: str, step: str) -> Iterator[None]:
    """Run a step of the user's code; whatever it raises becomes one UserCodeError line naming the step."""
    try:
        yield
    except EdgelstmError:
        raise
    except (Exception, SystemExit) as exc:  # SystemExit: a module that calls sys.exit() on import
        raise UserCodeError(f"running {spec} ({step}) failed: {type(exc).__name__}: {first_line(exc)}") from None


def read_state_dict(path: Path) -> dict[str, Any]:
    """A state dict from .safetensors or a torch file loaded with weights_only=True."""
    import torch

    _require_file(path)
    if path.stat().st_size == 0:
        raise LoadError(f"{path}: empty file, not a state dict")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise LoadError(f"{path}: corrupt or unreadable safetensors file ({first_line(exc)})") from None
    _require_torch_file(path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        raise _classify_torch_load_error(path, exc) from None
    if isinstance(loaded, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(loaded.get(key), dict):
                loaded = loaded[key]  # a training checkpoint that wraps the state dict
                break
    if not isinstance(loaded, dict) or not all(isinstance(k, str) for k in loaded):
        raise LoadError(f"{path}: expected a state dict (name -> tensor), found {type(loaded).__name__}")
    return loaded


def _classify_torch_load_error(path: Path, exc: Exception) -> LoadError:
    text = str(exc)
    if "weights_only" in text or "Unsupported global" in text or "UnpicklingError" in type(exc).__name__:
        return UnsafePickleError(
            f"{path}: contains pickled Python objects (e.g. a whole nn.Module); unpickling can run arbitrary code, "
            "so it is refused. Save a state_dict or safetensors instead, or pass --unsafe-allow-pickle if you trust this file"
        )
    return LoadError(f"{path}: corrupt or unreadable torch file ({first_line(exc)})")


def _load_file(path: Path, allow_unsafe_pickle: bool, input_size: int | None, constants: dict[str, float | int]) -> LoadedModel:
    import torch

    if path.suffix == ".onnx":
        raise LoadError(
            f"{path}: is an exported ONNX graph, not a trained model; inspect/export need the checkpoint directory, "
            "a .pt2 file or 'package.module:factory' it came from (quantize and check take the .onnx)"
        )
    if path.suffix == ".safetensors":
        raise LoadError(
            f"{path}: holds weights, not a model; give an edgelstm checkpoint directory, a .pt2 file, "
            "or 'package.module:factory --weights FILE'"
        )
    _require_file(path)
    _require_torch_file(path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        error = _classify_torch_load_error(path, exc)
        if not (isinstance(error, UnsafePickleError) and allow_unsafe_pickle):
            raise error from None
        loaded = torch.load(path, map_location="cpu", weights_only=False)  # the user vouched for this file
        if not isinstance(loaded, torch.nn.Module):
            raise LoadError(f"{path}: unpickled a {type(loaded).__name__}, not a torch.nn.Module") from None
        return _wrap_module(loaded.eval(), "pickle", str(path), input_size, constants)
    raise LoadError(
        f"{path}: this is a state dict, which needs the model's code: use 'package.module:factory --weights {path}'"
        if isinstance(loaded, dict)
        else f"{path}: holds a {type(loaded).__name__}, not a model"
    )


def _wrap_module(
    module: Any, source: Source, origin: str, input_size: int | None, constants: dict[str, float | int]
) -> LoadedModel:
    if isinstance(module, SequenceModel):
        return LoadedModel(module, source, origin, InputSignature.from_config(module.config), module.config)
    (kind, size), forward = probe_user_module(module, origin, input_size, constants)
    if kind == "features" and forward.layout == "btc":
        _require_batch_first(module, origin)
    wrapped = make_user_module(module, forward, origin)
    return LoadedModel(wrapped, source, origin, InputSignature(kind, size), forward=forward)  # type: ignore[arg-type]


def _require_batch_first(module: Any, origin: str) -> None:
    """A time-first RNN fed [batch, time, features] would run, mixing sequences: refuse it by name."""
    import torch

    rnns = [m for m in module.modules() if isinstance(m, torch.nn.RNNBase)]
    if rnns and not rnns[0].batch_first:
        raise LoadError(
            f"{origin}: its first {type(rnns[0]).__name__} is not batch_first; edgelstm expects [batch, time, features] inputs"
        )


def _load_exported_program(path: Path, allow_unsafe_pickle: bool) -> LoadedModel:
    import logging

    import torch

    if not allow_unsafe_pickle:
        refuse_code_in_pt2(path)  # before torch sees the file: its loader unpickles with weights_only=False
    guard = contextlib.nullcontext() if allow_unsafe_pickle else weights_only_loading()
    # torch logs its own traceback for bad archives before raising; the one-line error below is the report.
    loggers = [logging.getLogger(name) for name in ("torch.export", "torch._export")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.CRITICAL)
    try:
        with guard:
            program = torch.export.load(str(path))
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{path}: {exc}") from None
    except Exception as exc:  # corrupt archives raise zipfile/RuntimeError/KeyError variants
        raise LoadError(f"{path}: not a readable torch.export program ({first_line(exc)})") from None
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    user_inputs = [placeholders[name] for name in program.graph_signature.user_inputs if name in placeholders]
    if not user_inputs:
        raise LoadError(f"{path}: the program takes no tensor inputs")
    value = user_inputs[0].meta.get("val")
    shape = list(getattr(value, "shape", []))
    if len(shape) < 2:
        raise LoadError(f"{path}: the first input has shape {shape}; expected [batch, time, ...]")
    fixed = {axis: int(dim) for axis, dim in zip(("batch", "time"), shape[:2], strict=False) if isinstance(dim, int)}
    if "time" in fixed:
        raise FixedTimeAxisError(
            f"{path}: the program's time axis is fixed at T={fixed['time']} (torch.export specialises nn.LSTM/nn.GRU "
            "loops), so an export would only run at that length; export the module through a factory instead: "
            "'package.module:factory --weights FILE'"
        )
    is_tokens = not value.dtype.is_floating_point
    signature = InputSignature("tokens" if is_tokens else "features", _vocab_hint(program) if is_tokens else int(shape[2]))
    return LoadedModel(program.module(), "torch.export", str(path), signature, exported_program=program)


def _vocab_hint(program: Any) -> int:
    import torch

    for module in program.module().modules():
        if isinstance(module, torch.nn.Embedding):
            return module.num_embeddings
    for tensor in program.state_dict.values():
        if tensor.dim() == 2:
            return int(tensor.shape[0])  # first matrix: the embedding table in token models
    return 2
