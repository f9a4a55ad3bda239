"""Batch-1 latency of auto's rows in edgelstm's session and two plain ORT sessions, timed interleaved."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from edgelstm.artifact.feeds import data_shape, sequence_feeds
from edgelstm.artifact.file import open_artifact
from edgelstm.artifact.hints import InterfaceHints
from edgelstm.artifact.layout import graph_feeds
from edgelstm.artifact.session import SessionSettings, session_from_onnx
from edgelstm.parity.data import SequenceData
from edgelstm.quantize.api import QuantizeResult
from edgelstm.quantize.selection_table import Candidate
from edgelstm.timing import TimerSettings, time_interleaved


def early_speed_ratio(fp32: Candidate, path: Path, data: SequenceData) -> float | None:
    """An artifact's batch-1 latency over the fp32 graph's in an early interleaved timing of the two (the artifact
    crash-probed already). The table shows the final timing of every published row together instead."""
    pair = [replace(fp32), Candidate(path.name, QuantizeResult(path.name, {}, str(path), 0, path=path))]
    measure_latencies(pair, data)
    plain = plain_ratio(pair[1], pair[0])  # the speed rule is judged in a plain session
    if plain is not None:
        return plain
    fp32_ms, ms = pair[0].latency_ms, pair[1].latency_ms
    return ms / fp32_ms if ms is not None and fp32_ms else None


def _batch1_feeds(path: Path, data: SequenceData | None, hints: InterfaceHints | None = None) -> dict[str, np.ndarray]:
    """One batch-1 call: the first sequence of the data, or (a foreign streaming graph) one chunk of zeros with
    its constants and initial state, from the one feed builder."""
    interface = open_artifact(path, hints).interface
    x = data.x[:1] if data is not None else np.zeros(data_shape(interface, 1), np.dtype(interface.data_input.dtype))
    return graph_feeds(interface, sequence_feeds(interface, x, None, str(path)))  # in the graph's layout: timed as is


# The sessions each artifact is timed in, all in one interleaved run: edgelstm's (1 thread, no spinning: latency_ms)
# and two plain ones (ORT's defaults: its thread pool, spinning on; and the same at 1 thread).
TIMED_SESSIONS = (SessionSettings(intra_op_threads=1), SessionSettings.ort_defaults(0), SessionSettings.ort_defaults(1))


def measure_latencies(
    candidates: list[Candidate],
    data: SequenceData | None,
    hints: InterfaceHints | None = None,
    rounds: int = 7,
    calls: int = 10,
) -> None:
    """Batch-1 latency of each artifact in each of TIMED_SESSIONS, interleaved round by round so machine noise hits
    all alike; median."""
    workloads, busy = [], []
    for candidate in candidates:
        assert candidate.result is not None and candidate.result.path is not None
        feeds = _batch1_feeds(candidate.result.path, data, hints)
        for settings in TIMED_SESSIONS:
            session = session_from_onnx(candidate.result.path, settings)
            names = {i.name for i in session.get_inputs()}
            own = {k: v for k, v in feeds.items() if k in names}
            workloads.append(lambda s=session, f=own: s.run(None, f))
            busy.append(settings.allow_spinning and settings.intra_op_threads != 1)  # ORT's pool spins after a run
    timings = time_interleaved(workloads, TimerSettings(rounds=rounds, calls_per_round=calls, warmup_calls=1), busy)
    for index, candidate in enumerate(candidates):
        own_timings = timings[index * len(TIMED_SESSIONS) : (index + 1) * len(TIMED_SESSIONS)]
        candidate.latency_ms, candidate.plain_latency_ms, candidate.plain_1thread_latency_ms = (t.p50_ms for t in own_timings)


def plain_ratio(row: Candidate, fp32: Candidate) -> float | None:
    """The worse of the row's two plain-session latencies over the fp32 graph's in the same session: the speed rule
    holds for a user who loads the file with ORT's defaults, or at 1 thread. None when either was not timed."""
    pairs = [(row.plain_latency_ms, fp32.plain_latency_ms), (row.plain_1thread_latency_ms, fp32.plain_1thread_latency_ms)]
    ratios = []
    for ms, base in pairs:
        if ms is None or not base:
            return None
        ratios.append(ms / base)
    return max(ratios)
