"""ONNX Runtime's mobile usability check: which nodes NNAPI and CoreML would take, which fall back to CPU."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from edgelstm.errors import first_line


@dataclass(frozen=True)
class EpUsability:
    """Whether ORT Mobile can run the model on one execution provider (NNAPI, CoreML), and why not."""

    execution_provider: str
    nodes: int
    supported_nodes: int
    partitions: int
    unsupported_ops: list[str] = field(default_factory=list)
    verdict: str = ""  # ORT's suitability: YES / MAYBE / NO
    with_fixed_shapes: str = ""  # the verdict if the dynamic input shapes were made fixed
    note: str = ""  # why there is no verdict, when ORT's checker could not analyse the graph


def mobile_usability(model_path: Path) -> list[EpUsability]:
    """ORT's own mobile usability checker run on the model, one finding per mobile execution provider."""
    from onnxruntime.tools.mobile_helpers import usability_checker as uc

    logging.getLogger("usability_checker").setLevel(logging.ERROR)
    model = uc.ModelProtoWithShapeInfo(Path(model_path)).model_with_shape_info
    results = []
    checks = (
        ("NNAPI", uc.check_nnapi_partitions),
        ("CoreML MLProgram", lambda m, fixed: uc.check_coreml_partitions(m, fixed, "coreml_supported_mlprogram_ops.md")),
        ("CoreML NeuralNetwork", lambda m, fixed: uc.check_coreml_partitions(m, fixed, "coreml_supported_neuralnetwork_ops.md")),
    )
    for name, check in checks:
        try:
            info = check(model, True)
            fixed = check(model, False)
        except ValueError as exc:
            # ORT 1.32's checker rejects Loop bodies that read outer-scope values (valid ONNX, and ORT runs them).
            why = first_line(exc, 160)
            results.append(
                EpUsability(name, 0, 0, 0, verdict="UNKNOWN", with_fixed_shapes="UNKNOWN", note=f"checker failed: {why}")
            )
            continue
        results.append(
            EpUsability(
                execution_provider=name,
                nodes=info.num_nodes,
                supported_nodes=info.num_supported_nodes,
                partitions=info.num_partitions,
                unsupported_ops=sorted(info.unsupported_ops),
                verdict=info.suitability().name,
                with_fixed_shapes=fixed.suitability().name,
            )
        )
    return results
