"""A `convert` recipe: typed, validated up front, paths relative to the recipe file.

[model]
source = "../runs/watch-lstm"        # checkpoint dir, .pt2, or package.module:factory
# optional, the same model options every command takes: weights, input_size, unsafe_allow_pickle,
# unsafe_allow_torchscript, const = {sr = 16000}, state = "state:stateN", chunk = 512
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
form = "streaming"                  # "best" in this form (default: streaming when exported: chunk in, state out)
zip = true
[output]
dir = "../runs/watch-pipeline"

A LiteRT recipe: `[export] target = "litert"` and `chunks = [1, 16]` (one streaming .tflite per chunk, batch 1);
`[quantize] schemes` from auto, dynamic-int8, weight-only-int8; `[check] providers = ["litert"]`; the bundle is
for Android (`[bundle] artifact` "best" or a `streaming_litert_b1_k<chunk>...tflite` name).
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgelstm.artifact.export_config import FORMS, ExportConfig
from edgelstm.distill import DistillConfig, FakeQuantSpec, StudentSpec, parse_count
from edgelstm.errors import ConfigError, first_line
from edgelstm.jsonio import json_meta, to_jsonable
from edgelstm.model_source import ModelOptions, ModelSource
from edgelstm.parity.tolerances import TolerancePolicy
from edgelstm.quantize.litert import LITERT_RECIPES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SCHEMES = ("auto", "dynamic-int8", "static-int8", "fp16", "int4")
LITERT_SCHEMES = ("auto", *LITERT_RECIPES)  # ai-edge-quantizer's recipes, by edgelstm's scheme names
TARGETS = ("onnx", "litert")
TABLES = ("model", "data", "distill", "export", "quantize", "check", "bench", "bundle", "output")


def _changed_model_options(recipe: Recipe) -> dict[str, Any]:
    """The [model] options that differ from the defaults (weights aside: a field of its own): a recipe without them
    keeps its earlier fingerprints."""
    defaults = to_jsonable(ModelOptions().source(recipe.source))
    return {k: v for k, v in to_jsonable(recipe.model_source).items() if v != defaults.get(k) and k != "weights"}


@dataclass(frozen=True)
class Recipe:
    """A pipeline recipe read from TOML (`load_recipe`): model source, held-out data, output folder, each step's options.
    Its JSON (the pipeline's fingerprints) leaves out the raw tables and the model options left at their defaults."""

    source: str
    heldout: Path
    out_dir: Path
    weights: Path | None = None
    forms: tuple[str, ...] = ("sequence",)
    impl: str = "auto"
    target: str = "onnx"  # litert: streaming .tflite files (one per chunk), quantized, checked and bundled for Android
    chunks: tuple[int, ...] = (1,)  # litert: steps per call, one .tflite each
    schemes: tuple[str, ...] = ("auto",)
    providers: tuple[str, ...] = ("cpu", "mobile")
    allow_missing: tuple[str, ...] = ()
    tolerances: Path | None = None
    batches: tuple[int, ...] = (1, 32)
    steps: tuple[int, ...] = (100,)
    threads: tuple[int, ...] = (1,)
    spinning: tuple[bool, ...] = (False,)  # ORT spinning values bench sweeps ([bench] spinning = ["off", "on"])
    bundle_artifact: str = "best"
    bundle_form: str = "sequence"  # the form "best" is picked in; streaming: the winning scheme applied to that graph
    bundle_zip: bool = True
    distill: dict[str, Any] | None = None  # validated [distill] table: the model is replaced by its student
    # [model] keys beyond source, as the CLI's options
    model_options: ModelOptions = field(default_factory=ModelOptions, metadata=json_meta(compute=_changed_model_options))
    raw: dict[str, Any] = field(default_factory=dict, compare=False, metadata=json_meta(skip=True))

    def section(self, name: str) -> dict[str, Any]:
        """One step's options from the recipe (an empty dict when the step is not configured)."""
        return dict(self.raw.get(name, {}))

    @property
    def model_source(self) -> ModelSource:
        """The model source the recipe names, with its model options."""
        return self.model_options.source(self.source)


# What each table takes: key -> expected type. A key not listed is refused (naming the closest valid one), so a
# typo such as `providrs` fails before any work instead of being silently ignored.
SCHEMA: dict[str, dict[str, type]] = {
    # the same keys as the model options of every command (`--unsafe-allow-pickle` -> unsafe_allow_pickle)
    "model": {
        "source": str,
        "weights": str,
        "input_size": int,
        "unsafe_allow_pickle": bool,
        "unsafe_allow_torchscript": bool,
        "const": dict,
        "state": str,
        "chunk": int,
        "context": int,
        "axes": str,
    },
    "data": {"heldout": str},
    "export": {"forms": list, "impl": str, "target": str, "chunks": list},
    "quantize": {"schemes": list},
    "check": {"providers": list, "allow_missing": list, "tolerances": str},
    "bench": {"batches": list, "steps": list, "threads": list, "spinning": list},
    "bundle": {"artifact": str, "form": str, "zip": bool},
    "output": {"dir": str},
}
PROVIDERS = ("cpu", "cuda", "mobile", "reference", "litert")
TYPE_NAMES = {str: "a string", bool: "a boolean (true/false, unquoted)", int: "an integer", dict: "a table (NAME = number)"}


def load_recipe(path: Path) -> Recipe:
    """Parse and validate a recipe completely (types, allowed values, that the files it names exist) before any step."""
    path = Path(path)
    raw = _read_toml(path)
    base = path.parent

    def fail(message: str) -> ConfigError:
        return ConfigError(f"{path}: {message}")

    _check_shape(raw, fail)
    for table, key in (("model", "source"), ("data", "heldout"), ("output", "dir")):
        if key not in raw.get(table, {}):
            raise fail(
                f"[{table}] {key} is required" + (" (real inputs for calibration and the parity gate)" if table == "data" else "")
            )

    def rel(value: Any, what: str, must_exist: bool = True) -> Path:
        if not isinstance(value, str) or not value:
            raise fail(f"{what} must be a path string")
        resolved = (base / value).resolve() if not Path(value).is_absolute() else Path(value)
        if must_exist and not resolved.exists():
            raise fail(f"{what} {value!r}: no such file or directory ({resolved})")
        return resolved

    def strings(table: str, key: str, default: tuple[str, ...], allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
        value = raw.get(table, {}).get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(f"[{table}] {key} must be a list of strings")
        if allowed and (bad := [v for v in value if v not in allowed]):
            raise fail(f"[{table}] {key}: unknown {', '.join(bad)}; choose from {', '.join(allowed)}")
        return tuple(value)

    def ints(table: str, key: str, default: tuple[int, ...]) -> tuple[int, ...]:
        value = raw.get(table, {}).get(key, list(default))
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
        ):
            raise fail(f"[{table}] {key} must be a list of positive integers")
        return tuple(value)

    model = raw["model"]
    source = model["source"]
    if not source:
        raise fail("[model] source must name a checkpoint directory, a .pt2 file or package.module:factory")
    is_reference = ":" in source and not (base / source).exists()  # package.module:factory, imported at load time
    source = source if is_reference else str(rel(source, "[model] source"))
    check = raw.get("check", {})
    bundle = raw.get("bundle", {})
    target = _target(raw.get("export", {}), fail)
    litert = target == "litert"
    forms = strings("export", "forms", ("streaming",) if litert else ("sequence",), FORMS)
    if litert and forms != ("streaming",):
        raise fail('[export] target "litert" makes the streaming form only: forms = ["streaming"] (or leave it out)')
    if not forms:
        raise fail("[export] forms must name at least one of " + ", ".join(FORMS))
    impl = raw.get("export", {}).get("impl", "auto")
    for form in forms:  # the step's own config check, run now instead of when the step starts
        try:
            ExportConfig(form=form, impl=impl)  # type: ignore[arg-type]
        except ConfigError as exc:
            raise fail(f"[export] {exc}") from None
    providers = strings("check", "providers", ("litert",) if litert else ("cpu", "mobile"), PROVIDERS)
    if not providers:
        raise fail("[check] providers must name at least one of " + ", ".join(PROVIDERS))
    if ("litert" in providers) != litert or (litert and providers != ("litert",)):  # each provider runs its own format
        raise fail('[check] providers = ["litert"] goes with [export] target = "litert" (and only there)')
    heldout = rel(raw["data"]["heldout"], "[data] heldout")
    weights = rel(model["weights"], "[model] weights") if "weights" in model else None
    try:
        options = ModelOptions.parse(
            weights=weights,
            input_size=model.get("input_size"),
            allow_pickle=model.get("unsafe_allow_pickle", False),
            allow_torchscript=model.get("unsafe_allow_torchscript", False),
            constants=model.get("const", {}),
            states=model.get("state"),
            chunk=model.get("chunk"),
            context=model.get("context"),
            axes=model.get("axes"),
        )
    except ConfigError as exc:
        raise fail(f"[model] {exc}") from None
    return Recipe(
        source=source,
        heldout=heldout,
        out_dir=rel(raw["output"]["dir"], "[output] dir", must_exist=False),
        weights=weights,
        forms=forms,
        impl=impl,
        target=target,
        chunks=ints("export", "chunks", (1,)) if litert else (1,),
        schemes=strings("quantize", "schemes", ("auto",), LITERT_SCHEMES if litert else SCHEMES),
        providers=providers,
        allow_missing=strings("check", "allow_missing", (), PROVIDERS),
        tolerances=_tolerances(rel(check["tolerances"], "[check] tolerances")) if "tolerances" in check else None,
        batches=ints("bench", "batches", (1, 32)),
        steps=ints("bench", "steps", (100,)),
        threads=ints("bench", "threads", (1,)),
        spinning=_spinning(strings("bench", "spinning", ("off",), ("off", "on")), fail),
        bundle_artifact=_bundle_artifact(bundle.get("artifact", "best"), forms, impl, fail, litert),
        bundle_form=_bundle_form(bundle.get("form"), forms, fail),
        bundle_zip=bundle.get("zip", True),
        distill=_distill_table(raw["distill"], path, rel, heldout) if "distill" in raw else None,
        raw=raw,
        model_options=options,
    )


def _target(table: dict[str, Any], fail: Any) -> str:
    target = table.get("target", "onnx")
    if target not in TARGETS:
        raise fail(f"[export] target {target!r}: choose {' or '.join(TARGETS)}")
    if "chunks" in table and target != "litert":
        raise fail('[export] chunks is for target = "litert" (ONNX streaming graphs take any chunk length)')
    return str(target)


def _tolerances(path: Path) -> Path:
    """The budget file, validated now (ranges, NaN, providers) so a nonsense budget fails before any step."""
    TolerancePolicy.from_toml(path)
    return path


def _spinning(values: tuple[str, ...], fail: Any) -> tuple[bool, ...]:
    if not values or len(set(values)) != len(values):
        raise fail('[bench] spinning must list "off" and/or "on", each once')
    return tuple(v == "on" for v in values)


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: no such recipe" + (" (a directory; give the .toml file)" if path.is_dir() else ""))
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save the recipe as UTF-8") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({first_line(exc)})") from None
    if not raw:
        raise ConfigError(f"{path}: the recipe is empty; it needs at least [model] source, [data] heldout and [output] dir")
    return raw


def _check_shape(raw: dict[str, Any], fail: Any) -> None:
    """Every table a table, every key known, every value of the type its key takes."""
    unknown = sorted(set(raw) - set(TABLES))
    if unknown:
        raise fail(f"unknown table(s) {', '.join(unknown)}{_closest(unknown[0], TABLES)}; use {', '.join(TABLES)}")
    for table, content in raw.items():
        if not isinstance(content, dict):
            raise fail(f"[{table}] must be a table ([{table}] with keys below it), not {type(content).__name__} {content!r}")
        if table == "distill":
            continue  # its own schema, checked by _distill_table
        keys = SCHEMA[table]
        for key, value in content.items():
            if key not in keys:
                raise fail(f"[{table}] unknown key {key!r}{_closest(key, tuple(keys))}; [{table}] takes {', '.join(keys)}")
            expected = keys[key]
            if expected is list:
                continue  # lists are checked with their element type and allowed values when read
            if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
                raise fail(f"[{table}] {key} must be {TYPE_NAMES[expected]}, got {type(value).__name__} {value!r}")


def _closest(name: str, choices: tuple[str, ...]) -> str:
    match = difflib.get_close_matches(name, choices, n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _bundle_form(value: str | None, forms: tuple[str, ...], fail: Any) -> str:
    """The form `artifact = "best"` is bundled in: streaming by default when the recipe exports it (what an app on a
    device runs, state included), else the sequence form."""
    if value is None:
        return "streaming" if "streaming" in forms else "sequence"
    if value not in forms:
        raise fail(f"[bundle] form {value!r} is not a form this recipe exports; use one of {', '.join(forms)}")
    return value


def _bundle_artifact(value: str, forms: tuple[str, ...], impl: str, fail: Any, litert: bool = False) -> str:
    """'best', or the file name of an artifact this recipe produces: `{form}_{impl}[.{scheme tag}].onnx`
    (LiteRT: `streaming_litert_b1_k{chunk}[_{scheme}].tflite`)."""
    if value == "best":
        return value
    if litert:
        if "/" in value or "\\" in value or not (value.startswith("streaming_litert_b1_k") and value.endswith(".tflite")):
            raise fail(f'[bundle] artifact {value!r}: use "best" or a streaming_litert_b1_k<chunk>[_<scheme>].tflite name')
        return value
    impls = ("fused", "loop", "unrolled", "torch_onnx") if impl == "auto" else (impl,)
    stem = value.split(".", 1)[0]
    if "/" in value or "\\" in value or not value.endswith(".onnx") or stem not in {f"{f}_{i}" for f in forms for i in impls}:
        names = ", ".join(f"{f}_{i}.onnx" for f in forms for i in impls)
        raise fail(
            f'[bundle] artifact {value!r} is not an artifact this recipe produces; use "best" or one of {names} (+ a scheme tag)'
        )
    return value


DISTILL_KEYS = {
    "data": str, "validation": str, "cell": str, "hidden": int, "layers": int, "target_params": str,
    "epochs": int, "batch_size": int, "learning_rate": float, "alpha": float, "temperature": float,
    "hidden_weight": float, "qat": bool, "patience": int, "seed": int,
}  # fmt: skip


def _distill_table(table: Any, path: Path, rel: Any, heldout: Path) -> dict[str, Any]:
    """[distill] data = "train.npz" (required), validation (default: [data] heldout), and the student/training
    settings of `edgelstm distill`; checked here so a typo fails before any work."""
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
