"""The one latency timer: interleaving, per-call samples, statistics."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from edgelstm import timing
from edgelstm.errors import ConfigError
from edgelstm.timing import TimerSettings, Timing, time_interleaved, time_one


def test_statistics_come_from_the_samples() -> None:
    timing = Timing.from_samples([1.0, 2.0, 3.0, 4.0, 100.0])
    assert timing.p50_ms == 3.0
    assert timing.mean_ms == pytest.approx(22.0)
    assert timing.samples == 5
    assert timing.p90_ms > timing.p50_ms


def test_every_workload_is_called_warmup_plus_rounds_times_calls() -> None:
    counts = [0, 0]

    def first() -> None:
        counts[0] += 1

    def second() -> None:
        counts[1] += 1

    timings = time_interleaved([first, second], TimerSettings(rounds=4, calls_per_round=3, warmup_calls=2))
    assert counts == [2 + 4 * 3, 2 + 4 * 3]
    assert [t.samples for t in timings] == [12, 12]


def test_rounds_interleave_the_workloads() -> None:
    # Timing A fully and then B would let a machine slowdown land on one of them only.
    trace: list[str] = []
    time_interleaved(
        [lambda: trace.append("a"), lambda: trace.append("b")], TimerSettings(rounds=5, calls_per_round=1, warmup_calls=0)
    )
    assert sorted(trace) == ["a"] * 5 + ["b"] * 5
    for r in range(5):
        assert sorted(trace[2 * r : 2 * r + 2]) == ["a", "b"]


def test_each_sample_is_the_time_of_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fake clock that the workloads advance: what the timer reports is exactly what each call took, no machine
    # timing involved (speed itself is measured by the scripts, not asserted here).
    clock = [0.0]
    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock[0])

    def costs(ms: float) -> Callable[[], None]:
        return lambda: clock.__setitem__(0, clock[0] + ms / 1e3)

    fast, slow = time_interleaved([costs(1.0), costs(3.0)], TimerSettings(rounds=3, calls_per_round=2, warmup_calls=1))
    assert fast.p50_ms == pytest.approx(1.0) and slow.p50_ms == pytest.approx(3.0)
    assert fast.samples == slow.samples == 6


def test_time_one_and_bad_settings() -> None:
    assert time_one(lambda: None, TimerSettings(rounds=1, calls_per_round=1)).samples == 1
    with pytest.raises(ConfigError):
        TimerSettings(rounds=0)
    with pytest.raises(ConfigError):
        Timing.from_samples([])
