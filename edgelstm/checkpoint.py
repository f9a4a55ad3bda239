"""edgelstm checkpoint directories: config.json + model.safetensors [+ preprocessing.json]."""

from __future__ import annotations

import json
from pathlib import Path

from edgelstm.config import ModelConfig, Preprocessing
from edgelstm.errors import ConfigError, EdgelstmError, LoadError, ModelTooLargeError, first_line
from edgelstm.files import atomic_directory
from edgelstm.jsonio import to_jsonable
from edgelstm.model import SequenceModel

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
PREPROCESSING_FILE = "preprocessing.json"


def is_checkpoint_dir(path: Path) -> bool:
    """Whether `path` is a checkpoint folder (it holds the model config), rather than a single weights file."""
    return path.is_dir() and (path / CONFIG_FILE).exists()


def save_checkpoint(
    model: SequenceModel, directory: Path, preprocessing: Preprocessing | None = None, overwrite: bool = False
) -> Path:
    """Write the model's config, weights (safetensors, no pickle) and preprocessing into `directory`, atomically."""
    from safetensors.torch import save_file

    directory = Path(directory)
    with atomic_directory(directory, overwrite) as tmp:
        (tmp / CONFIG_FILE).write_text(model.config.to_json() + "\n")
        tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": "edgelstm"})
        if preprocessing is not None:
            (tmp / PREPROCESSING_FILE).write_text(json.dumps(to_jsonable(preprocessing), indent=2) + "\n")
    return directory


def load_checkpoint(directory: Path) -> tuple[SequenceModel, Preprocessing | None]:
    """The model and its preprocessing read back from a checkpoint folder written by `save_checkpoint`."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(directory)
    config_path = directory / CONFIG_FILE
    weights_path = directory / WEIGHTS_FILE
    if not config_path.exists():
        raise LoadError(f"{directory}: not an edgelstm checkpoint (no {CONFIG_FILE})")
    if not weights_path.exists():
        raise LoadError(f"{directory}: checkpoint has no {WEIGHTS_FILE}")
    try:
        config = ModelConfig.from_json(_read_small_file(config_path))
    except ConfigError as exc:
        raise _config_refusal(config_path, exc) from None
    if not weights_path.is_file():
        raise LoadError(f"{weights_path}: not a file")
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise LoadError(f"{weights_path}: corrupt or unreadable safetensors file ({first_line(exc)})") from None
    try:
        model = SequenceModel(config)
    except ConfigError as exc:
        raise _config_refusal(config_path, exc) from None
    load_state_dict_strict(model, state, str(weights_path))
    preprocessing = None
    prep_path = directory / PREPROCESSING_FILE
    if prep_path.exists():
        try:
            preprocessing = Preprocessing.from_dict(json.loads(_read_small_file(prep_path)))
        except (ValueError, ConfigError, TypeError, RecursionError) as exc:  # ValueError: bad JSON or not UTF-8
            raise LoadError(f"{prep_path}: invalid preprocessing file ({first_line(exc)})") from None
    return model.eval(), preprocessing


def _config_refusal(config_path: Path, exc: ConfigError) -> EdgelstmError:
    """A bad config is a checkpoint that cannot load; one too large to build keeps its own type for callers."""
    if isinstance(exc, ModelTooLargeError):
        return ModelTooLargeError(f"{config_path}: {exc}")
    return LoadError(f"{config_path}: {exc}")


# A config is a few hundred bytes; reading a multi-GB file someone named config.json would only exhaust memory.
MAX_JSON_BYTES = 16 * 2**20


def _read_small_file(path: Path) -> bytes:
    if not path.is_file():
        raise LoadError(f"{path}: not a regular file (a directory?); a checkpoint holds a JSON file here")
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise LoadError(f"{path}: {size:,} bytes is far too large for a JSON config (limit {MAX_JSON_BYTES:,})")
    return path.read_bytes()


def load_state_dict_strict(module: object, state: dict, source: str) -> None:
    """load_state_dict with a one-line summary of what does not fit."""
    import torch

    expected = module.state_dict()  # type: ignore[attr-defined]
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} (e.g. {', '.join(unexpected[:3])})")
        raise LoadError(f"{source}: weights do not match the model: {'; '.join(parts)}")
    for name, tensor in state.items():
        if not isinstance(tensor, torch.Tensor):
            raise LoadError(f"{source}: entry {name!r} is not a tensor")
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise LoadError(
                f"{source}: weight {name!r} has shape {list(tensor.shape)}, the model expects {list(expected[name].shape)}"
            )
        if not torch.isfinite(tensor).all():
            raise LoadError(f"{source}: weight {name!r} contains NaN or Inf")
    module.load_state_dict(state, strict=True)  # type: ignore[attr-defined]
