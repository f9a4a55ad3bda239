"""The parity gate: prove an exported artifact computes what the trained model computes, on every provider."""

from edgelstm.parity.gate import CheckConfig, run_check
from edgelstm.parity.report import CandidateResult, ParityReport
from edgelstm.parity.tolerances import TolerancePolicy, ToleranceSpec

__all__ = ["CandidateResult", "CheckConfig", "ParityReport", "TolerancePolicy", "ToleranceSpec", "run_check"]
