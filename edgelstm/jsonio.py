"""Strict JSON for reports: one serialiser for typed results, and non-finite floats as strings so any JSON parser
(jq, CI tools) reads them."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any

# Field metadata keys read by `to_jsonable` (set them with `json_meta`).
JSON_NAME = "json_name"
JSON_OMIT_IF = "json_omit_if"
# A dataclass's class attribute: names of properties (or class constants) written after its fields, so a report
# carries its derived verdicts (`passed`, `verdict`, throughputs) without a hand-written `to_dict`.
JSON_EXTRAS = "JSON_EXTRAS"


def json_meta(*, name: str | None = None, omit_if: Callable[[Any], bool] | None = None) -> dict[str, Any]:
    """Metadata for a dataclass `field` that `to_jsonable` writes under another key (`name`) or leaves out when
    `omit_if(value)` is true: older reports and graph metadata keep their bytes when a field is renamed or added."""
    metadata: dict[str, Any] = {}
    if name is not None:
        metadata[JSON_NAME] = name
    if omit_if is not None:
        metadata[JSON_OMIT_IF] = omit_if
    return metadata


def is_none(value: Any) -> bool:
    """`omit_if` for an optional field written only when set."""
    return value is None


def is_empty(value: Any) -> bool:
    """`omit_if` for a field written only when it holds something (not 0, "", or an empty collection)."""
    return not value


def _dataclass_jsonable(value: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for f in dataclasses.fields(value):
        item = getattr(value, f.name)
        omit_if = f.metadata.get(JSON_OMIT_IF)
        if omit_if is not None and omit_if(item):
            continue
        data[f.metadata.get(JSON_NAME, f.name)] = to_jsonable(item)
    for name in getattr(type(value), JSON_EXTRAS, ()):
        data[name] = to_jsonable(getattr(value, name))
    return data


def to_jsonable(value: Any) -> Any:
    """A typed result as JSON-ready data: dataclasses (nested) become dicts in field order (renamed or left out as
    their `json_meta` metadata says, then their `JSON_EXTRAS` properties), enums their value, paths strings, numpy
    scalars and arrays Python numbers and lists, tuples and sets lists (sets sorted). Other values are returned as
    they are, so `json.dumps` still refuses what it cannot write."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _dataclass_jsonable(value)
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if type(value).__module__ == "numpy":  # a numpy scalar or array, without importing numpy for every report
        array: Any = value  # not a dataclass: is_dataclass's negative narrowing would say otherwise to pyright
        return array.tolist()  # a scalar's tolist() is its Python number, like item()
    if isinstance(value, Mapping):
        return {str(k) if isinstance(k, PurePath) else k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(to_jsonable(v) for v in value)
    return value


def json_safe(value: Any) -> Any:
    """Non-finite floats as "nan"/"inf"/"-inf", recursively: strict JSON has no literal for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def dumps(data: Any) -> str:
    """Indented strict JSON of `data` (dicts, lists, or typed results through `to_jsonable`)."""
    return json.dumps(json_safe(to_jsonable(data)), indent=2, allow_nan=False)


def as_float(value: Any) -> float:
    """Inverse of json_safe for floats ("inf" -> inf)."""
    return float(value)
