"""Bundles for tests/unit/test_bundle_verify_rules.py and tests/e2e/test_mutation_kills_bundle_cli.py: an honest
bundle whose ORT member is swapped for a listed, unaltered graph that outputs NaN/Inf on zeros, and a LiteRT bundle's
layout (its `.tflite` is not run here: the LiteRT interpreter is an optional extra)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from onnx import TensorProto, helper

from edgelstm.bundle.manifest import MANIFEST
from tests.support.bundle_tamper import edit_manifest, sha256

TFLITE = "streaming_litert_b1_k4.tflite"
TFLITE_BYTES = b"TFL3 stands in for a model"


def log_of_input_graph() -> bytes:
    """x [chunk, batch, 5] -> y = log(x): -inf everywhere on the zero input `bundle verify` feeds."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["chunk", "batch", 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["chunk", "batch", 5])
    graph = helper.make_graph([helper.make_node("Log", ["x"], ["y"])], "log_of_input", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def swap_in_nan_model(bundle: Path) -> str:
    """Replace the bundle's ORT member by `log_of_input_graph` and make the manifest describe it honestly (its one
    input, no state, its sha256), so only the NaN/Inf check can object; the member's name."""
    manifest = json.loads((bundle / MANIFEST).read_text())
    name = manifest["model"]["ort"]
    (bundle / name).write_bytes(log_of_input_graph())

    def describe(m: dict[str, Any]) -> None:
        m["files"][name] = sha256((bundle / name).read_bytes())
        m["inputs"] = [spec for spec in m["inputs"] if spec["name"] == "x"]
        m["state"] = []

    edit_manifest(bundle, describe)
    return name


def litert_bundle(directory: Path, parity: dict[str, Any] | None = None) -> Path:
    """A LiteRT bundle's manifest and members as `bundle --target android` lays them out (trimmed to the keys
    `bundle verify` reads); `parity` defaults to a pass over the .tflite's sha256."""
    directory.mkdir(parents=True)
    (directory / TFLITE).write_bytes(TFLITE_BYTES)
    (directory / "README.md").write_text("# LiteRT bundle\n")
    digest = sha256(TFLITE_BYTES)
    manifest = {
        "manifest_version": 1,
        "model": {"tflite": TFLITE, "form": "streaming", "impl": "fused", "runtime": "LiteRT"},
        "static_shape": {"batch": 1, "chunk": 4},
        "inputs": [{"name": "x", "dtype": "float32", "shape": [1, "chunk", 5]}],
        "outputs": [{"name": "y", "dtype": "float32", "shape": [1, "chunk", 3]}],
        "state": [],
        "parity": parity if parity is not None else {"passed": True, "artifact_sha256": digest, "candidates": []},
        "files": {TFLITE: digest, "README.md": sha256((directory / "README.md").read_bytes())},
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return directory
