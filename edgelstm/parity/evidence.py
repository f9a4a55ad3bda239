"""What a verdict was measured on, by content: sha256 of the artifact, the reference's files and the data."""

from __future__ import annotations

from pathlib import Path

from edgelstm.files import file_sha256
from edgelstm.loading import LoadedModel

_WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".pt2", ".json")


def reference_evidence(reference: LoadedModel, weights: Path | None = None) -> dict[str, str]:
    """sha256 of the files the reference was loaded from: a checkpoint's weights and config, a .pt2 or pickle
    file, a factory's --weights. A factory's module is code found by import: its origin string names it."""
    files: dict[str, str] = {}
    if weights is None and reference.model_source is not None:
        weights = reference.model_source.weights  # every gate names the weights, not only `check --weights`
    for part in (reference.origin, *([str(weights)] if weights is not None else [])):
        path = Path(part)
        candidates = sorted(p for p in path.iterdir() if p.suffix in _WEIGHT_SUFFIXES) if path.is_dir() else [path]
        for candidate in candidates:
            if candidate.is_file():
                files[str(candidate)] = file_sha256(candidate)
    if reference.source == "factory" and weights is None and reference.weights_sha256 is None:
        files["weights"] = "none (random init)"  # never a silent random reference
    return files
