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


def test_a_workload_that_leaves_threads_busy_is_followed_by_an_untimed_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    # The pause advances the fake clock by a lot; it must land between workloads, never inside a sample, and only
    # after the flagged workload (its warm-up included).
    clock = [0.0]
    pauses: list[tuple[float, str]] = []
    last = [""]
    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock[0])

    def sleep(seconds: float) -> None:
        pauses.append((seconds, last[0]))
        clock[0] += 5.0

    monkeypatch.setattr(timing.time, "sleep", sleep)

    def costs(name: str, ms: float) -> Callable[[], None]:
        def call() -> None:
            last[0] = name
            clock[0] += ms / 1e3

        return call

    settings = TimerSettings(rounds=4, calls_per_round=2, warmup_calls=1, settle_ms=40.0)
    quiet, spinner = time_interleaved([costs("quiet", 1.0), costs("spinner", 2.0)], settings, [False, True])
    assert quiet.p50_ms == pytest.approx(1.0) and spinner.p50_ms == pytest.approx(2.0)
    assert quiet.p99_ms == pytest.approx(1.0)  # no sample saw the 5 s pause
    assert pauses == [(0.04, "spinner")] * (1 + 4)


def test_no_pause_without_a_flag_or_with_settle_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(timing.time, "sleep", slept.append)
    time_interleaved([lambda: None, lambda: None], TimerSettings(rounds=2, warmup_calls=0))
    time_interleaved([lambda: None], TimerSettings(rounds=2, warmup_calls=0, settle_ms=0.0), [True])
    assert slept == []


def test_busy_flags_must_match_the_workloads() -> None:
    with pytest.raises(ConfigError, match="1 entries for 2 workloads"):
        time_interleaved([lambda: None, lambda: None], TimerSettings(rounds=1), [True])
    with pytest.raises(ConfigError, match="settle_ms"):
        TimerSettings(settle_ms=-1.0)
