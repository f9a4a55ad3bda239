"""How much a gate's data can tell: sample size, a 95 % interval for each rate, and whether the budget is resolved.

Pure functions and one result type; every gate (parity task checks, the streaming flip gate, quantize's gate)
reads its verdict on a rate through `judge_rate`, so the rule lives here once.

The rule (README "Evidence strength"): a budget is on the observed value, as before. A gate is *resolved* when
the 95 % interval lies on the observed side of the limit and, for a pass, one sample's worth of change fits inside
the budget (1/N <= budget). Then:
- observed beyond the limit: FAIL only when the interval lies beyond it too; otherwise `inconclusive`
  (a failure the data cannot tell from chance, e.g. one sequence of 54 against a 1-point budget).
- observed within the limit: pass, with the weakness said when the interval still crosses the limit; with
  `strict` (`--strict-evidence`) such a pass is `inconclusive` too (the artifact must show it is within).
`inconclusive` is never a pass: the exit code is 1 unless the caller allows it, and quantize does not publish it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Z95 = 1.959963984540054  # two-sided 95 %
BOOTSTRAP_RESAMPLES = 2000
PASS, FAIL, INCONCLUSIVE = "pass", "FAIL", "inconclusive"


def wilson_interval(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (good coverage at 0 and n, unlike the Wald interval)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # exactly 0 and 1 at the ends (rounding left 7e-18 at 0 of 50)
    return (0.0 if successes <= 0 else max(0.0, centre - half)), (1.0 if successes >= n else min(1.0, centre + half))


def paired_difference_interval(gained: float, lost: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Tango's score interval for p_artifact - p_reference on the same n samples, from the discordant pairs only:
    `gained` = right only for the artifact, `lost` = right only for the reference. Unlike Newcombe's hybrid it
    does not collapse to a point when no pair is discordant: 0 of n gives +-z^2/(n+z^2), like Wilson at 0."""
    if n <= 0:
        return -1.0, 1.0
    estimate = (gained - lost) / n

    def score(delta: float) -> float:
        a = 2 * n
        b = -gained - lost + (2 * n - gained + lost) * delta
        c = -lost * delta * (1 - delta)
        p21 = (math.sqrt(max(b * b - 4 * a * c, 0.0)) - b) / (2 * a)
        variance = n * (2 * p21 + delta * (1 - delta))
        return (gained - lost - n * delta) / math.sqrt(variance) if variance > 0 else 0.0

    # score() falls monotonically in delta; the limits are where it crosses +z (lower) and -z (upper)
    low = -1.0 if estimate <= -1 else _bisect(lambda d: score(d) - z, -1.0 + 1e-12, estimate)
    high = 1.0 if estimate >= 1 else _bisect(lambda d: score(d) + z, estimate, 1.0 - 1e-12)
    return low, high


def _bisect(f: Callable[[float], float], lo: float, hi: float) -> float:
    """The root of a decreasing f on [lo, hi] (f(lo) >= 0 >= f(hi)); the nearest end when there is none."""
    if f(lo) <= 0:
        return lo
    if f(hi) >= 0:
        return hi
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
    return (lo + hi) / 2


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float], n: int, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of `statistic(rows)` over `resamples` resamples of the n row indices (seeded, so a
    report is reproducible); rows are resampled together, which keeps artifact and reference paired."""
    if n <= 1:
        value = statistic(np.arange(n))
        return value, value
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n, size=n)) for _ in range(resamples)])
    return float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))


def resolves_budget(n: int, budget: float) -> bool:
    """One sample's worth of change (1/n) fits inside the budget. At 1/n == budget it fits: the sample may move
    the value onto the limit, which passes. Zero and infinite budgets are rules the data always resolve
    (exact agreement asked for; not gated)."""
    if budget <= 0 or math.isinf(budget):
        return True
    return n > 0 and n * budget >= 1 - 1e-9


def samples_to_fit(budget: float) -> int:
    """The smallest n with 1/n <= budget."""
    return max(1, math.ceil(1 / budget - 1e-9))


@dataclass(frozen=True)
class Evidence:
    """What a rate verdict rests on: n samples, the 95 % interval of the value, and whether that resolves the limit.
    `value`, `limit`, `low`, `high` are in the check's own units (a fraction, or a relative MAE increase)."""

    n: int
    unit: str  # what one sample is: "sequence", "prediction", "decision"
    value: float
    limit: float
    low: float
    high: float
    method: str  # how the interval was computed
    higher_is_better: bool  # True: the limit is a floor (top-1 agreement); False: a ceiling (flip rate)
    budget: float  # the allowed deviation the limit encodes (1 - min agreement, max drop, max flip fraction)
    step: float | None  # one sample's worth of change of the value (1/n); None for a continuous value
    verdict: str  # pass | FAIL | inconclusive
    resolved: bool  # one sample fits inside the budget and the interval lies on one side of the limit
    needed_n: int | None  # about how many samples would resolve it (the observed rates held); None: resolved
    reason: str = ""  # why it is not resolved, in words, naming the data size that would resolve it
    confidence: float = 0.95

    @property
    def within(self) -> bool:
        """Whether the measured value itself is inside its limit (before its interval is considered)."""
        return self.value >= self.limit if self.higher_is_better else self.value <= self.limit

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        """Read back evidence written by `to_jsonable`."""
        values = dict(data)
        for key in ("value", "limit", "low", "high", "budget", "confidence"):
            values[key] = float(values[key])
        if values.get("step") is not None:
            values["step"] = float(values["step"])
        return cls(**values)


def judge_rate(
    value: float,
    limit: float,
    n: int,
    unit: str,
    interval_at: Callable[[float], tuple[float, float]],
    method: str,
    higher_is_better: bool,
    budget: float,
    discrete: bool = True,
    strict: bool = False,
) -> Evidence:
    """The verdict on one rate. `interval_at(m)`: the 95 % interval the same observed proportions would give over
    m samples (m = n: this data); it names how much data would resolve an unresolved gate."""
    low, high = interval_at(n)
    within = value >= limit if higher_is_better else value <= limit
    exact_rule = budget <= 0 or math.isinf(budget)  # exact agreement asked for, or not gated: counts decide
    fits = resolves_budget(n, budget) if discrete else True
    clears = _clears(low, high, limit, higher_is_better, within)
    # A failure whose interval lies wholly beyond the limit is resolved however coarse the data (5 of 54 lost
    # against 1 point); a pass needs one sample to fit inside the budget too.
    resolved = exact_rule or (clears and (fits or not within))
    if within:
        verdict = INCONCLUSIVE if strict and not resolved else PASS
    else:
        verdict = FAIL if resolved else INCONCLUSIVE
    needed = None if resolved else _needed(n, limit, higher_is_better, within, interval_at, budget if discrete else 0.0)
    reason = "" if resolved else _reason(value, limit, n, unit, low, high, budget, fits, discrete, needed, within)
    step = 1.0 / n if discrete and n > 0 else None
    return Evidence(n, unit, value, limit, low, high, method, higher_is_better, budget, step, verdict, resolved, needed, reason)


def _clears(low: float, high: float, limit: float, higher_is_better: bool, within: bool) -> bool:
    """The interval lies wholly on the observed side of the limit (touching the limit counts as within)."""
    if higher_is_better:
        return low >= limit if within else high < limit
    return high <= limit if within else low > limit


def _needed(
    n: int,
    limit: float,
    higher_is_better: bool,
    within: bool,
    interval_at: Callable[[float], tuple[float, float]],
    budget: float,
) -> int | None:
    """The smallest data size (the observed proportions held) at which one sample fits in the budget and the
    interval clears the limit on the observed side; None when no size would (the value sits on the limit)."""
    # a pass also needs one sample to fit inside the budget; a failure only needs its interval beyond the limit
    floor = samples_to_fit(budget) if within and 0 < budget < math.inf else 1

    def clears(m: float) -> bool:
        low, high = interval_at(m)
        return _clears(low, high, limit, higher_is_better, within)

    hi = max(n, floor, 1)
    for _ in range(40):  # doubling: 2^40 samples is past any data set
        if clears(hi):
            break
        hi *= 2
    else:
        return None
    lo = max(n, 1)
    if clears(lo):
        return max(lo, floor)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if clears(mid) else (mid, hi)
    return max(hi, floor)


def _reason(
    value: float,
    limit: float,
    n: int,
    unit: str,
    low: float,
    high: float,
    budget: float,
    fits: bool,
    discrete: bool,
    needed: int | None,
    within: bool,
) -> str:
    """Why a rate is inconclusive in words: its interval, the budget and the data size that would resolve it."""
    plural = unit + ("s" if not unit.endswith("s") else "")
    size = (
        f"about {needed:,} {plural} would resolve it" if needed else "no data size would resolve it (the value sits on the limit)"
    )
    if discrete and not fits:
        return (
            f"cannot resolve: 1 {unit} = {_points(1 / n)} points > the {_points(budget)}-point budget "
            f"({n:,} {plural}; at least {samples_to_fit(budget):,} needed for one to fit); {size}"
        )
    side = "within" if within else "beyond"
    return (
        f"cannot resolve: observed {side} the limit, but the 95 % interval [{_pct(low)}, {_pct(high)}] "
        f"crosses the limit {_pct(limit)} ({n:,} {plural}); {size}"
    )


def _points(fraction: float) -> str:
    """A fraction as percentage points: 0.018518 -> '1.85', 0.01 -> '1', 0.001 -> '0.1'."""
    return f"{100 * fraction:.3g}"


def _pct(fraction: float) -> str:
    """A fraction as a percentage with three significant digits."""
    return f"{100 * fraction:.3g}%"
