"""Strict JSON for reports: non-finite floats become strings so any JSON parser (jq, CI tools) reads them."""

from __future__ import annotations

import json
import math
from typing import Any


def json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def dumps(data: Any) -> str:
    return json.dumps(json_safe(data), indent=2, allow_nan=False)


def as_float(value: Any) -> float:
    """Inverse of json_safe for floats ("inf" -> inf)."""
    return float(value)
