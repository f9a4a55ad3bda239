"""Pick a student spec from a parameter budget (`--target-params 50k`)."""

from __future__ import annotations

import re
from dataclasses import replace

from edgelstm.config import ModelConfig
from edgelstm.distill.spec import StudentSpec
from edgelstm.errors import ConfigError
from edgelstm.model import SequenceModel, count_parameters


def parse_count(text: str) -> int:
    """'50k' -> 50_000, '1.5M' -> 1_500_000, '1200' -> 1200."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmM]?)\s*", text)
    if not match:
        raise ConfigError(f"cannot read a parameter count from {text!r}: use e.g. 1200, 50k or 1.5M")
    value = float(match.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[match.group(2).lower()]
    if value < 1:
        raise ConfigError(f"a parameter budget must be at least 1, got {text!r}")
    return int(value)


def spec_for_budget(student_config_for: ModelConfig, base: StudentSpec, budget: int) -> tuple[StudentSpec, int]:
    """The widest student of `base`'s cell/layers/direction with at most `budget` parameters, and its count.

    `student_config_for` is the student config at any hidden size (input, head and vocabulary fixed); the count
    is measured on the real module, so embeddings, heads and projections are included.
    """

    def size(hidden: int) -> int:
        proj = min(base.proj_size, hidden - 1) if base.proj_size else 0
        cfg = replace(student_config_for, hidden_size=hidden, proj_size=proj)
        return count_parameters(SequenceModel(cfg))

    if size(1) > budget:
        raise ConfigError(
            f"no {base.cell} student with {base.num_layers} layer(s) fits {budget:,} parameters "
            f"(hidden size 1 already has {size(1):,}: the input and head alone are too large)"
        )
    lo, hi = 1, 2
    while size(hi) <= budget:  # parameter count grows with hidden size, so bisect on it
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if size(mid) <= budget else (lo, mid)
    return replace(base, hidden_size=lo), size(lo)
