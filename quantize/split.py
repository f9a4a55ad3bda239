"""Calibration data and gate data, kept apart: a quantizer tuned on the sequences that then judge it is graded on
its own homework. Sequences (rows) are split by index; a single stream is cut in time at a chunk boundary. The
split says which was which (rows or seconds, source, sha256 of the data) for the report.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np

from edgelstm.errors import ConfigError
from edgelstm.parity.data import SequenceData
from edgelstm.parity.stream_data import StreamData

CALIBRATION_SHARE = 1 / 3  # the gate keeps the larger part: its verdict is the one published


@dataclass(frozen=True)
class DataSplit:
    """Which data calibrated and which gated (rows as indices into the source, or sample ranges), for the report."""

    calibration: str
    gate: str
    calibration_sha256: str
    gate_sha256: str

    def lines(self) -> list[str]:
        """Lines for the quantize notes saying how the data was split."""
        return [
            f"calibrated on {self.calibration} (sha256 {self.calibration_sha256[:16]})",
            f"gated on {self.gate} (sha256 {self.gate_sha256[:16]})",
        ]


def split_sequences(data: SequenceData, share: float = CALIBRATION_SHARE) -> tuple[SequenceData, SequenceData, DataSplit]:
    """Every third row (spread over the file, as held-out files are often sorted) calibrates, the rest gate.
    Raises ConfigError for fewer than 2 rows: nothing would be left to gate on."""
    if data.count < 2:
        raise ConfigError(f"{data.source}: {data.count} sequence(s); calibration and the gate need at least 2, kept apart")
    calibration, gate = _every_third(data.count, share)
    parts = (_rows(data, calibration), _rows(data, gate))
    split = DataSplit(
        f"{data.source}, rows {_ranges(calibration)} ({len(calibration)} of {data.count})",
        f"{data.source}, rows {_ranges(gate)} ({len(gate)} of {data.count})",
        _content_sha256(parts[0].x),
        _content_sha256(parts[1].x),
    )
    check_disjoint_rows(calibration, gate)
    return parts[0], parts[1], split


def split_stream(
    data: StreamData, chunk: int, sample_rate: int, share: float = CALIBRATION_SHARE
) -> tuple[StreamData, StreamData, DataSplit]:
    """Rows apart when there are several (every third calibrates); one row is cut in time at a whole chunk: the
    first `share` calibrates, the rest gates."""
    count = int(data.x.shape[0])
    if count >= 2:
        calibration_rows, gate_rows = _every_third(count, share)
        described = len(data.rows) == count
        calibration, gate = (
            replace(
                data,
                x=data.x[picked],
                sha256=_content_sha256(data.x[picked]),  # a part is not the file: it names its own bytes
                source=f"{data.source}, rows {_ranges(picked)}",
                rows=tuple(data.rows[int(i)] for i in picked) if described else (),
            )
            for picked in (calibration_rows, gate_rows)
        )
    else:
        cut = int(data.samples * share) // chunk * chunk
        if cut < chunk or data.samples - cut < chunk:
            raise ConfigError(f"{data.source}: {data.samples} samples; calibration and the gate need a chunk each, kept apart")
        seconds = f"{cut / sample_rate:g} s"
        # A row's segments are in samples of the whole row: kept for the calibration part, shifted for the gate's.
        head = tuple(
            replace(r, segments=tuple(replace(s, end=min(s.end, cut)) for s in r.segments if s.start < cut)) for r in data.rows
        )
        tail = tuple(
            replace(
                r, segments=tuple(replace(s, start=max(s.start - cut, 0), end=s.end - cut) for s in r.segments if s.end > cut)
            )
            for r in data.rows
        )
        head_x, tail_x = data.x[:, :cut], data.x[:, cut:]
        calibration = replace(
            data, x=head_x, sha256=_content_sha256(head_x), source=f"{data.source}, samples 0-{cut} (first {seconds})", rows=head
        )
        gate = replace(
            data,
            x=tail_x,
            sha256=_content_sha256(tail_x),
            source=f"{data.source}, samples {cut}-{data.samples} (after {seconds})",
            rows=tail,
        )
    return calibration, gate, stream_split(calibration, gate)  # stream_split checks they share no row


def stream_split(calibration: StreamData, gate: StreamData) -> DataSplit:
    """The record of two separate streams (built-in audio: a calibration seed apart from the gate's)."""
    check_disjoint(calibration.x, gate.x)
    return DataSplit(calibration.source, gate.source, _content_sha256(calibration.x), _content_sha256(gate.x))


def check_disjoint(calibration: np.ndarray, gate: np.ndarray) -> None:
    """Raises ConfigError when a row of the calibration data is also a row of the gate's."""
    seen = {_content_sha256(row) for row in calibration}
    shared = sum(_content_sha256(row) in seen for row in gate)
    if shared:
        raise ConfigError(f"{shared} gate row(s) are also calibration rows; calibrate and gate on different data")


def check_disjoint_rows(calibration: np.ndarray, gate: np.ndarray) -> None:
    """Raises ConfigError when a row index calibrates and gates (identical rows in the data itself are allowed)."""
    if shared := sorted(set(calibration.tolist()) & set(gate.tolist())):
        raise ConfigError(f"rows {shared[:5]} would both calibrate and gate; calibrate and gate on different rows")


def _every_third(count: int, share: float) -> tuple[np.ndarray, np.ndarray]:
    """(calibration rows, gate rows): every round(1 / share)-th row calibrates, spread over the file."""
    step = max(2, round(1 / share))
    rows = np.arange(count)
    return rows[rows % step == 0], rows[rows % step != 0]


def _rows(data: SequenceData, rows: np.ndarray) -> SequenceData:
    """The sequences at `rows`, labels and lengths taken alike."""
    return replace(
        data,
        x=data.x[rows],
        sha256=_content_sha256(data.x[rows]),  # a part is not the file: it names its own bytes
        lengths=None if data.lengths is None else data.lengths[rows],
        y=None if data.y is None else data.y[rows],
    )


def _content_sha256(x: np.ndarray) -> str:
    """sha256 of an array's bytes, naming exactly which rows calibrated and which were judged."""
    return hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()


def _ranges(rows: np.ndarray) -> str:
    """0,3,6,...,27 -> '0-27 step 3'; short lists in full."""
    if len(rows) <= 6:
        return ",".join(str(int(r)) for r in rows)
    steps = np.diff(rows)
    if len(set(steps.tolist())) == 1:
        return f"{int(rows[0])}-{int(rows[-1])} step {int(steps[0])}"
    return f"{','.join(str(int(r)) for r in rows[:3])},...,{int(rows[-1])}"
