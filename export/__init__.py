"""ONNX export of recurrent models with their state: sequence and streaming forms, fused and Loop graphs."""

from export.api import ExportResult, build_onnx, check_onnx, export_model
from export.config import DEFAULT_OPSET, ExportConfig, GraphInterface, TensorSpec
from export.metadata import ArtifactMetadata, read_metadata
from export.verify import VerificationConfig, VerificationResult

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
