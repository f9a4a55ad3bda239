"""Mixed precision against a budget: per layer, float / weight-only int8 / weight-only int4, chosen greedily from
each layer's measured task cost (edgelstm.quantize.sensitivity), then verified by the gate on the final artifact
before it is published (quantize's own gate: a mix that misses the budget is never written).

Greedy, because the search space is 3^layers and every trial is a gate run over the user's data: each layer starts
at the smallest precision it is not shown to break alone (passed or inconclusive; int4, else int8, else float);
while the mix misses the budget, the layer whose current precision costs the most is raised one step (int4 -> int8
-> float). Then, from the mix that passed, each layer is lowered one step at a time (the cheapest per byte saved
first) and kept there when the mix still passes: task costs do not add up (silero's single layers flip the same few
borderline decisions), so a layer that misses the budget alone can still fit in a mix. A step the layer failed
alone on resolved evidence is not tried. Objective speed caps the layers at int8 (blockwise int4 dequantization is
the slower of the two).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from edgelstm.artifact.hints import InterfaceHints
from edgelstm.files import write_artifact_pair
from edgelstm.jsonio import json_meta, to_jsonable
from edgelstm.loading import LoadedModel
from edgelstm.parity.data import SequenceData
from edgelstm.parity.evidence_strength import FAIL, INCONCLUSIVE
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
    """The per-layer search: each layer's sensitivity and chosen precision, and the mix it published (or not). Its
    JSON is the per-layer table auto shows beside its rows (the artifact's own record is its `.quant.json`)."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("precisions",)
    JSON_ORDER: ClassVar[tuple[str, ...]] = ("layers", "precisions")

    layers: list[LayerSensitivity]
    result: QuantizeResult | None = field(
        metadata=json_meta(skip=True)
    )  # the published (or, when every mix failed, the last tried) artifact
    trials: list[dict[str, Any]] = field(default_factory=list)  # each mix the gate judged, in order
    ranking_data: str = ""  # what the per-layer probes ran on, when not the gate's whole data
    published_trial: int | None = None  # the index in `trials` of the mix published (the last one that passed)

    @property
    def precisions(self) -> dict[str, str]:
        """Each layer's chosen precision, by layer name."""
        return {layer.name: layer.chosen for layer in self.layers}

    @property
    def config(self) -> WeightOnlyMixedConfig:
        """The weight-only config that stores each layer at its chosen precision."""
        return mixed_config(self.layers)


def mixed_config(
    layers: list[LayerSensitivity],
    min_elements: int = MIXED_MIN_ELEMENTS,
    block_size: int = 32,
    rounding: str = "nearest",
    granularity: str = "channel",
) -> WeightOnlyMixedConfig:
    """A mixed weight-only config from each layer's chosen precision (float layers left out)."""
    precisions = tuple((t, layer.chosen) for layer in layers if layer.chosen != "float" for t in layer.tensors)
    channel = tuple(t for layer in layers if layer.chosen == "int8" and layer.int8_form == "channel" for t in layer.tensors)
    return WeightOnlyMixedConfig(
        min_elements=min_elements,
        block_size=block_size,
        precisions=precisions,
        rounding=rounding,
        granularity=granularity,
        channel=channel,
    )


def int8_granularity(rounding: str) -> str:
    """The int8 scales of mixed's layers: those of auto's rounded int8 candidate (blocks where they cut a layer's
    output error, measured on calibration inputs) when the mix is calibrated; per channel otherwise. Per-channel
    int8 alone flipped 7-15 silero decisions per encoder conv where the blocked whole graph flipped 7 in all, so
    the search kept every such layer in float."""
    return "auto" if rounding != "nearest" else "channel"


def initial_choice(layer: LayerSensitivity, objective: str) -> str:
    """The smallest precision the layer is not shown to break alone: passed, or inconclusive (its data cannot tell:
    on silero, int8 layers alone flip 4-6 of a hard voice's 313 decisions, against 3 allowed, yet every 16 kHz
    layer but one in int8 holds the budget together). A layer the gate's data never reaches gets int8, the precision
    whole-graph weight-only uses, since its cost is unknown."""
    if not layer.reached:
        return "int8"
    allowed = ("int8",) if objective == "speed" else ("int4", "int8")
    return next((p for p in allowed if _not_refuted(layer.alone.get(p, {}))), "float")


def _not_refuted(alone: dict[str, Any]) -> bool:
    """A layer's figures alone at one precision: it passed, or the gate could not resolve the budget either way."""
    return bool(alone.get("passed")) or alone.get("verdict") == INCONCLUSIVE


def raise_one(layers: list[LayerSensitivity]) -> bool:
    """Raise the costliest quantized layer one step towards float; False when every layer is float already."""
    quantized = [layer for layer in layers if layer.chosen != "float"]
    if not quantized:
        return False
    # ties go to the layer that gives back the fewest bytes
    worst = max(quantized, key=lambda layer: (layer.cost.get(layer.chosen, 0.0), -layer.float_bytes))
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
    granularity = int8_granularity(rounding)
    # the probes rank on fewer windows where the gate offers it (ParityGate and auto's CannotWinGate do)
    for_ranking = getattr(gate, "for_ranking", None)
    ranking = for_ranking(RANKING_WINDOWS) if for_ranking is not None else gate
    with tempfile.TemporaryDirectory(prefix="edgelstm-mixed-") as tmp:
        source, metadata = _fp32_source(model, probe, Path(tmp), data, foreign)
        moments = _ranking_moments(source, metadata, data, calibration_stream) if rounding != "nearest" else None
        layers = measure_sensitivity(
            source, metadata, ranking, min_elements, block_size, rounding=rounding, moments=moments, granularity=granularity
        )
    if not layers:
        raise SchemeRefused(f"mixed refused: no float weight of >= {min_elements} elements to quantize")
    for layer in layers:
        layer.chosen = initial_choice(layer, objective)
    mixed = MixedResult(layers, None)
    mixed.ranking_data = getattr(ranking, "ranking_note", "")
    passed: list[QuantizeResult] = []
    with tempfile.TemporaryDirectory(prefix="edgelstm-mixed-trials-") as trials:
        failed: dict[tuple[str, ...], QuantizeResult] = {}

        def trial() -> QuantizeResult:
            """The current mix quantized and gated in a scratch folder: a passing mix is written there (a later
            passing one replaces it), a failing one is not; only the mix that passed last is published. A mix
            that failed before (raised into, then lowered back to) is not gated twice."""
            mix = tuple(layer.chosen for layer in layers)
            if mix in failed:
                return failed[mix]
            config = mixed_config(layers, min_elements, block_size, rounding, granularity)
            result = quantize(
                model, config, Path(trials), data, True, gate, foreign=foreign, calibration_stream=calibration_stream
            )
            figures = {k: v for k, v in (result.parity or {}).items() if k != "failures"}
            mixed.trials.append({"precisions": {la.name: la.chosen for la in layers}, "size_bytes": result.size_bytes, **figures})
            mixed.result = result
            if result.parity_passed:
                passed.append(result)
                mixed.published_trial = len(mixed.trials) - 1
            else:
                failed[mix] = result
            return result

        if not raise_until_pass(layers, trial):
            return mixed  # every layer float again, or declined: no mix passed (the last trial is in .result)
        lower_while_passing(layers, trial, objective)
        mixed.result = publish(passed[-1], Path(out_dir), overwrite)
    return mixed


def publish(result: QuantizeResult, out_dir: Path, overwrite: bool) -> QuantizeResult:
    """Move a gated mix from the scratch folder into `out_dir`, its sidecar rewritten with the published path."""
    assert result.path is not None
    target = out_dir / result.path.name
    data = result.path.read_bytes()
    result.path = target
    try:
        write_artifact_pair(
            target, data, target.with_suffix(".quant.json"), json.dumps(to_jsonable(result), indent=2) + "\n", overwrite
        )
    except BaseException:
        result.path = None
        raise
    return result


def raise_until_pass(layers: list[LayerSensitivity], trial: Callable[[], QuantizeResult]) -> bool:
    """Gate the mix, raising the costliest layer one step after each miss; True once a mix passed. False when every
    layer is float again, or the gate declined the mix (larger than a passing candidate: raising only adds bytes)."""
    while any(layer.chosen != "float" for layer in layers):
        result = trial()
        if result.parity_passed:
            return True
        if (result.parity or {}).get(NOT_GATED):
            return False
        raise_one(layers)
    return False


def lowering_steps(layers: list[LayerSensitivity], objective: str) -> list[tuple[LayerSensitivity, str]]:
    """Each (layer, one step lower) worth a trial, the cheapest alone cost per byte saved first. Left out: layers
    the data never reaches (a lower step would pass unseen), steps past objective speed's int8 floor, and steps the
    layer failed alone on resolved evidence."""
    floor = STEPS.index("int8") if objective == "speed" else 0
    steps = []
    for layer in layers:
        index = STEPS.index(layer.chosen)
        if not layer.reached or index <= floor:
            continue
        lower = STEPS[index - 1]
        if layer.alone.get(lower, {}).get("verdict") == FAIL:
            continue
        saved = max(stored_bytes(layer, layer.chosen) - stored_bytes(layer, lower), 1)
        steps.append((layer, lower, layer.cost.get(lower, 0.0) / saved))
    return [(layer, lower) for layer, lower, _ in sorted(steps, key=lambda s: s[2])]


def lower_while_passing(layers: list[LayerSensitivity], trial: Callable[[], QuantizeResult], objective: str) -> None:
    """From a passing mix: lower one layer one step, keep it where the mix still passes, else put it back; until no
    step is left to try (each (layer, step) is tried once)."""
    tried: set[tuple[str, str]] = set()
    while True:
        steps = [(layer, lower) for layer, lower in lowering_steps(layers, objective) if (layer.name, lower) not in tried]
        if not steps:
            return
        layer, lower = steps[0]
        tried.add((layer.name, lower))
        before, layer.chosen = layer.chosen, lower
        if not trial().parity_passed:
            layer.chosen = before


def stored_bytes(layer: LayerSensitivity, precision: str) -> float:
    """A layer's weight bytes at `precision` (scales left out: they rank steps, they do not size the file)."""
    return layer.float_bytes * {"float": 1.0, "int8": 0.25, "int4": 0.125}[precision]


def _ranking_moments(source: Path, metadata: Any, data: SequenceData | None, stream: StreamData | None) -> Moments | None:
    """Layer-input statistics for the per-layer ranking, from the same calibration data the mixes use (None when
    there is none: the ranking then rounds to nearest, as the mix itself could not do better)."""
    import onnx

    feeds = _calibration_feeds(data, metadata, 0) if data is not None and metadata.interface.impl != "foreign" else None
    calibration = _calibration_source(metadata, feeds, data, stream)
    return gather_moments(onnx.load(str(source)), calibration) if calibration is not None else None
