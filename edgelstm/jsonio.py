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
JSON_WHEN = "json_when"
JSON_CONVERT = "json_convert"
JSON_COMPUTE = "json_compute"
# A dataclass's class attribute: names of properties (or class constants) written after its fields, so a report
# carries its derived verdicts (`passed`, `verdict`, throughputs) without a hand-written `to_dict`. An entry may be a
# (key, attribute) pair: written under `key` when the attribute's own name already means something else in Python
# (a selection row's `size_bytes` is 0 for a row never built; its JSON says null).
JSON_EXTRAS = "JSON_EXTRAS"
# A dataclass's class attribute: the keys written first, in this order (fields by their JSON name, and extras); the
# others follow in field order, then the remaining extras. A report keeps its key order when a field is added, or
# when the constructor's argument order (positional calls) differs from the order users' CI compares byte for byte.
JSON_ORDER = "JSON_ORDER"


def json_meta(
    *,
    name: str | None = None,
    omit_if: Callable[[Any], bool] | None = None,
    when: Callable[[Any], bool] | None = None,
    convert: Callable[[Any], Any] | None = None,
    compute: Callable[[Any], Any] | None = None,
    skip: bool = False,
) -> dict[str, Any]:
    """Metadata for a dataclass `field` that `to_jsonable` writes under another key (`name`), leaves out when
    `omit_if(value)` is true or `when(obj)` is false (a key only some states of the object have), writes as
    `convert(value)` (a rounding, a string form) or as `compute(obj)` (derived from other fields too, e.g. shapes
    beside names), or never writes (`skip`: a working field no report shows). Older reports and graph metadata keep
    their bytes when a field is renamed, added or held in another form than the one written."""
    metadata: dict[str, Any] = {}
    if name is not None:
        metadata[JSON_NAME] = name
    if skip:
        metadata[JSON_OMIT_IF] = _always
    elif omit_if is not None:
        metadata[JSON_OMIT_IF] = omit_if
    if when is not None:
        metadata[JSON_WHEN] = when
    if convert is not None and compute is not None:
        raise ValueError("json_meta: give convert (of the value) or compute (of the object), not both")
    if convert is not None:
        metadata[JSON_CONVERT] = convert
    if compute is not None:
        metadata[JSON_COMPUTE] = compute
    return metadata


def _always(value: Any) -> bool:
    return True


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
        omit_if, when = f.metadata.get(JSON_OMIT_IF), f.metadata.get(JSON_WHEN)
        if (omit_if is not None and omit_if(item)) or (when is not None and not when(value)):
            continue
        if JSON_CONVERT in f.metadata:
            item = f.metadata[JSON_CONVERT](item)
        elif JSON_COMPUTE in f.metadata:
            item = f.metadata[JSON_COMPUTE](value)
        data[f.metadata.get(JSON_NAME, f.name)] = to_jsonable(item)
    for extra in getattr(type(value), JSON_EXTRAS, ()):
        key, attribute = extra if isinstance(extra, tuple) else (extra, extra)
        data[key] = to_jsonable(getattr(value, attribute))
    order = getattr(type(value), JSON_ORDER, ())
    if order:
        unknown = [key for key in order if key not in data and not _may_be_left_out(value, key)]
        if unknown:
            raise TypeError(f"{type(value).__name__}.{JSON_ORDER} names {unknown}, which it never writes")
        data = {**{key: data[key] for key in order if key in data}, **data}
    return data


def _may_be_left_out(value: Any, key: str) -> bool:
    """Whether `key` is a field's JSON key that its metadata may leave out (JSON_ORDER may name it)."""
    return any(
        f.metadata.get(JSON_NAME, f.name) == key and (JSON_OMIT_IF in f.metadata or JSON_WHEN in f.metadata)
        for f in dataclasses.fields(value)
    )


def to_jsonable(value: Any) -> Any:
    """A typed result as JSON-ready data: dataclasses (nested) become dicts in field order (renamed, converted or left
    out as their `json_meta` metadata says, then their `JSON_EXTRAS` properties; their `JSON_ORDER` keys first), enums
    their value, paths strings, numpy scalars and arrays Python numbers and lists, tuples and sets lists (sets sorted).
    Other values are returned as they are, so `json.dumps` still refuses what it cannot write."""
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
