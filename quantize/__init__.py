"""Quantization of recurrent models: dynamic int8, calibrated static int8, fp16, int4 and weight-only int8/int4
(per layer too: mixed precision against a budget), checked for parity."""

from edgelstm.quantize.api import QuantizeResult, quantize
from edgelstm.quantize.config import (
    DynamicInt8Config,
    Fp16Config,
    Int4Config,
    SchemeConfig,
    StaticInt8Config,
    WeightOnlyConfig,
    WeightOnlyInt4Config,
    WeightOnlyInt8Config,
    scheme_config,
)
from edgelstm.quantize.gate import ParityGate
from edgelstm.quantize.registry import SchemeRefused

__all__ = [
    "DynamicInt8Config",
    "Fp16Config",
    "Int4Config",
    "ParityGate",
    "QuantizeResult",
    "SchemeConfig",
    "SchemeRefused",
    "StaticInt8Config",
    "WeightOnlyConfig",
    "WeightOnlyInt4Config",
    "WeightOnlyInt8Config",
    "quantize",
    "scheme_config",
]
