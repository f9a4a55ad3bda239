"""The parity gate as a quantization step: an artifact that fails it is not published (like a failed export)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgelstm.artifact.runners import ort_format_problem
from edgelstm.jsonio import to_jsonable
from edgelstm.loading import LoadedModel
from edgelstm.parity import CheckConfig, TolerancePolicy, run_check
from edgelstm.parity.data import SequenceData
from edgelstm.parity.reference import TorchReferences

# The key a summary carries instead of the gate's figures when the artifact was not gated; its value says why.
NOT_GATED = "not_gated"


@dataclass(frozen=True)
class ParityGate:
    """cpu provider, float64 torch reference, held-out data plus stress inputs incl. 10x-long sequences."""

    reference: LoadedModel
    data: SequenceData | None
    policy: TolerancePolicy = field(default_factory=TolerancePolicy.defaults)
    # One gate judges every candidate of `--scheme auto` against the same model and data: the torch reference's
    # outputs are computed for the first candidate and reused by the others.
    references: TorchReferences = field(init=False, repr=False, compare=False)
    ranking_note: str = field(default="", compare=False)  # set on a for_ranking gate: what its data is
    stress: bool = True  # False only on a for_ranking gate
    # The artifact must also ship to ORT Mobile (a recipe that checks the mobile provider): one that ORT format cannot
    # hold (int4 initializers in onnxruntime 1.32) cannot win, whatever its figures on cpu.
    ort_format: bool = False
    provider: str = "cpu"  # litert: a .tflite (quantize --target litert) is judged in the LiteRT interpreter

    def __post_init__(self) -> None:
        object.__setattr__(self, "references", TorchReferences(self.reference))  # frozen: set once, here

    def for_ranking(self, windows: int) -> ParityGate:
        """The same tolerances and verdict on at most `windows` sequences spread evenly over the data and no stress
        inputs, sharing this gate's torch references. For RANKING only (mixed's per-layer sensitivity, which
        compares task figures on the data): a verdict on an artifact that is published always comes from the full
        gate. Data of at most `windows` sequences: this gate itself."""
        if self.data is None or self.data.count <= windows:
            return self
        subset = spread_subset(self.data, windows)
        note = f"{subset.source}, no stress inputs"
        probe = ParityGate(self.reference, subset, self.policy, ranking_note=note, stress=False, ort_format=self.ort_format)
        object.__setattr__(probe, "references", self.references)  # cached by content: shared outputs stay right
        return probe

    def run(self, path: Path) -> dict[str, Any]:
        """Run the parity check on the artifact against the float64 reference; the summary says pass, FAIL or inconclusive."""
        if self.ort_format:
            if (problem := ort_format_problem(path)) is not None:
                return {"passed": False, NOT_GATED: f"cannot ship to ORT Mobile: {problem}"}
        config = CheckConfig(providers=(self.provider,), stress=self.stress)
        # The summary reads the candidate's verdict only: the torch fp32 baseline row would be computed for nothing.
        report = run_check([path], self.reference, self.data, config, self.policy, references=self.references, baseline=False)
        (candidate,) = report.candidates
        worst = candidate.worst()
        profile = next((p for p in candidate.time_profiles if p.output == "output"), None)
        summary: dict[str, Any] = {
            "passed": candidate.passed,
            # inconclusive: nothing failed but the data cannot resolve a task budget; not published, like a FAIL
            "verdict": candidate.verdict,
            "worst": f"{worst[0]} / {worst[1].name}" if worst else "",
            "max_rel_error": worst[1].max_rel_error if worst else 0.0,
            "last_step_error": profile.last_error if profile else None,
            "last_step": profile.steps[-1] if profile else None,
            "failures": (candidate.failures() + [f"inconclusive: {line}" for line in candidate.inconclusive_lines()])[:5],
        }
        for task in candidate.tasks:
            summary[task.metric] = task.value
        # every task figure with its sample size and 95 % interval (and the data size that would resolve it)
        summary["evidence"] = {t.metric: to_jsonable(t.evidence) for t in candidate.tasks if t.evidence is not None}
        return summary


def spread_subset(data: SequenceData, windows: int) -> SequenceData:
    """`windows` sequences taken evenly from the whole data (not its first ones: held-out files are often
    ordered by subject or class), with their lengths and labels."""
    rows = np.unique(np.linspace(0, data.count - 1, windows).round().astype(np.int64))
    return replace(
        data,
        x=data.x[rows],
        lengths=None if data.lengths is None else data.lengths[rows],
        y=None if data.y is None else data.y[rows],
        source=f"{data.source} ({len(rows)} of {data.count} sequences, evenly spread)",
    )
