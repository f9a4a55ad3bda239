"""`inspect`: what a loaded model is and what it can be exported to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgelstm.export.native import fused_unsupported_reason, streaming_unsupported_reason
from edgelstm.jsonio import to_jsonable
from edgelstm.loading import LoadedModel
from edgelstm.state import StateSpec, recurrent_state_specs, streaming_state_specs
from edgelstm.user_module import recurrent_layers


@dataclass(frozen=True)
class FormAvailability:
    """Whether one export form (sequence, streaming, ...) is available for a model, and why not when it is not."""

    form: str
    impl: str
    available: bool
    reason: str = ""


@dataclass
class ModelSummary:
    """What the `model` command reports about a loaded model: origin, size, inputs, state and export forms."""

    origin: str
    source: str
    module_class: str
    parameters: int
    size_bytes: int  # parameters and buffers as stored in the model's dtypes
    input_kind: str
    input_size: int
    config: dict[str, Any] | None
    states: list[StateSpec] = field(default_factory=list)
    streaming_states: list[StateSpec] = field(default_factory=list)
    forms: list[FormAvailability] = field(default_factory=list)
    forward: dict[str, Any] | None = None  # a user module: layout, lengths, constants and state its forward takes
    weights: str | None = None  # a factory's weights: sha256, or "none (random init)"


def summarize_model(loaded: LoadedModel) -> ModelSummary:
    """Summarise a loaded model without exporting it, so a user sees what export will do first."""
    module = loaded.module
    tensors = list(module.parameters()) + list(module.buffers())
    summary = ModelSummary(
        origin=loaded.origin,
        source=loaded.source,
        module_class=type(module).__name__,  # a wrapped user module carries the user's class name
        parameters=sum(p.numel() for p in module.parameters()),
        size_bytes=sum(t.numel() * t.element_size() for t in tensors),
        input_kind=loaded.signature.kind,
        input_size=loaded.signature.size,
        config=to_jsonable(loaded.config) if loaded.config else None,
        forward=to_jsonable(loaded.forward) if loaded.forward is not None else None,
        weights=loaded.weights_record,
    )
    summary.forms = export_forms(loaded)
    if loaded.config is not None:
        summary.states = recurrent_state_specs(loaded.config)
        if not loaded.config.bidirectional:
            summary.streaming_states = streaming_state_specs(loaded.config)
    return summary


def export_forms(loaded: LoadedModel) -> list[FormAvailability]:
    """The export forms this model can take, each with the reason when it cannot."""
    if loaded.config is None:
        loop = "needs an edgelstm SequenceModel's weights (a user module exports with torch.onnx)"
        return [
            FormAvailability("sequence", "torch.onnx", True),
            FormAvailability("sequence", "loop", False, loop),
            FormAvailability("streaming", "torch.onnx", *_user_streaming(loaded)),
        ]

    fused_reason = fused_unsupported_reason(loaded.config) or ""
    stream_reason = streaming_unsupported_reason(loaded.config) or ""
    forms = []
    for form in ("sequence", "streaming"):
        for impl in ("fused", "loop"):
            reasons = [r for r in (fused_reason if impl == "fused" else "", stream_reason if form == "streaming" else "") if r]
            forms.append(FormAvailability(form, impl, not reasons, "; ".join(reasons)))
    return forms


def _user_streaming(loaded: LoadedModel) -> tuple[bool, str]:
    """Whether a user module's recurrent layers can carry state between chunks; the streaming verification at
    export then decides whether the rest of the model is causal."""
    if loaded.forward is None:
        return False, "a .pt2 program: give the package.module:factory it came from"

    layers = recurrent_layers(loaded.user_module)
    if not layers:
        return False, "no nn.LSTM/nn.GRU layer whose state a graph could carry"
    if any(layer.bidirectional for layer in layers):
        return False, "a bidirectional recurrent layer: each step depends on later steps"
    if not all(layer.batch_first for layer in layers):
        return False, "a recurrent layer is not batch_first"
    return True, ""
