"""The rounding plan: per weight, the granularity and rounding chosen before the weight-only pass writes the graph."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from edgelstm.jsonio import json_meta
from edgelstm.quantize.rounding import GranularityChoice, RoundedWeight


@dataclass
class RoundingPlan:
    """Integers, scales and corrected biases planned per weight before the pass stores them."""

    # the quantize record's JSON: the calibration, rounding and granularity per weight, the biases corrected by name
    JSON_ORDER: ClassVar[tuple[str, ...]] = ("calibration", "weights", "bias_corrected", "uncalibrated")

    weights: dict[str, RoundedWeight] = field(default_factory=dict)
    # corrected float biases, by stored tensor name
    bias: dict[str, np.ndarray] = field(default_factory=dict, metadata=json_meta(name="bias_corrected", convert=sorted))
    # bias name -> the weight whose rounding it corrects
    bias_weight: dict[str, str] = field(default_factory=dict, metadata=json_meta(skip=True))
    uncalibrated: dict[str, str] = field(default_factory=dict)  # weight -> why it was rounded to nearest
    choices: list[GranularityChoice] = field(default_factory=list, metadata=json_meta(skip=True))
    calibration: str = ""

    @property
    def int8_blocks(self) -> bool:
        """Whether any int8 weight is stored in blocks (DequantizeLinear then needs opset 21)."""
        return any(w.block_size and w.storage == "int8" for w in self.weights.values())

    def notes(self) -> list[str]:
        """Lines for the quantize notes: how many weights were rounded which way."""
        counts: dict[str, int] = {}
        for w in self.weights.values():
            key = f"{w.rounding} {w.granularity}"
            counts[key] = counts.get(key, 0) + 1
        notes = [f"rounding: {', '.join(f'{n} {k}' for k, n in sorted(counts.items()))}"]
        if self.calibration:
            notes.append(f"calibrated on {self.calibration}")
        if self.bias:
            notes.append(f"bias correction on {len(self.bias)} layer biases")
        if self.uncalibrated:
            reasons: dict[str, int] = {}
            for reason in self.uncalibrated.values():
                reasons[reason] = reasons.get(reason, 0) + 1
            why = "; ".join(f"{reason}: {n}" for reason, n in sorted(reasons.items()))
            notes.append(f"rounded to nearest for want of input statistics: {len(self.uncalibrated)} weights ({why})")
        return notes
