"""Weight-only int8 / int4: float weights stored quantized and expanded by Cast + Mul (folded by ORT at load),
compute in float."""

from __future__ import annotations

from pathlib import Path

import onnx

from edgelstm.config import ModelConfig
from edgelstm.errors import UnsupportedGraphError
from edgelstm.quantize.calibration import gather_moments
from edgelstm.quantize.config import (
    SchemeConfig,
    WeightOnlyConfig,
    WeightOnlyInt4Config,
    WeightOnlyInt8Config,
    WeightOnlyMixedConfig,
)
from edgelstm.quantize.registry import Handler, QuantizeInput, SchemeRefused, register
from edgelstm.quantize.rounding_plan import plan_rounding
from edgelstm.quantize.weight_only import quantize_weights


@register(WeightOnlyInt8Config)
@register(WeightOnlyInt4Config)
@register(WeightOnlyMixedConfig)
class WeightOnlyHandler(Handler):
    """Weight-only int8/int4: weights stored small, compute kept float (fused kernels keep their speed)."""

    def choose_impl(self, config: SchemeConfig, model: ModelConfig) -> str:
        """The Loop form for projected LSTMs (no fused op for them), else the fused op."""
        # The fused LSTM/GRU ops keep ORT's float kernels (the speed); the fused LSTM has no projection.
        return "loop" if model.proj_size else "fused"

    def apply(self, config: SchemeConfig, source: QuantizeInput, target: Path) -> list[str]:
        """Store the graph's weights quantized (rounded by the plan where there is one) and write the file."""
        if not isinstance(config, WeightOnlyConfig):
            raise TypeError(f"{type(config).__name__} is not a weight-only config")
        model = onnx.load(str(source.path))
        plan = None
        if config.needs_plan:
            moments = None
            if config.rounding != "nearest":
                if source.calibration_source is None:
                    raise SchemeRefused(f"{config.scheme} refused: {config.rounding} rounding needs calibration data (--data)")
                moments = gather_moments(model, source.calibration_source)
            plan = plan_rounding(model, config, moments)
        try:
            quantized, report = quantize_weights(model, config, plan=plan)
        except UnsupportedGraphError as exc:
            raise SchemeRefused(f"{config.scheme} refused: {exc}") from None
        if not report.quantized:
            raise SchemeRefused(
                f"{config.scheme} refused: no float weight (of >= {config.min_elements} elements) of a Conv, MatMul, "
                "Gemm or fused LSTM/GRU/RNN here would be smaller quantized"
            )
        onnx.save(quantized, str(target))
        return report.notes() + (plan.notes() if plan is not None else [])
