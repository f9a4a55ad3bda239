"""The LiteRT converter (litert-torch) behind one function, imported only when a `.tflite` is being made.

litert-torch and ai-edge-quantizer are the `litert-convert` extra (~1.1 GB with their dependencies): without them
`export --target litert` and `quantize --target litert` say in one line what to install.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

import torch

from edgelstm.artifact.litert_imports import optional_module
from edgelstm.artifact.litert_runner import quiet_native_output
from edgelstm.errors import ExportError, first_line

CONVERT_EXTRA = 'pip install "edgelstm[litert-convert]"  (litert-torch and ai-edge-quantizer: the LiteRT converter)'
CONVERTER_PACKAGES = ("litert-torch", "ai-edge-quantizer", "ai-edge-litert")


def converter_versions() -> dict[str, str]:
    """The versions of the converter packages installed (recorded in every sidecar), "" when one is missing."""
    versions = {}
    for name in CONVERTER_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = ""
    return versions


def _litert_torch() -> Any:
    # the `litert-convert` extra (~1.1 GB)
    return optional_module("litert_torch", "making .tflite artifacts needs the LiteRT converter", CONVERT_EXTRA)


def convert_module(module: torch.nn.Module, example_args: tuple[torch.Tensor, ...]) -> bytes:
    """`module` converted at the shapes of `example_args` (static: every axis fixed), as a .tflite's bytes."""
    litert_torch = _litert_torch()
    try:
        with quiet_native_output(), torch.no_grad():
            return bytes(litert_torch.convert(module.eval(), example_args).model_content())
    except Exception as exc:  # the converter's many failure types all mean: this module does not convert
        raise ExportError(f"litert-torch could not convert the model: {first_line(exc, last=True)}") from None
