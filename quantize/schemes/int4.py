"""Blockwise int4 weight-only quantization of MatMul weights (MatMulNBits)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgelstm.config import ModelConfig
from edgelstm.quantize.config import Int4Config, SchemeConfig
from edgelstm.quantize.graph_facts import describe_ops, op_counts
from edgelstm.quantize.registry import Handler, QuantizeInput, register


@register(Int4Config)
class Int4Handler(Handler):
    """int4 MatMul weights in blocks (ORT's MatMulNBits): the smallest file, for MatMul-heavy graphs."""

    def choose_impl(self, config: SchemeConfig, model: ModelConfig) -> str:
        """The Loop form: only there are the recurrent weights MatMuls that MatMulNBits can take."""
        return "loop"  # the recurrent weights are MatMuls only in the loop form

    def refuse(self, config: SchemeConfig, source: QuantizeInput) -> str | None:
        """Refuse a graph with no MatMul: there would be nothing to store as int4."""
        if not op_counts(source.model)["MatMul"]:
            return "int4 weight-only quantization applies to MatMul weights and this graph has none"
        return None

    def apply(self, config: SchemeConfig, source: QuantizeInput, target: Path) -> list[str]:
        """Run ORT's MatMulNBitsQuantizer on every MatMul and save the result."""
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

        assert isinstance(config, Int4Config)
        quantizer = MatMulNBitsQuantizer(
            source.model, bits=4, block_size=config.block_size, is_symmetric=config.symmetric, op_types_to_quantize=("MatMul",)
        )
        quantizer.process()
        wrapped: Any = quantizer.model  # ORT's ONNXModel wrapper after __init__, though annotated as a ModelProto
        wrapped.save_model_to_file(str(target), False)
        after = op_counts(wrapped.model)
        notes = [f"int4 weights: {describe_ops(after, ('MatMulNBits',))}"]
        fused = describe_ops(after, ("LSTM", "GRU"))
        if fused != "none":
            notes.append(f"fused recurrent ops keep float weights: {fused} (use the loop form to quantize them)")
        if after["Gather"] and source.model_config is not None and source.model_config.input_kind == "tokens":
            notes.append("the token embedding table stays float: MatMulNBits covers MatMul weights only")
        if after["MatMul"]:
            notes.append(f"left in float: {after['MatMul']} MatMul (dimensions too small for blocks of {config.block_size})")
        return notes
