"""Numerical comparison results: data, not log lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    """Pass rule: max |actual - expected| <= atol + rtol * max |expected| over the tensor.

    The relative part scales with the tensor's range, not each element: recurrent outputs cross zero all the
    time, and near a zero crossing an elementwise relative error measures nothing. An LSTM's cell state can
    reach tens while h stays in [-1, 1]; fp32 rounding in c then shows in h at the 1e-5 level (measured on the
    reference model: ORT and torch fp32 both differ from float64 torch by 1e-5 in h at T=100).
    """

    atol: float = 1e-5
    rtol: float = 1e-5
    # Quantized artifacts: a few sequences near a gate's decision boundary flip h by up to 2, so the maximum
    # error says little; they are gated on signal-to-noise ratio (and task agreement) instead. -inf = unused.
    min_snr_db: float = float("-inf")


FP32_TOLERANCE = Tolerance(atol=1e-5, rtol=1e-5)

# How many times the reference's own float32 noise floor an artifact may differ by, element by element. Some
# sequences put a recurrent model near a decision boundary of its gates: there a 1-ulp change of the input moves
# the final state by ~1e-4 in float64 (measured on a smartwatch LSTM), so any float32 implementation -- torch's
# included -- differs from float64 there by that much, while elsewhere the floor is ~1e-7 and the gate stays tight.
NOISE_FLOOR_FACTOR = 4.0


@dataclass(frozen=True)
class TensorComparison:
    """One output tensor compared against its reference: errors, where the worst one is, and whether it is within tolerance."""

    name: str
    shape: list[int]
    max_abs_error: float
    max_rel_error: float  # max |actual - expected| / max |expected|
    passed: bool
    problem: str = ""  # set when the comparison failed for a reason other than error size (shape, NaN)
    mean_abs_error: float = 0.0
    cosine_similarity: float = 1.0
    snr_db: float = float("inf")  # 10 log10(sum e^2 / sum (a - e)^2)
    atol: float = 0.0  # the tolerance this comparison was judged against
    rtol: float = 0.0
    min_snr_db: float = float("-inf")
    # The largest float32 noise floor of the reference at any element (0 when none was measured); the rule allowed
    # NOISE_FLOOR_FACTOR times each element's floor on top of atol + rtol * range.
    max_noise_floor: float = 0.0

    def __bool__(self) -> bool:
        return self.passed

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TensorComparison:
        """A comparison read back from a report (JSON cannot hold inf/nan, so those come back from their string form)."""
        values = dict(data)
        for key in (
            "max_abs_error",
            "max_rel_error",
            "mean_abs_error",
            "cosine_similarity",
            "snr_db",
            "atol",
            "rtol",
            "min_snr_db",
            "max_noise_floor",
        ):
            if key in values:
                values[key] = float(values[key])  # reports store inf/nan as strings
        return cls(**values)


@dataclass(frozen=True)
class CaseComparison:
    """All outputs of one run (one input shape / one scenario) against the reference."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("passed",)  # derived values written after the fields

    label: str
    batch: int
    steps: int
    outputs: list[TensorComparison] = field(default_factory=list)
    error: str = ""  # the runtime refused to run this case

    @property
    def passed(self) -> bool:
        """Whether the case ran without error and every output is within tolerance."""
        return not self.error and all(self.outputs)

    def __bool__(self) -> bool:
        return self.passed

    def worst(self) -> TensorComparison | None:
        """The output with the largest absolute error, the one a failing report names first (None without outputs)."""
        return max(self.outputs, key=lambda c: c.max_abs_error, default=None)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseComparison:
        """A case read back from a report's JSON."""
        return cls(
            label=data["label"],
            batch=data["batch"],
            steps=data["steps"],
            outputs=[TensorComparison.from_dict(o) for o in data["outputs"]],
            error=data.get("error", ""),
        )


def compare_tensors(
    name: str,
    actual: np.ndarray,
    expected: np.ndarray,
    tolerance: Tolerance,
    noise_floor: np.ndarray | None = None,
) -> TensorComparison:
    """Judge `actual` against `expected` by the Tolerance rule.

    `noise_floor` (same shape as `expected`, optional): how far float32 rounding alone moves the reference at each
    element. Each element may then differ by atol + rtol * range + NOISE_FLOOR_FACTOR * its floor.
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    limits: dict[str, Any] = {"atol": tolerance.atol, "rtol": tolerance.rtol, "min_snr_db": tolerance.min_snr_db}

    def failed(problem: str) -> TensorComparison:
        return TensorComparison(name, list(actual.shape), float("inf"), float("inf"), False, problem, **limits)

    if actual.shape != expected.shape:
        return failed(f"shape {list(actual.shape)} != expected {list(expected.shape)}")
    if actual.size == 0:
        return TensorComparison(name, list(actual.shape), 0.0, 0.0, True, **limits)
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    bad_actual = ~np.isfinite(a)
    if (bad_actual & np.isfinite(e)).any():
        return failed(f"{int(bad_actual.sum())} non-finite values (NaN/Inf) where the reference is finite")
    diff = np.abs(a - e)
    diff[~np.isfinite(diff)] = 0.0  # both non-finite at the same place: not a difference we can measure
    max_abs = float(diff.max())
    # Relative to the reference's largest magnitude: elementwise ratios explode near zero crossings.
    scale = float(np.abs(e[np.isfinite(e)]).max(initial=0.0))
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    limit = tolerance.atol + tolerance.rtol * scale
    floor_max = 0.0
    if noise_floor is not None and np.shape(noise_floor) == diff.shape:
        floor = np.nan_to_num(np.abs(np.asarray(noise_floor, np.float64)), nan=0.0, posinf=0.0)
        floor_max = float(floor.max(initial=0.0))
        within = bool((diff <= limit + NOISE_FLOOR_FACTOR * floor).all())
    else:
        within = max_abs <= limit
    finite = np.isfinite(a) & np.isfinite(e)
    a_f, e_f = a[finite], e[finite]
    norms = float(np.linalg.norm(a_f) * np.linalg.norm(e_f))
    cosine = float(np.dot(a_f, e_f) / norms) if norms > 0 else (1.0 if max_abs == 0 else 0.0)
    noise = float(np.sum((a_f - e_f) ** 2))
    signal = float(np.sum(e_f**2))
    snr = float("inf") if noise == 0 else (float(10.0 * np.log10(signal / noise)) if signal > 0 else float("-inf"))
    return TensorComparison(
        name,
        list(actual.shape),
        max_abs,
        max_rel,
        bool(within and snr >= tolerance.min_snr_db),
        mean_abs_error=float(diff.mean()),
        cosine_similarity=cosine,
        snr_db=snr,
        max_noise_floor=floor_max,
        **limits,
    )
