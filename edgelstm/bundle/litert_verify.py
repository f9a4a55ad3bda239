"""`bundle verify` for a LiteRT bundle: its listed, unaltered `.tflite` run once in the shape-pinned runner."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgelstm.artifact.feeds import sequence_feeds, zero_state_interface
from edgelstm.artifact.interface import GraphInterface, TensorSpec
from edgelstm.artifact.litert_runner import LiteRTRunner
from edgelstm.errors import BundleError, first_line


def run_bundled_tflite(model: bytes, manifest_data: dict[str, Any], where: Path) -> list[str]:
    """`bundle verify` for a LiteRT bundle: the listed, unaltered .tflite run once on zeros at its manifest shape,
    through the shape-pinned runner; the output names."""

    shape = manifest_data["static_shape"]
    sizes = {"batch": shape["batch"], "chunk": shape.get("chunk") or shape.get("steps"), "time": shape.get("steps")}

    def specs(key: str) -> list[TensorSpec]:
        """The manifest's tensors at the file's one shape (its axis names resolved from `static_shape`)."""
        return [
            TensorSpec(s["name"], s["dtype"], [sizes.get(d) or 1 if isinstance(d, str) else d for d in s["shape"]])
            for s in manifest_data[key]
        ]

    interface = GraphInterface(manifest_data["model"]["form"], "litert", specs("inputs"), specs("outputs"), [])
    zeros = zero_state_interface(interface.inputs)  # data, then every other input a state from zeros
    with tempfile.TemporaryDirectory(prefix="edgelstm-verify-") as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(model)
        try:
            runner = LiteRTRunner(path, interface)
            x = np.zeros([int(d) for d in zeros.data_input.shape], np.dtype(zeros.data_input.dtype))
            feeds = sequence_feeds(zeros, x, None, f"{where}: manifest inputs")
            outputs = runner.run([t.name for t in interface.outputs], feeds)
        except Exception as exc:  # the interpreter's and the runner's refusals alike: the bundle does not run
            raise BundleError(f"{where}: {manifest_data['model']['tflite']} did not run in LiteRT ({first_line(exc)})") from None
    if not all(np.isfinite(o).all() for o in outputs):
        raise BundleError(f"{where}: {manifest_data['model']['tflite']} produced NaN/Inf on zero input")
    return [t.name for t in interface.outputs]
