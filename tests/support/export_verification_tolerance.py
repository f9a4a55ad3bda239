"""Helpers and fixtures that both halves of tests/test_export_verification_tolerance.py need:
tests/unit/test_export_verification_tolerance.py and tests/e2e/test_export_verification_tolerance_cli.py."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

BEYOND, WITHIN = 1e-4, 2e-6  # added to the head's bias: every logit moves by exactly this much


def _shift_head_bias(graph: onnx.ModelProto, delta: float) -> onnx.ModelProto:
    bias = next(i for i in graph.graph.initializer if i.name == "head_bias")
    array = numpy_helper.to_array(bias).astype(np.float64) + delta
    bias.CopyFrom(numpy_helper.from_array(array.astype(np.float32), bias.name))
    return graph
