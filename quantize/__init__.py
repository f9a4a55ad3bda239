"""Quantization of exported recurrent graphs (dynamic/static int8, fp16, int4).

Not implemented yet: tracked in the quantization issue. Nothing here is exported so that no caller mistakes
an empty package for a working one.
"""

__all__: list[str] = []
