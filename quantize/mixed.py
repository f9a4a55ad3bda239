"""Mixed precision against a budget: per layer, float / weight-only int8 / weight-only int4, chosen greedily from
each layer's measured task cost (edgelstm.quantize.sensitivity), then verified by the gate on the final artifact
before it is published (quantize's own gate: a mix that misses the budget is never written).

Greedy, because the search space is 3^layers and every trial is a gate run over the user's data: each layer starts
at the smallest precision it survives alone (int4, else int8, else float); while the mix misses the budget, the
layer whose current precision costs the most is raised one step (int4 -> int8 -> float). Objective speed caps the
layers at int8 (blockwise int4 dequantization is the slower of the two).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgelstm.artifact.hints import InterfaceHints
from edgelstm.jsonio import to_jsonable
from edgelstm.loading import LoadedModel
from edgelstm.parity.data import SequenceData
from edgelstm.parity.stream_data import StreamData
from edgelstm.quantize.api import Gate, QuantizeResult, _calibration_feeds, _calibration_source, _fp32_source, quantize
from edgelstm.quantize.calibration import gather_moments
from edgelstm.quantize.config import WeightOnlyMixedConfig
from edgelstm.quantize.gate import NOT_GATED
from edgelstm.quantize.moments import Moments
from edgelstm.quantize.registry import SchemeRefused
from edgelstm.quantize.sensitivity import LayerSensitivity, measure_sensitivity

STEPS = ("int4", "int8", "float")  # from smallest to safest
# Smaller than whole-graph weight-only's floor (1024): a 24x12x3 Conv or a 4x48 head still saves bytes net of its
# scales and expanding nodes, and here each layer's cost is measured rather than assumed (the Conv1d+BiGRU
# user module's conv and head were 4.3 kB of float beside 18.4 kB of int8 GRU matrices).
MIXED_MIN_ELEMENTS = 256
# Sequences the per-layer sensitivity runs on: the probes only RANK layers (4 probes were ~2 s of auto's time on the
# README model's 1484 windows); the chosen mix is then gated on all of the data before it is published.
RANKING_WINDOWS = 256


@dataclass
class MixedResult:
    """The per-layer search: each layer's sensitivity and chosen precision, and the mix it published (or not)."""

    layers: list[LayerSensitivity]
    result: QuantizeResult | None  # the published (or, when every mix failed, the last tried) artifact
    trials: list[dict[str, Any]] = field(default_factory=list)  # each mix the gate judged, in order
    ranking_data: str = ""  # what the per-layer probes ran on, when not the gate's whole data

    @property
    def config(self) -> WeightOnlyMixedConfig:
        """The weight-only config that stores each layer at its chosen precision."""
        return mixed_config(self.layers)

    def to_dict(self) -> dict[str, Any]:
        """The search as JSON: the per-layer table auto shows beside its rows."""
        return {
            "layers": [to_jsonable(layer) for layer in self.layers],
            "precisions": {layer.name: layer.chosen for layer in self.layers},
            "trials": self.trials,
            "ranking_data": self.ranking_data,
        }


def mixed_config(
    layers: list[LayerSensitivity], min_elements: int = MIXED_MIN_ELEMENTS, block_size: int = 32, rounding: str = "nearest"
) -> WeightOnlyMixedConfig:
    """A mixed weight-only config from each layer's chosen precision (float layers left out)."""
    precisions = tuple((t, layer.chosen) for layer in layers if layer.chosen != "float" for t in layer.tensors)
    return WeightOnlyMixedConfig(min_elements=min_elements, block_size=block_size, precisions=precisions, rounding=rounding)


def initial_choice(layer: LayerSensitivity, objective: str) -> str:
    """The smallest precision the layer survives alone; a layer the gate's data never reaches gets int8, the
    precision whole-graph weight-only uses, since its cost is unknown."""
    if not layer.reached:
        return "int8"
    allowed = ("int8",) if objective == "speed" else ("int4", "int8")
    return next((p for p in allowed if layer.alone.get(p, {}).get("passed")), "float")


def raise_one(layers: list[LayerSensitivity]) -> bool:
    """Raise the costliest quantized layer one step towards float; False when every layer is float already."""
    quantized = [layer for layer in layers if layer.chosen != "float"]
    if not quantized:
        return False
    worst = max(quantized, key=lambda layer: (layer.cost.get(layer.chosen, 0.0), layer.float_bytes))
    worst.chosen = STEPS[STEPS.index(worst.chosen) + 1]
    return True


def search_mixed(
    model: LoadedModel | Path,
    gate: Gate,
    out_dir: Path,
    data: SequenceData | None = None,
    foreign: InterfaceHints | None = None,
    objective: str = "size",
    min_elements: int = MIXED_MIN_ELEMENTS,
    block_size: int = 32,
    overwrite: bool = False,
    rounding: str = "nearest",
    calibration_stream: StreamData | None = None,
) -> MixedResult:
    """Measure every layer, choose, and publish the first mix that passes the gate (quantize gates it). When none
    passes, `.result` is the last mix tried (not written) and every layer is float. `rounding`: how each mix's
    weights are rounded, calibrated on `data` or `calibration_stream`; the per-layer ranking rounds each layer the
    same way (statistics gathered once), so a layer is not kept in float for failing at a rounding it will not get.

    Raises SchemeRefused when the graph has no weight to quantize."""
    probe = WeightOnlyMixedConfig(min_elements=min_elements, block_size=block_size)
    # the probes rank on fewer windows where the gate offers it (ParityGate and auto's CannotWinGate do)
    for_ranking = getattr(gate, "for_ranking", None)
    ranking = for_ranking(RANKING_WINDOWS) if for_ranking is not None else gate
    with tempfile.TemporaryDirectory(prefix="edgelstm-mixed-") as tmp:
        source, metadata = _fp32_source(model, probe, Path(tmp), data, foreign)
        moments = _ranking_moments(source, metadata, data, calibration_stream) if rounding != "nearest" else None
        layers = measure_sensitivity(source, metadata, ranking, min_elements, block_size, rounding=rounding, moments=moments)
    if not layers:
        raise SchemeRefused(f"mixed refused: no float weight of >= {min_elements} elements to quantize")
    for layer in layers:
        layer.chosen = initial_choice(layer, objective)
    mixed = MixedResult(layers, None)
    mixed.ranking_data = getattr(ranking, "ranking_note", "")
    while any(layer.chosen != "float" for layer in layers):
        config = mixed_config(layers, min_elements, block_size, rounding)
        result = quantize(
            model,
            config,
            out_dir,
            calibration=data,
            overwrite=overwrite,
            gate=gate,
            foreign=foreign,
            calibration_stream=calibration_stream,
        )
        figures = {k: v for k, v in (result.parity or {}).items() if k != "failures"}
        mixed.trials.append({"precisions": {la.name: la.chosen for la in layers}, "size_bytes": result.size_bytes, **figures})
        mixed.result = result
        if result.parity_passed:
            return mixed
        if (result.parity or {}).get(NOT_GATED):
            return mixed  # larger than a passing candidate; raising a layer towards float only adds bytes
        raise_one(layers)
    return mixed  # every layer float again: no mix passed (the last failed trial is in .result)


def _ranking_moments(source: Path, metadata: Any, data: SequenceData | None, stream: StreamData | None) -> Moments | None:
    """Layer-input statistics for the per-layer ranking, from the same calibration data the mixes use (None when
    there is none: the ranking then rounds to nearest, as the mix itself could not do better)."""
    import onnx

    feeds = _calibration_feeds(data, metadata, 0) if data is not None and metadata.interface.impl != "foreign" else None
    calibration = _calibration_source(metadata, feeds, data, stream)
    return gather_moments(onnx.load(str(source)), calibration) if calibration is not None else None
