"""ONNX export of recurrent models with their state: sequence and streaming forms, fused and Loop graphs."""

from edgelstm.export.api import ExportResult, build_onnx, check_onnx, export_model
from edgelstm.export.config import DEFAULT_OPSET, ExportConfig, GraphInterface, TensorSpec
from edgelstm.export.metadata import ArtifactMetadata, read_metadata
from edgelstm.export.verify import VerificationConfig, VerificationResult

__all__ = [
    "DEFAULT_OPSET",
    "ArtifactMetadata",
    "ExportConfig",
    "ExportResult",
    "GraphInterface",
    "TensorSpec",
    "VerificationConfig",
    "VerificationResult",
    "build_onnx",
    "check_onnx",
    "export_model",
    "read_metadata",
]
