"""Quantization of recurrent models: dynamic int8, calibrated static int8, fp16 and int4, checked for parity."""

from edgelstm.quantize.api import QuantizeResult, SchemeRefused, quantize
from edgelstm.quantize.config import DynamicInt8Config, Fp16Config, Int4Config, SchemeConfig, StaticInt8Config, scheme_config
from edgelstm.quantize.gate import ParityGate

__all__ = [
    "DynamicInt8Config",
    "Fp16Config",
    "Int4Config",
    "ParityGate",
    "QuantizeResult",
    "SchemeConfig",
    "SchemeRefused",
    "StaticInt8Config",
    "quantize",
    "scheme_config",
]
