"""Report paths of `edgelstm check`, refused before anything runs when they would clobber an input."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from edgelstm.errors import OutputCollisionError


def _same(a: Path, b: Path) -> bool:
    """Whether two paths are the same file (an output must never overwrite an input)."""
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output_paths(outputs: Mapping[str, Path | None], inputs: Iterable[Path]) -> None:
    """Each output must be a file path that is not an input of this run (nor inside a checkpoint directory given
    as one), not an existing directory, and not shared with another output."""
    inputs = [Path(p) for p in inputs]
    resolved: dict[Path, str] = {}
    for option, path in outputs.items():
        if path is None:
            continue
        path = Path(path)
        if path.is_dir():
            raise OutputCollisionError(f"{option} {path}: is a directory; give a file path for the report")
        target = path.resolve()
        for source in inputs:
            inside = source.is_dir() and source.resolve() in target.parents
            if target == source.resolve() or _same(path, source) or inside:
                what = "inside the input" if inside else "an input of this check"
                raise OutputCollisionError(
                    f"{option} {path}: is {what} ({source}); writing the report there would destroy it. Choose another path"
                )
        if target in resolved:
            raise OutputCollisionError(f"{option} {path}: the same file as {resolved[target]}; give each report its own path")
        resolved[target] = option
