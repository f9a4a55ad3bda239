"""Layer-input statistics per weight (second moment and mean), gathered by calibration and read by the rounding plan."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Moments:
    """Per weight: sum of x x^T and of x over its layer's inputs (all its uses), and how many."""

    hessian: dict[str, np.ndarray] = field(default_factory=dict)
    mean_sum: dict[str, np.ndarray] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # weight -> why no statistics
    bias: dict[str, str] = field(default_factory=dict)  # weight -> its layer's stored bias (bias correction)
    opened_branches: int = 0
    description: str = ""  # the calibration data, for the report

    def second_moment(self, name: str) -> np.ndarray | None:
        """The mean of x x^T of a weight's inputs over the calibration rows (GPTQ's Hessian), or None when unseen."""
        if name not in self.hessian or not self.count.get(name):
            return None
        return self.hessian[name] / self.count[name]

    def mean(self, name: str) -> np.ndarray | None:
        """The mean input a weight saw over the calibration rows (for bias correction), or None when unseen."""
        if name not in self.mean_sum or not self.count.get(name):
            return None
        return self.mean_sum[name] / self.count[name]
