"""edgelstm checkpoint directories: config.json + model.safetensors [+ preprocessing.json]."""

from __future__ import annotations

import json
from pathlib import Path

from edgelstm.config import ModelConfig, Preprocessing
from edgelstm.errors import ConfigError, LoadError, first_line
from edgelstm.files import atomic_directory
from edgelstm.model import SequenceModel

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
PREPROCESSING_FILE = "preprocessing.json"


def is_checkpoint_dir(path: Path) -> bool:
    return path.is_dir() and (path / CONFIG_FILE).exists()


def save_checkpoint(
    model: SequenceModel, directory: Path, preprocessing: Preprocessing | None = None, overwrite: bool = False
) -> Path:
    from safetensors.torch import save_file

    directory = Path(directory)
    with atomic_directory(directory, overwrite) as tmp:
        (tmp / CONFIG_FILE).write_text(model.config.to_json() + "\n")
        tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": "edgelstm"})
        if preprocessing is not None:
            (tmp / PREPROCESSING_FILE).write_text(json.dumps(preprocessing.to_dict(), indent=2) + "\n")
    return directory


def load_checkpoint(directory: Path) -> tuple[SequenceModel, Preprocessing | None]:
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
        config = ModelConfig.from_json(config_path.read_text())
    except ConfigError as exc:
        raise LoadError(f"{config_path}: {exc}") from None
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise LoadError(f"{weights_path}: corrupt or unreadable safetensors file ({first_line(exc)})") from None
    model = SequenceModel(config)
    load_state_dict_strict(model, state, str(weights_path))
    preprocessing = None
    prep_path = directory / PREPROCESSING_FILE
    if prep_path.exists():
        try:
            preprocessing = Preprocessing.from_dict(json.loads(prep_path.read_text()))
        except (json.JSONDecodeError, ConfigError, TypeError) as exc:
            raise LoadError(f"{prep_path}: invalid preprocessing file ({first_line(exc)})") from None
    return model.eval(), preprocessing


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
