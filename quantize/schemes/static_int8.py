"""Static int8 (QDQ) with activation ranges calibrated on real data."""

from __future__ import annotations

from pathlib import Path

import onnx

from edgelstm.config import ModelConfig
from edgelstm.errors import InputShapeError
from edgelstm.quantize.compact import compact_model
from edgelstm.quantize.config import SchemeConfig, StaticInt8Config
from edgelstm.quantize.graph_facts import op_counts
from edgelstm.quantize.registry import Handler, QuantizeInput, register


@register(StaticInt8Config)
class StaticInt8Handler(Handler):
    """Static int8 (QDQ): activations quantized with ranges calibrated on data the gate does not judge."""

    def choose_impl(self, config: SchemeConfig, model: ModelConfig) -> str:
        """The unrolled form: static QDQ does not enter Loop bodies, and unrolled every weight is a top-level MatMul."""
        # Static QDQ does not enter Loop bodies and fused LSTM/GRU ops only get weight Q/DQ: unrolled, every
        # weight is a top-level MatMul. The time axis is then fixed at the calibration data's length.
        return "unrolled"

    def refuse(self, config: SchemeConfig, source: QuantizeInput) -> str | None:
        """Refuse without calibration data: static ranges cannot be guessed."""
        if not source.calibration:
            return "static int8 needs calibration data: pass --data with real inputs"
        return None

    def size_floor(self, config: SchemeConfig, source: QuantizeInput) -> int | None:
        """QDQ keeps every node of the float graph and adds Quantize/DequantizeLinear around them; at best every
        float32 weight becomes one byte per value (biases become int32). So the artifact is at least the compacted
        float graph, without its metadata, with every float32 initializer counted at one byte per value. Checked
        against built artifacts in tests/e2e/test_static_int8_floor_e2e.py."""
        import math

        compacted, _ = compact_model(source.model)  # a new proto: the source is left as it is
        del compacted.metadata_props[:]  # edgelstm's metadata is attached again to the artifact: not counted here
        floor = compacted.ByteSize()
        for tensor in compacted.graph.initializer:
            if tensor.data_type == onnx.TensorProto.FLOAT:
                floor -= 3 * math.prod(tensor.dims)
        return max(floor, 0)

    def apply(self, config: SchemeConfig, source: QuantizeInput, target: Path) -> list[str]:
        """Calibrate activation ranges on the calibration rows and run ORT's quantize_static."""
        from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

        assert isinstance(config, StaticInt8Config)
        if not source.calibration:
            raise InputShapeError("static int8 needs calibration data")

        from rich.progress import Progress

        class Reader(CalibrationDataReader):
            """Feeds calibration batches and advances a progress bar (shown on a terminal only)."""

            def __init__(self, feeds: list, progress: Progress, task: object) -> None:
                self._feeds = iter(feeds)
                self._progress, self._task = progress, task

            def get_next(self):  # type: ignore[no-untyped-def]
                """The next calibration batch as ORT feeds (None when done), advancing the progress bar."""
                batch = next(self._feeds, None)
                if batch is not None:
                    self._progress.advance(self._task)  # type: ignore[arg-type]
                return batch

        method = {
            "minmax": CalibrationMethod.MinMax,
            "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile,
        }[config.method]
        import sys

        with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
            task = progress.add_task(f"calibrating ({config.method})", total=len(source.calibration))
            quantize_static(
                str(source.path),
                str(target),
                Reader(source.calibration, progress, task),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=["MatMul", "Gather"],
                per_channel=config.per_channel,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=method,
            )
        before = op_counts(source.model)
        quantized = onnx.load(str(target), load_external_data=False)
        top_level = sum(1 for n in quantized.graph.node if n.op_type == "MatMul")
        notes = [f"QDQ int8 around {top_level} of {before['MatMul']} MatMul, activations calibrated with {config.method}"]
        batch, steps = source.interface.inputs[0].shape[:2]
        if isinstance(steps, int) and isinstance(batch, int):
            notes.append(
                f"static shapes: batch {batch}, T={steps}, no lengths input (pad shorter sequences; the states start from h_in/c_in)"
            )
        elif isinstance(steps, int):
            notes.append(f"unrolled for T={steps}: runs at exactly that length (pad shorter sequences and pass lengths)")
        if before["Loop"] or before["LSTM"] or before["GRU"]:
            notes.append(
                "recurrent weights stay float: static QDQ does not enter Loop bodies and fused LSTM/GRU ops only get "
                "weight Q/DQ while ORT still computes them in float"
            )
        return notes
