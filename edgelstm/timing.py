"""The one latency timer: workloads interleaved round by round, per-call samples, one result type.

Every figure edgelstm prints (bench rows, `quantize --scheme auto`'s candidates, distill's student table) comes from
here. Interleaving matters on small shared machines: timing noise here is about +-30 % and drifts over seconds, so
timing A fully and then B would credit B with whatever the machine did meanwhile. Each round visits the workloads in
a new shuffled order, so no workload always runs right after the same neighbour (caches, frequency).

A workload whose thread pool keeps spinning after it returns (an ORT session with spinning on, ORT's default
session, torch's OpenMP pool with more than one thread) takes the cores from whatever is timed next: on 2 cores a
2-thread ORT session timed right after ORT's default session ran 1.3-1.6x slower than after a 50 ms pause. Such
workloads are flagged (`leaves_threads_busy`) and followed by an untimed pause of `settle_ms`, so each is timed on a
quiet machine and none is billed for another.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from edgelstm.errors import ConfigError

Call = Callable[[], object]


@dataclass(frozen=True)
class Timing:
    """Milliseconds per call of one workload: median and tail over all samples."""

    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    samples: int

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float]) -> Timing:
        """Percentiles and spread of latency samples in milliseconds; no samples is a ConfigError."""
        if not samples_ms:
            raise ConfigError("a latency needs at least one sample")
        values = np.asarray(samples_ms, dtype=np.float64)
        return cls(
            float(np.percentile(values, 50)),
            float(np.percentile(values, 90)),
            float(np.percentile(values, 99)),
            float(values.mean()),
            int(values.size),
        )


@dataclass(frozen=True)
class TimerSettings:
    """How latency is sampled: rounds of timed calls after untimed warm-up calls, with a seed for the inputs."""

    rounds: int = 15
    calls_per_round: int = 5
    warmup_calls: int = 3  # first runs allocate buffers and pick kernels; they are not the steady state
    seed: int = 0
    settle_ms: float = 50.0  # untimed pause after a workload that leaves threads spinning (50 ms measured enough)

    def __post_init__(self) -> None:
        # Commands that print figures ask for >= 3 rounds themselves (bench's --rounds); one round is a smoke run.
        if self.rounds < 1 or self.calls_per_round < 1 or self.warmup_calls < 0:
            raise ConfigError("rounds and calls per round must be >= 1 and warm-up calls >= 0")
        if not 0 <= self.settle_ms <= 10_000:
            raise ConfigError(f"settle_ms must be between 0 and 10000, got {self.settle_ms}")


def time_interleaved(
    calls: Sequence[Call], settings: TimerSettings | None = None, leaves_threads_busy: Sequence[bool] | None = None
) -> list[Timing]:
    """One Timing per workload, in the order given. Each sample is one call, timed alone. `leaves_threads_busy[i]`:
    workload i's threads may still spin when it returns, so the timer pauses `settle_ms` (untimed) after it."""
    settings = settings or TimerSettings()
    busy = list(leaves_threads_busy) if leaves_threads_busy is not None else [False] * len(calls)
    if len(busy) != len(calls):
        raise ConfigError(f"leaves_threads_busy has {len(busy)} entries for {len(calls)} workloads")

    def settle(index: int) -> None:
        if busy[index] and settings.settle_ms:
            time.sleep(settings.settle_ms / 1e3)

    for index, call in enumerate(calls):
        for _ in range(settings.warmup_calls):
            call()
        settle(index)
    samples: list[list[float]] = [[] for _ in calls]
    order = list(range(len(calls)))
    shuffle = random.Random(settings.seed)
    for _ in range(settings.rounds):
        shuffle.shuffle(order)
        for index in order:
            call, own = calls[index], samples[index]
            for _ in range(settings.calls_per_round):
                start = time.perf_counter()
                call()
                own.append((time.perf_counter() - start) * 1e3)
            settle(index)
    return [Timing.from_samples(s) for s in samples]


def time_one(call: Call, settings: TimerSettings | None = None) -> Timing:
    """A single workload (nothing to interleave with): same warm-up, same statistics."""
    return time_interleaved([call], settings)[0]


@dataclass(frozen=True)
class BatchTiming:
    """Microseconds per call of one workload timed in batches of calls: medians over rounds of thread CPU time (what
    the calling thread itself spent: on a loaded machine it leaves out the time other processes held the core) and of
    wall time (what an app waits, load included)."""

    cpu_us: float
    wall_us: float
    rounds: int
    calls_per_round: int


def time_batches(
    calls: Sequence[Call], rounds: int = 21, calls_per_round: int | Sequence[int] = 200, warmup_calls: int = 50, seed: int = 0
) -> list[BatchTiming]:
    """One BatchTiming per workload, in the order given: each round times `calls_per_round` back-to-back calls of each
    workload (a new shuffled order every round), per call = batch time / calls. For calls of a few microseconds,
    where a clock read per call would be a visible part of what is measured (streaming steps, a run's floor)."""
    counts = [calls_per_round] * len(calls) if isinstance(calls_per_round, int) else list(calls_per_round)
    if len(counts) != len(calls) or rounds < 1 or min(counts, default=1) < 1 or warmup_calls < 0:
        raise ConfigError("time_batches needs rounds >= 1, one count >= 1 per workload and warm-up calls >= 0")
    for call in calls:
        for _ in range(warmup_calls):
            call()
    cpu: list[list[float]] = [[] for _ in calls]
    wall: list[list[float]] = [[] for _ in calls]
    order = list(range(len(calls)))
    shuffle = random.Random(seed)
    for _ in range(rounds):
        shuffle.shuffle(order)
        for index in order:
            call, n = calls[index], counts[index]
            cpu_start, wall_start = time.thread_time_ns(), time.perf_counter_ns()
            for _ in range(n):
                call()
            wall[index].append((time.perf_counter_ns() - wall_start) / n / 1e3)
            cpu[index].append((time.thread_time_ns() - cpu_start) / n / 1e3)
    return [BatchTiming(float(np.median(c)), float(np.median(w)), rounds, n) for c, w, n in zip(cpu, wall, counts, strict=True)]
