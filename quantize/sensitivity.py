"""Per-layer sensitivity: what storing one layer's weights at a lower precision, alone, costs the task.

The cost is the gate's own metric on the gate's own data (decisions flipped and max |dp| through the streaming
gate for a graph that carries state; the parity gate's task figures and errors for an edgelstm model), so the
mixed-precision search (edgelstm.quantize.mixed) spends the user's budget where it buys the most bytes.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import onnx

from edgelstm.artifact.child import crash_reason
from edgelstm.artifact.metadata import ArtifactMetadata, attach_metadata
from edgelstm.quantize.api import Gate
from edgelstm.quantize.config import WeightOnlyMixedConfig
from edgelstm.quantize.gate import ParityGate
from edgelstm.quantize.moments import Moments
from edgelstm.quantize.rounding_plan import plan_rounding
from edgelstm.quantize.weight_only import quantize_weights, weight_layers

PRECISIONS = ("int8", "int4")
# The figures of a gate summary worth keeping per layer (the rest is the same for every variant).
FIGURES = ("passed", "verdict", "flips", "decisions", "max_abs_delta", "top1_agreement", "accuracy_delta", "max_rel_error")


@dataclass
class LayerSensitivity:
    """One layer (the weights one node uses: a fused LSTM/GRU's W and R, one Conv, one MatMul)."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("reached",)  # derived values written after the fields

    name: str
    tensors: list[str]
    float_bytes: int
    alone: dict[str, dict[str, Any]] = field(default_factory=dict)  # precision -> the gate's figures
    cost: dict[str, float] = field(default_factory=dict)  # precision -> task cost, 1.0 = the whole budget
    chosen: str = "float"
    # int8 scales when granularity auto gave the layer blocks: both forms gated alone, the one with the lower task
    # cost kept ("blocks" or "channel"; "" when only one form exists); int8_forms holds both costs for the record
    int8_form: str = ""
    int8_forms: dict[str, float] = field(default_factory=dict)

    @property
    def reached(self) -> bool:
        """False when even int4 left the gate's figures exactly unchanged: the gate's data never runs this layer
        (silero's 8 kHz If branch under a 16 kHz stream), so its cost is unknown, not zero."""
        return any(c > 0.0 for c in self.cost.values()) or not self.cost


def task_cost(summary: dict[str, Any], gate: Gate) -> float:
    """The share of the budget a gate summary spends (> 1: over budget); larger is worse."""
    config = getattr(gate, "config", None)
    if "flips" in summary and config is not None:
        # The streaming gate holds the budget on every row (voice) as well as on the whole stream: a layer that
        # spends a hard voice's 3 flips spends the whole budget, though it is a fifth of the stream's 15.
        judged = [summary, *(row for row in summary.get("rows") or [] if "flips" in row)]
        return max(_stream_cost(part, config.max_flip_fraction, config.max_abs_delta) for part in judged)
    if summary.get("top1_agreement") is not None:
        return 1.0 - float(summary["top1_agreement"]) + float(summary.get("max_rel_error") or 0.0) * 1e-3
    return float(summary.get("max_rel_error") or 0.0)


def _stream_cost(part: dict[str, Any], max_flip_fraction: float, max_abs_delta: float) -> float:
    """One stream's (or row's) share of the budget: its flips against its own allowance, or its max |dp|."""
    allowed_flips = max(max_flip_fraction * part.get("decisions", 0), 1.0)
    return max(part["flips"] / allowed_flips, part.get("max_abs_delta", 0.0) / max_abs_delta)


def measure_sensitivity(
    source: Path,
    metadata: ArtifactMetadata,
    gate: Gate,
    min_elements: int = 1024,
    block_size: int = 32,
    precisions: tuple[str, ...] = PRECISIONS,
    rounding: str = "nearest",
    moments: Moments | None = None,
    granularity: str = "channel",
) -> list[LayerSensitivity]:
    """Each layer quantized alone at each precision and gated; the rest of the graph float. With `moments` (layer
    input statistics) and `rounding="gptq"`, each layer is rounded as the published mix would round it: a layer
    that fails alone at nearest may pass with GPTQ, and the ranking must not throw it out for the wrong rounding.
    `granularity`: the int8 scales the mix will get (auto: blocks where outliers sit), for the same reason."""
    model = onnx.load(str(source))
    layers = [
        LayerSensitivity(name, [t.name for t in tensors], sum(t.bytes_before for t in tensors))
        for name, tensors in weight_layers(model, min_elements).items()
    ]
    with tempfile.TemporaryDirectory(prefix="edgelstm-sensitivity-") as tmp:
        variants = []
        for index, layer in enumerate(layers):
            for precision in precisions:
                rounded = rounding if moments is not None else "nearest"
                config = _alone(layer, precision, min_elements, block_size, rounded, granularity)
                path = write_variant(model, config, metadata, Path(tmp) / f"{index}-{precision}.onnx", moments)
                variants.append((layer, precision, path))
                if precision == "int8" and granularity == "auto" and _has_blocks(model, config, moments):
                    # the blocks auto chose cut the layer's output error on calibration inputs; whether they also
                    # keep its decisions is the gate's to say (silero's encoder.2: 8 flips alone with, 0 without)
                    config = replace(config, channel=tuple(layer.tensors))
                    path = write_variant(model, config, metadata, Path(tmp) / f"{index}-{precision}-channel.onnx", moments)
                    variants.append((layer, CHANNEL_FORM, path))
        # The parity gate crash-probes each graph in a child process (default feeds) before it runs it here; probed
        # ahead in the background (one at a time, on the other core), each gate run finds its verdict kept
        # (crash_reason caches by bytes and feeds). The streaming gate probes with its own feeds: not ahead.
        ahead = isinstance(gate, ParityGate)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgelstm-sensitivity-probe") as probes:
            verdicts = [probes.submit(crash_reason, path) if ahead else None for _, _, path in variants]
            for (layer, precision, path), verdict in zip(variants, verdicts, strict=True):
                if verdict is not None:
                    verdict.result()  # a crash is the gate's finding: it reads the kept verdict, fails the variant
                summary = gate.run(path)
                figures, cost = {k: summary[k] for k in FIGURES if k in summary}, task_cost(summary, gate)
                if precision == CHANNEL_FORM:
                    _keep_better_int8(layer, figures, cost)
                    continue
                layer.alone[precision] = figures
                layer.cost[precision] = cost
    return layers


CHANNEL_FORM = "int8 per channel"  # the variant label of an int8 layer alone with its blocks withheld


def _has_blocks(model: onnx.ModelProto, config: WeightOnlyMixedConfig, moments: Moments | None) -> bool:
    """Whether granularity auto gives any of the config's int8 weights blocks (else both forms are one)."""
    plan = plan_rounding(model, config, moments)
    return any(weight.granularity == "block" for weight in plan.weights.values())


def _keep_better_int8(layer: LayerSensitivity, channel: dict[str, Any], cost: float) -> None:
    """The layer's int8 figures: the per-channel form's where they cost the task less than the blocks' (measured
    just before), so the ranking and the mixes use the form that keeps the decisions."""
    layer.int8_forms = {"blocks": layer.cost["int8"], "channel": cost}
    layer.int8_form = "channel" if cost < layer.cost["int8"] else "blocks"
    if layer.int8_form == "channel":
        layer.alone["int8"], layer.cost["int8"] = channel, cost


def _alone(
    layer: LayerSensitivity,
    precision: str,
    min_elements: int,
    block_size: int,
    rounding: str = "nearest",
    granularity: str = "channel",
) -> WeightOnlyMixedConfig:
    """The config that quantizes `layer`'s weights, and nothing else, at `precision`."""
    precisions = tuple((t, precision) for t in layer.tensors)
    return WeightOnlyMixedConfig(
        min_elements=min_elements, block_size=block_size, precisions=precisions, rounding=rounding, granularity=granularity
    )


def write_variant(
    model: onnx.ModelProto,
    config: WeightOnlyMixedConfig,
    metadata: ArtifactMetadata,
    path: Path,
    moments: Moments | None = None,
) -> Path:
    """The graph with `config`'s weights quantized (rounded by the plan `moments` give, when the config asks for
    it), carrying the source's interface so a gate can run it."""
    plan = plan_rounding(model, config, moments) if moments is not None and config.needs_plan else None
    quantized, _report = quantize_weights(model, config, plan=plan)
    attach_metadata(quantized, metadata)
    onnx.save(quantized, str(path))
    return path
