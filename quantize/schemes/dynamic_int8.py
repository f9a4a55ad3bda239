"""Dynamic int8 (CPU): int8 weights, activations quantized at run time."""

from __future__ import annotations

from pathlib import Path

import onnx

from edgelstm.config import ModelConfig
from quantize.config import DynamicInt8Config, SchemeConfig
from quantize.graph_facts import describe_ops, op_counts
from quantize.registry import Handler, QuantizeInput, register


@register(DynamicInt8Config)
class DynamicInt8Handler(Handler):
    def choose_impl(self, config: SchemeConfig, model: ModelConfig) -> str:
        # ORT has DynamicQuantizeLSTM (peephole included) but no int8 GRU and no projection in the fused LSTM.
        return "fused" if model.cell in ("lstm", "peephole") and not model.proj_size else "loop"

    def refuse(self, config: SchemeConfig, source: QuantizeInput) -> str | None:
        if op_counts(source.model)["GRU"]:
            return (
                "ONNX Runtime has no int8 kernel for the fused GRU op; quantize the loop form "
                "(edgelstm export --impl loop, or give the checkpoint and edgelstm picks it)"
            )
        return None

    def apply(self, config: SchemeConfig, source: QuantizeInput, target: Path) -> list[str]:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        assert isinstance(config, DynamicInt8Config)
        op_types = ["LSTM", "MatMul"] + (["Gather"] if config.quantize_embedding else [])
        quantize_dynamic(
            str(source.path),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=config.per_channel,
            reduce_range=config.reduce_range,
            op_types_to_quantize=op_types,
            # The Loop form's recurrent MatMul lives in the Loop body: without this it would stay float.
            extra_options={"EnableSubgraph": True},
        )
        after = op_counts(onnx.load(str(target), load_external_data=False))
        notes = [f"int8 compute: {describe_ops(after, ('DynamicQuantizeLSTM', 'MatMulInteger'))}"]
        if after["MatMul"] or after["LSTM"]:
            notes.append(f"left in float: {describe_ops(after, ('MatMul', 'LSTM'))}")
        return notes
