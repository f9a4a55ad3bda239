"""The distillation report: teacher vs student vs quantized student, each scored as the artifact that ships.

Every row is an exported ONNX graph run by ONNX Runtime (CPU EP, settings recorded): its file size, the task
metric on held-out data, and its batch-1 latency, measured interleaved in one run (median of the rounds).
Each student is quantized with every scheme in `REPORT_SCHEMES`, one row per scheme.
Target (issue 4): >= 10x smaller than the fp32 teacher file, with <= 1 point accuracy drop, or <= 3 %
relative for MAE and bits per character; and (issue 19) no slower than the teacher's ONNX graph at batch 1, and, for a
quantized row, passed by the parity gate `edgelstm quantize` applies to the same artifact (a row the gate rejects
would never be published by quantize, so it never reads "met").
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgelstm.artifact.feeds import sequence_feeds
from edgelstm.artifact.file import ArtifactInfo, open_artifact
from edgelstm.artifact.layout import graph_feeds, run_batch_first
from edgelstm.artifact.session import SessionSettings, session_from_onnx
from edgelstm.distill.metrics import MetricAccumulator, TaskMetric, task_kind
from edgelstm.errors import ConfigError
from edgelstm.export.api import export_model
from edgelstm.files import write_text_atomic
from edgelstm.jsonio import json_meta, to_jsonable
from edgelstm.loading import LoadedModel
from edgelstm.model import count_parameters
from edgelstm.parity.data import SequenceData
from edgelstm.quantize import DynamicInt8Config, SchemeConfig, WeightOnlyInt4Config, WeightOnlyInt8Config, quantize
from edgelstm.quantize.gate import ParityGate
from edgelstm.quantize.registry import SchemeRefused
from edgelstm.timing import TimerSettings, time_interleaved

TARGET_COMPRESSION = 10.0
TARGET_ACCURACY_DROP_POINTS = 1.0
TARGET_RELATIVE_DROP = 0.03

# Dynamic int8 shrinks activations' compute too but sends a GRU (no int8 GRU kernel in ORT) to the Loop form;
# weight-only int8/int4 keep compute in float, so fused LSTM/GRU keep ORT's float kernels and their speed.
REPORT_SCHEMES: tuple[SchemeConfig, ...] = (DynamicInt8Config(), WeightOnlyInt8Config(), WeightOnlyInt4Config())


@dataclass
class ArtifactScore:
    """One row of the distill table: teacher or student, a scheme, its size, metric, latency and gate verdict."""

    role: str
    parameters: int
    file_bytes: int
    compression: float  # fp32 teacher file bytes / this file's bytes
    metric: TaskMetric
    metric_drop: float  # accuracy: points below the teacher; MAE / bits per char: fraction worse than the teacher
    latency_ms: float  # median, batch 1
    latency_p90_ms: float
    scheme: str = "fp32"
    # quantize's parity gate on this artifact (the student's float model as reference, the report's data): True/False,
    # None for the float rows, which quantize does not gate
    gate_passed: bool | None = None
    gate_failures: list[str] = field(default_factory=list)
    gate_verdict: str = ""  # the gate's own word ("pass", "fail", "inconclusive"); "" for the float rows


def _scored_rows(report: DistillReport) -> list[dict[str, Any]]:
    """Each row with whether it met each part of the target (judged against the teacher's row)."""
    rows = []
    for row in report.rows:
        size_ok, metric_ok = report.target_met(row)
        rows.append(
            {
                **to_jsonable(row),
                "size_target_met": size_ok,
                "metric_target_met": metric_ok,
                "speed_target_met": report.speed_met(row),
                "target_met": row.role != "teacher" and not report.missed(row),
            }
        )
    return rows


@dataclass
class DistillReport:
    """The distill comparison of teacher and student artifacts on the test data."""

    task: str
    data: str
    sequences: int
    steps: int
    settings: dict[str, Any]
    rounds: int
    rows: list[ArtifactScore] = field(default_factory=list, metadata=json_meta(compute=_scored_rows))
    # "role (scheme): reason" for each scheme quantize refused on a student (a hidden-3 GRU has no weight int4
    # storage would make smaller): said in the report instead of ending the whole distill step
    refused: list[str] = field(default_factory=list)

    def target_met(self, row: ArtifactScore) -> tuple[bool, bool]:
        """(size target met, metric target met) for one row."""
        limit = TARGET_ACCURACY_DROP_POINTS if row.metric.name == "accuracy" else TARGET_RELATIVE_DROP
        return row.compression >= TARGET_COMPRESSION, row.metric_drop <= limit

    def speed_met(self, row: ArtifactScore) -> bool:
        """No slower than the teacher's ONNX graph (the first row) at batch 1, in the same interleaved run."""
        return row.latency_ms <= self.rows[0].latency_ms

    def missed(self, row: ArtifactScore) -> list[str]:
        """What keeps a row from "met", in words; empty when the whole stated target is met."""
        size_ok, metric_ok = self.target_met(row)
        missed = [name for name, ok in (("size", size_ok), ("metric", metric_ok)) if not ok]
        if not self.speed_met(row):
            missed.append(f"speed ({row.latency_ms / self.rows[0].latency_ms:.2f}x the teacher's ONNX latency)")
        if row.gate_passed is False:
            missed.append(f"quantize's parity gate ({'INCONCLUSIVE' if row.gate_verdict == 'inconclusive' else 'FAIL'})")
        return missed

    def to_markdown(self) -> str:
        """The comparison as a Markdown table for a pull request."""
        metric = self.rows[0].metric.name
        drop_unit = "pt" if metric == "accuracy" else "%"
        lines = [
            f"| artifact | parameters | file | vs teacher | {metric} | drop | latency p50 (B=1, T={self.steps}) | gate | target |",
            "|---|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for row in self.rows:
            missed = self.missed(row)
            verdict = "—" if row.role == "teacher" else ("met" if not missed else "missed: " + ", ".join(missed))
            gate = {True: "pass", False: "FAIL", None: "not gated (float)"}[row.gate_passed]
            gate = "INCONCLUSIVE" if row.gate_verdict == "inconclusive" else gate
            value = f"{row.metric.value:.2%}" if metric == "accuracy" else f"{row.metric.value:.4g}"
            drop = row.metric_drop * (1 if metric == "accuracy" else 100)
            lines.append(
                f"| {row.role} ({row.scheme}) | {row.parameters:,} | {row.file_bytes / 1024:.1f} KB | "
                f"{row.compression:.1f}x | {value} | {drop:+.2f} {drop_unit} | {row.latency_ms:.3f} ms | {gate} | {verdict} |"
            )
        lines.extend(f"| {entry} | | | | | | | refused | not built |" for entry in self.refused)
        lines.append("")
        drop_limit = f"{TARGET_ACCURACY_DROP_POINTS:g} pt" if metric == "accuracy" else f"{TARGET_RELATIVE_DROP:.0%}"
        lines.append(
            f"target: >= {TARGET_COMPRESSION:g}x smaller than the teacher's fp32 file, <= {drop_limit} drop, no slower "
            "than the teacher's ONNX graph, and (quantized rows) passed by quantize's parity gate on this data."
        )
        lines.append(
            f"{self.sequences} held-out sequences from {self.data}; ONNX Runtime CPU EP, "
            f"{self.settings['intra_op_threads']} intra-op thread, spinning "
            f"{'on' if self.settings['allow_spinning'] else 'off'}; latency is the median of {self.rounds} interleaved rounds."
        )
        return "\n".join(lines) + "\n"

    def write(self, directory: Path) -> None:
        """Write the JSON and Markdown reports into `directory`, each atomically."""
        write_text_atomic(directory / "distill_report.json", json.dumps(to_jsonable(self), indent=2) + "\n", overwrite=True)
        write_text_atomic(directory / "distill_report.md", self.to_markdown(), overwrite=True)


def build_distill_report(
    teacher: LoadedModel,
    students: list[tuple[str, LoadedModel]],
    test: SequenceData,
    quantized: bool = True,
    rounds: int = 30,
    threads: int = 1,
    schemes: tuple[SchemeConfig, ...] = REPORT_SCHEMES,
) -> DistillReport:
    """Export the teacher and each named student (plus one graph per quantization scheme, unless not
    `quantized`); score and time all in one run."""
    if test.y is None:
        raise ConfigError(f"{test.source}: the report scores against labels/targets (`y`), and this data has none")
    settings = SessionSettings(intra_op_threads=threads)
    with tempfile.TemporaryDirectory(prefix="edgelstm-distill-report-") as tmp:
        work = Path(tmp)
        graphs: list[tuple[str, str, int, Path]] = []
        gates: list[tuple[bool | None, list[str], str]] = []  # quantize's gate verdict per graph (None: float, not gated)
        refused: list[str] = []
        for i, (role, model) in enumerate([("teacher", teacher), *students]):
            exported = export_model(model, work / f"{i}-fp32")
            if not exported.written:
                failed = exported.verification.failures()
                raise ConfigError(f"the {role} failed export verification in {len(failed)} case(s)")
            graphs.append((role, "fp32", count_parameters(model.module), exported.path))
            gates.append((None, [], ""))
            gate = ParityGate(model, test) if quantized and i > 0 else None  # what `quantize --data` would gate on
            for scheme in schemes if gate is not None else ():
                try:
                    result = quantize(
                        model, scheme, work / f"{i}-{scheme.tag}", calibration=test.take(64), gate=gate, keep_failed=True
                    )
                except SchemeRefused as exc:
                    refused.append(f"{role} ({scheme.tag}): {exc}")
                    continue
                assert result.path is not None  # keep_failed: a rejected artifact is written too, to score it
                graphs.append((role, scheme.tag, count_parameters(model.module), result.path))
                parity = result.parity or {}
                gates.append((result.parity_passed, list(parity.get("failures", [])), str(parity.get("verdict", ""))))
        sessions = [session_from_onnx(path, settings) for *_, path in graphs]
        infos = [open_artifact(path) for *_, path in graphs]  # read each graph's interface once
        metrics = [_score(info, session, test) for info, session in zip(infos, sessions, strict=True)]
        latencies = _latencies(infos, sessions, test, rounds)
        report = DistillReport(
            task=metrics[0].name, data=test.source, sequences=test.count, steps=test.max_steps,
            settings=to_jsonable(settings), rounds=rounds, refused=refused,
        )  # fmt: skip
        teacher_bytes = graphs[0][3].stat().st_size
        rows = zip(graphs, metrics, latencies, gates, strict=True)
        for (role, scheme_tag, params, path), metric, (p50, p90), (passed, failures, verdict) in rows:
            size = path.stat().st_size
            drop = _drop(metric, metrics[0])
            score = ArtifactScore(
                role, params, size, teacher_bytes / size, metric, drop, p50, p90, scheme_tag, passed, failures, verdict
            )
            report.rows.append(score)
    return report


def _drop(metric: TaskMetric, teacher: TaskMetric) -> float:
    """How much worse the student's metric is than the teacher's, in the metric's own direction."""
    if metric.name == "accuracy":
        return (teacher.value - metric.value) * 100
    return metric.relative_change(teacher)


def _score(info: ArtifactInfo, session: Any, data: SequenceData) -> TaskMetric:
    """The task metric of one artifact on the test data, run in ONNX Runtime."""
    assert data.y is not None
    interface = info.interface
    head = info.metadata.model_config.head if info.metadata and info.metadata.model_config else None
    accumulator: MetricAccumulator | None = None
    run = run_batch_first(interface, session.run)  # batch-first data, whatever the graph's layout
    for start in range(0, data.count, 256):
        rows = slice(start, start + 256)
        lengths = None if data.lengths is None else data.lengths[rows]
        output = torch.from_numpy(
            run([interface.outputs[0].name], sequence_feeds(interface, data.x[rows], lengths, data.source))[0]
        )
        if accumulator is None:
            accumulator = MetricAccumulator(task_kind(head.kind if head else "classify", output.shape[-1]))
        mask = None
        if lengths is not None:
            mask = torch.arange(data.max_steps).unsqueeze(0) < torch.from_numpy(lengths).unsqueeze(1)
        accumulator.add(output, torch.from_numpy(np.asarray(data.y[rows])), mask)
    assert accumulator is not None
    return accumulator.result()


def _latencies(infos: list[ArtifactInfo], sessions: list, data: SequenceData, rounds: int) -> list[tuple[float, float]]:
    """Batch-1 latency of every graph, interleaved in a shuffled order each round (machine noise is +-30 %)."""
    x = data.x[:1]
    lengths = None if data.lengths is None else data.lengths[:1]
    calls = [
        (session, graph_feeds(info.interface, sequence_feeds(info.interface, x, lengths, data.source)))
        for info, session in zip(infos, sessions, strict=True)
    ]
    timings = time_interleaved([partial(session.run, None, feeds) for session, feeds in calls], TimerSettings(rounds=rounds))
    return [(t.p50_ms, t.p90_ms) for t in timings]
