"""ONNX export of recurrent models with their state: sequence and streaming forms, fused and Loop graphs.

What an export takes and records (`ExportConfig`, `GraphInterface`, `ArtifactMetadata`) lives in the artifact core,
`edgelstm.artifact`, which every command reads.
"""

from edgelstm.export.api import ExportResult, build_onnx, check_onnx, export_model
from edgelstm.export.verify import VerificationConfig, VerificationResult

__all__ = [
    "ExportResult",
    "VerificationConfig",
    "VerificationResult",
    "build_onnx",
    "check_onnx",
    "export_model",
]
