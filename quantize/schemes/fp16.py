"""float16 weights and compute, float32 inputs/outputs."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx

from edgelstm.artifact.child import crash_reason
from edgelstm.artifact.session import session_from_onnx, write_optimized
from edgelstm.config import ModelConfig
from edgelstm.quantize.config import Fp16Config, SchemeConfig
from edgelstm.quantize.graph_facts import op_counts
from edgelstm.quantize.registry import Handler, QuantizeInput, SchemeRefused, register


@register(Fp16Config)
class Fp16Handler(Handler):
    """float16 weights and compute (ORT's float16 converter), with float32 inputs and outputs kept."""

    def choose_impl(self, config: SchemeConfig, model: ModelConfig) -> str:
        """The Loop form for projected LSTMs (no fused op for them), else the fused op."""
        return "loop" if model.proj_size else "fused"

    def refuse(self, config: SchemeConfig, source: QuantizeInput) -> str | None:
        """Refuse graphs with a Loop: their float16 Loop bodies crash ONNX Runtime (fp16 is offered on the fused form)."""
        if op_counts(source.model)["Loop"]:
            # Seen here: the converted Loop body keeps float32 state types, and ORT 1.32 crashes (SIGSEGV) on it.
            return "fp16 conversion of Loop bodies crashes ONNX Runtime 1.32; fp16 is offered on the fused form"
        return None

    def apply(self, config: SchemeConfig, source: QuantizeInput, target: Path) -> list[str]:
        """Convert to float16 (listed ops kept float32; Transpose too if the graph crashed ORT), refused if it still crashes."""
        assert isinstance(config, Fp16Config)
        notes = []
        kept = list(config.keep_fp32_ops)
        reason = self._convert(source, target, config, kept)
        if reason is not None and "Transpose" not in kept:
            # Transposes only move data: keeping them fp32 costs no bytes and avoided the crash seen here.
            kept.append("Transpose")
            first = reason
            reason = self._convert(source, target, config, kept)
            if reason is None:
                notes.append(f"Transpose kept in float32: with it in fp16, {first}")
        if reason is not None:
            raise SchemeRefused(f"fp16 refused: {reason}")
        notes.insert(0, fp16_compute_note(target))
        if source.calibration:
            notes.append(fp16_headroom_note(source))
        if config.keep_fp32_ops:
            notes.append(f"kept in float32 by request: {', '.join(config.keep_fp32_ops)}")
        return notes

    @staticmethod
    def _convert(source: QuantizeInput, target: Path, config: Fp16Config, keep: list[str]) -> str | None:
        """Convert to float16, the ops in `keep` left float32; why ORT crashes on the result (crash probe), or None."""
        # optional: onnxruntime.transformers loads its whole transformer-optimizer package; only fp16 needs it
        from onnxruntime.transformers.float16 import convert_float_to_float16

        converted = convert_float_to_float16(
            onnx.load(str(source.path)), keep_io_types=config.keep_io_types, op_block_list=keep or None
        )
        onnx.save(converted, str(target))
        return crash_reason(target)


def fp16_compute_note(path: Path) -> str:
    """Which ops the CPU provider really runs in fp16: ORT inserts Casts around ops it has no fp16 kernel for."""
    with tempfile.TemporaryDirectory() as tmp:
        optimized = onnx.load(str(write_optimized(path, Path(tmp) / "optimized.onnx", "basic")))
    value_types = {v.name: v.type.tensor_type.elem_type for v in [*optimized.graph.value_info, *optimized.graph.input]}
    for init in optimized.graph.initializer:
        value_types[init.name] = init.data_type
    fp16_ops = sorted(
        {
            n.op_type
            for n in optimized.graph.node
            if n.op_type != "Cast" and value_types.get(n.input[0]) == onnx.TensorProto.FLOAT16
        }
    )
    fp32_rnn = sorted(
        {
            n.op_type
            for n in optimized.graph.node
            if n.op_type in ("LSTM", "GRU") and value_types.get(n.input[0]) != onnx.TensorProto.FLOAT16
        }
    )
    if fp32_rnn:
        return (
            f"CPUExecutionProvider has no fp16 {'/'.join(fp32_rnn)} kernel: ONNX Runtime casts back and computes it in "
            "float32 there (half the file size, same CPU speed); fp16 compute needs CUDA or a mobile GPU provider"
        )
    return f"CPUExecutionProvider computes in fp16: {', '.join(fp16_ops) or 'no ops'}"


FP16_MAX = 65504.0


def fp16_headroom_note(source: QuantizeInput) -> str:
    """How close the states come to fp16's range on the user's data (the cell state is unbounded in an LSTM)."""
    session = session_from_onnx(source.path)
    names = [o.name for o in session.get_outputs()]
    peaks = dict.fromkeys(names, 0.0)
    for feeds in source.calibration or []:
        for name, value in zip(names, session.run(names, feeds), strict=True):
            peaks[name] = max(peaks[name], float(np.abs(value).max()))
    worst = max(peaks, key=lambda n: peaks[n])
    if peaks[worst] >= FP16_MAX:
        return f"SATURATES: {worst} reaches {peaks[worst]:.4g} on the data, beyond fp16's {FP16_MAX:g}; keep that op in float32"
    return f"largest magnitude on the data: {worst} {peaks[worst]:.4g} ({FP16_MAX / max(peaks[worst], 1e-30):.0f}x below fp16's maximum)"
