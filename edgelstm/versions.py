"""The one record of what a result was produced with: package versions, providers, machine.

Every report (check, bench, bundle manifest) carries the same record, so two reports can be compared key by key.
Versions are read from package metadata rather than by importing torch (seconds) where only the number is needed.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata

from edgelstm import __version__


def _installed(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment_record() -> dict[str, str]:
    """The versions of edgelstm, Python and its runtime dependencies, recorded as evidence in gate, bench and bundle reports."""
    import onnxruntime as ort

    return {
        "edgelstm": __version__,
        "torch": _installed("torch"),
        "onnx": _installed("onnx"),
        # the module, not a distribution name: onnxruntime and onnxruntime-gpu both install it
        "onnxruntime": ort.__version__,
        "onnxruntime_available_providers": ", ".join(ort.get_available_providers()),
        "numpy": _installed("numpy"),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}",
        "cpu_count": str(os.cpu_count()),
    }
