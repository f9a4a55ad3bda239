"""edgelstm: ship trained recurrent models to edge devices, verified.

Heavy dependencies (torch, onnx, onnxruntime) load only when the names that need them are used, so
`edgelstm --help` stays instant.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the names in __all__ are, for type checkers; at run time __getattr__ imports them on use
    from edgelstm.artifact.streaming import StreamingSession
    from edgelstm.checkpoint import load_checkpoint, save_checkpoint
    from edgelstm.config import HeadConfig, ModelConfig, Preprocessing
    from edgelstm.errors import EdgelstmError
    from edgelstm.loading import LoadedModel, load_model
    from edgelstm.model import SequenceModel
    from edgelstm.session_policy import SessionPolicy, settings_for
    from edgelstm.timing import time_interleaved

__version__ = "0.1.0"

__all__ = [
    "EdgelstmError",
    "HeadConfig",
    "LoadedModel",
    "ModelConfig",
    "Preprocessing",
    "SequenceModel",
    "SessionPolicy",
    "StreamingSession",
    "__version__",
    "load_checkpoint",
    "load_model",
    "save_checkpoint",
    "settings_for",
    "time_interleaved",
]

_LAZY = {
    "ModelConfig": "edgelstm.config",
    "HeadConfig": "edgelstm.config",
    "Preprocessing": "edgelstm.config",
    "SequenceModel": "edgelstm.model",
    "save_checkpoint": "edgelstm.checkpoint",
    "load_checkpoint": "edgelstm.checkpoint",
    "load_model": "edgelstm.loading",
    "LoadedModel": "edgelstm.loading",
    "EdgelstmError": "edgelstm.errors",
    "StreamingSession": "edgelstm.artifact.streaming",
    "SessionPolicy": "edgelstm.session_policy",
    "settings_for": "edgelstm.session_policy",
    "time_interleaved": "edgelstm.timing",
}


def __getattr__(name: str) -> Any:
    """The public name `name`, imported from its module on first use (torch and onnx load only when needed)."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edgelstm' has no attribute {name!r}")
