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
    distill: dict[str, Any] | None = None  # validated [distill] table: the model is replaced by its student
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
        distill=_distill_table(raw["distill"], path, rel, rel(raw["data"]["heldout"], "[data] heldout"))
        if "distill" in raw
        else None,
        raw=raw,
    )


DISTILL_KEYS = {
    "data": str, "validation": str, "cell": str, "hidden": int, "layers": int, "target_params": str,
    "epochs": int, "batch_size": int, "learning_rate": float, "alpha": float, "temperature": float,
    "hidden_weight": float, "qat": bool, "patience": int, "seed": int,
}  # fmt: skip


def _distill_table(table: Any, path: Path, rel: Any, heldout: Path) -> dict[str, Any]:
    """[distill] data = "train.npz" (required), validation (default: [data] heldout), and the student/training
    settings of `edgelstm distill`; checked here so a typo fails before any work."""
    from edgelstm.distill import parse_count

    if not isinstance(table, dict) or "data" not in table:
        raise ConfigError(f"{path}: [distill] data (the transfer set: inputs, labels optional) is required")
    unknown = sorted(set(table) - set(DISTILL_KEYS))
    if unknown:
        raise ConfigError(f"{path}: [distill] unknown key(s) {', '.join(unknown)}; use {', '.join(DISTILL_KEYS)}")
    for key, value in table.items():
        kind = DISTILL_KEYS[key]
        ok = (
            isinstance(value, kind)
            or (kind is float and isinstance(value, int))
            or (key == "target_params" and isinstance(value, int))
        )
        if not ok or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"{path}: [distill] {key} must be {'a number' if kind is float else kind.__name__}")
    settings = dict(table)
    settings["data"] = str(rel(table["data"], "[distill] data"))
    settings["validation"] = str(rel(table["validation"], "[distill] validation")) if "validation" in table else str(heldout)
    if "target_params" in settings:
        parse_count(str(settings["target_params"]))
    if settings.get("cell", "gru") not in ("lstm", "gru", "peephole"):
        raise ConfigError(f"{path}: [distill] cell must be lstm, gru or peephole")
    distill_config(settings)  # the remaining values are checked by DistillConfig itself
    return settings


def distill_config(settings: dict[str, Any], student: Any = None) -> Any:
    """The DistillConfig a [distill] table describes (student spec from cell/hidden/layers unless given)."""
    from edgelstm.distill import DistillConfig, FakeQuantSpec, StudentSpec

    spec = student or StudentSpec(
        cell=settings.get("cell", "gru"), hidden_size=settings.get("hidden", 16), num_layers=settings.get("layers", 1)
    )
    return DistillConfig(
        student=spec,
        epochs=settings.get("epochs", 10),
        batch_size=settings.get("batch_size", 64),
        learning_rate=float(settings.get("learning_rate", 3e-3)),
        alpha=float(settings.get("alpha", 0.7)),
        temperature=float(settings.get("temperature", 2.0)),
        hidden_weight=float(settings.get("hidden_weight", 0.0)),
        patience=settings.get("patience", 3),
        seed=settings.get("seed", 0),
        fake_quant=FakeQuantSpec() if settings.get("qat") else None,
    )
