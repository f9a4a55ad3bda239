"""The parity gate as a quantization step: an artifact that fails it is not published (like a failed export)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgelstm.loading import LoadedModel
from edgelstm.parity import CheckConfig, TolerancePolicy, run_check
from edgelstm.parity.data import SequenceData
from edgelstm.parity.reference import TorchReferences


@dataclass(frozen=True)
class ParityGate:
    """cpu provider, float64 torch reference, held-out data plus stress inputs incl. 10x-long sequences."""

    reference: LoadedModel
    data: SequenceData | None
    policy: TolerancePolicy = field(default_factory=TolerancePolicy.defaults)
    # One gate judges every candidate of `--scheme auto` against the same model and data: the torch reference's
    # outputs are computed for the first candidate and reused by the others.
    references: TorchReferences = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "references", TorchReferences(self.reference))  # frozen: set once, here

    def run(self, path: Path) -> dict[str, Any]:
        config = CheckConfig(providers=("cpu",))
        # The summary reads the candidate's verdict only: the torch fp32 baseline row would be computed for nothing.
        report = run_check([path], self.reference, self.data, config, self.policy, references=self.references, baseline=False)
        (candidate,) = report.candidates
        worst = candidate.worst()
        profile = next((p for p in candidate.time_profiles if p.output == "output"), None)
        summary: dict[str, Any] = {
            "passed": candidate.passed,
            "worst": f"{worst[0]} / {worst[1].name}" if worst else "",
            "max_rel_error": worst[1].max_rel_error if worst else 0.0,
            "last_step_error": profile.last_error if profile else None,
            "last_step": profile.steps[-1] if profile else None,
            "failures": candidate.failures()[:5],
        }
        for task in candidate.tasks:
            summary[task.metric] = task.value
        return summary
