"""The parity gate: prove an exported artifact computes what the trained model computes, on every provider.

Against a torch model: `run_check`. Against an ONNX graph (a foreign graph's shipped fp32 file): the streaming
check, `run_stream_check`, gated on the decisions an app takes from the probability output, on every row of its
data (by default `builtin_speech("gate")`: one synthetic voice per row; `builtin_speech("calibration")` is the
disjoint stream a quantizer may fit to).
"""

from edgelstm.parity.evidence_strength import Evidence
from edgelstm.parity.gate import CheckConfig, run_check
from edgelstm.parity.reference import OnnxReference, Reference, TorchReference
from edgelstm.parity.report import CandidateResult, ParityReport
from edgelstm.parity.speech_corpus import builtin_speech
from edgelstm.parity.stream_check import StreamGate, run_stream_check
from edgelstm.parity.stream_verdict import StreamCheckConfig, StreamCheckReport
from edgelstm.parity.tolerances import TolerancePolicy, ToleranceSpec

__all__ = [
    "CandidateResult",
    "CheckConfig",
    "Evidence",
    "OnnxReference",
    "ParityReport",
    "Reference",
    "StreamCheckConfig",
    "StreamCheckReport",
    "StreamGate",
    "TolerancePolicy",
    "ToleranceSpec",
    "TorchReference",
    "builtin_speech",
    "run_check",
    "run_stream_check",
]
