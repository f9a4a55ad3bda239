"""Scheme handlers; importing this package registers them."""

from edgelstm.quantize.schemes import dynamic_int8, fp16, int4, static_int8, weight_only

__all__ = ["dynamic_int8", "fp16", "int4", "static_int8", "weight_only"]
