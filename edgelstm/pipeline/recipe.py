"""A `convert` recipe: typed, validated up front, paths relative to the recipe file.

[model]
source = "../runs/watch-lstm"        # checkpoint dir, .pt2, or package.module:factory
[data]
heldout = "../runs/watch-lstm/heldout.npz"
[export]
forms = ["sequence", "streaming"]
[quantize]
schemes = ["auto"]                  # or any of dynamic-int8, static-int8, fp16, int4; [] to skip
[check]
providers = ["cpu", "mobile"]
[bench]
batches = [1, 32]
[bundle]
artifact = "best"                   # the auto winner (or first passing scheme), or a file name
zip = true
[output]
dir = "../runs/watch-pipeline"
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgelstm.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SCHEMES = ("auto", "dynamic-int8", "static-int8", "fp16", "int4")
TABLES = ("model", "data", "distill", "export", "quantize", "check", "bench", "bundle", "output")


@dataclass(frozen=True)
class Recipe:
    source: str
    heldout: Path
    out_dir: Path
    weights: Path | None = None
    forms: tuple[str, ...] = ("sequence",)
    impl: str = "auto"
    schemes: tuple[str, ...] = ("auto",)
    providers: tuple[str, ...] = ("cpu", "mobile")
    allow_missing: tuple[str, ...] = ()
    tolerances: Path | None = None
    batches: tuple[int, ...] = (1, 32)
    steps: tuple[int, ...] = (100,)
    threads: tuple[int, ...] = (1,)
    bundle_artifact: str = "best"
    bundle_zip: bool = True
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.raw.get(name, {}))

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items() if k != "raw"}


def load_recipe(path: Path) -> Recipe:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such recipe")
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    unknown = sorted(set(raw) - set(TABLES))
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {', '.join(unknown)}; use {', '.join(TABLES)}")
    if raw.get("distill"):
        raise ConfigError(f"{path}: [distill] is not available yet (distillation is a separate, unfinished feature)")
    base = path.parent

    def rel(value: Any, what: str) -> Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{path}: {what} must be a path string")
        return (base / value).resolve() if not Path(value).is_absolute() else Path(value)

    def strings(table: str, key: str, default: tuple[str, ...], allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
        value = raw.get(table, {}).get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: [{table}] {key} must be a list of strings")
        if allowed and (bad := [v for v in value if v not in allowed]):
            raise ConfigError(f"{path}: [{table}] {key}: unknown {', '.join(bad)}; choose from {', '.join(allowed)}")
        return tuple(value)

    def ints(table: str, key: str, default: tuple[int, ...]) -> tuple[int, ...]:
        value = raw.get(table, {}).get(key, list(default))
        if not isinstance(value, list) or not value or not all(isinstance(v, int) and v > 0 for v in value):
            raise ConfigError(f"{path}: [{table}] {key} must be a list of positive integers")
        return tuple(value)

    model = raw.get("model", {})
    if "source" not in model:
        raise ConfigError(f"{path}: [model] source is required")
    source = model["source"]
    source = str(rel(source, "[model] source")) if ":" not in source or Path(base / source).exists() else source
    if "heldout" not in raw.get("data", {}):
        raise ConfigError(f"{path}: [data] heldout is required (real inputs for calibration and the parity gate)")
    if "dir" not in raw.get("output", {}):
        raise ConfigError(f"{path}: [output] dir is required")
    check = raw.get("check", {})
    bundle = raw.get("bundle", {})
    return Recipe(
        source=source,
        heldout=rel(raw["data"]["heldout"], "[data] heldout"),
        out_dir=rel(raw["output"]["dir"], "[output] dir"),
        weights=rel(model["weights"], "[model] weights") if model.get("weights") else None,
        forms=strings("export", "forms", ("sequence",), ("sequence", "streaming")),
        impl=str(raw.get("export", {}).get("impl", "auto")),
        schemes=strings("quantize", "schemes", ("auto",), SCHEMES),
        providers=strings("check", "providers", ("cpu", "mobile"), ("cpu", "cuda", "mobile", "reference")),
        allow_missing=strings("check", "allow_missing", (), ("cpu", "cuda", "mobile", "reference")),
        tolerances=rel(check["tolerances"], "[check] tolerances") if check.get("tolerances") else None,
        batches=ints("bench", "batches", (1, 32)),
        steps=ints("bench", "steps", (100,)),
        threads=ints("bench", "threads", (1,)),
        bundle_artifact=str(bundle.get("artifact", "best")),
        bundle_zip=bool(bundle.get("zip", True)),
        raw=raw,
    )
