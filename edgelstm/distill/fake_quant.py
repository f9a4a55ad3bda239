"""Quantization-aware distillation: train the student through the rounding its int8 artifact will apply.

Emulates `quantize` dynamic-int8 as ONNX Runtime computes it:
- weights: symmetric int8, scale = max|w| / 127 (7-bit: / 64, ORT's reduced range), per tensor or per output
  row (`per_channel`); the fused LSTM's W/R, the Loop form's MatMuls, the head and the embedding table;
- activations: asymmetric uint8 over the tensor's [min, max] (0 included), recomputed every call as ORT's
  DynamicQuantizeLinear does, at the recurrent stack's input and the head's input.
Not emulated: the per-step quantization of h inside DynamicQuantizeLSTM and between stacked layers, which
nn.LSTM's fused kernel does not expose. Gradients pass straight through the rounding (STE).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from edgelstm.errors import ConfigError


@dataclass(frozen=True)
class FakeQuantSpec:
    scheme: str = "dynamic-int8"
    per_channel: bool = False
    reduce_range: bool = False  # 7-bit weights, as ORT's reduce_range
    activations: bool = True

    def __post_init__(self) -> None:
        if self.scheme != "dynamic-int8":
            raise ConfigError(f"quantization-aware distillation emulates dynamic-int8 only, not {self.scheme!r}")

    @property
    def weight_qmax(self) -> int:
        return 64 if self.reduce_range else 127


def fake_quantize_weight(weight: Tensor, qmax: int, per_channel: bool) -> Tensor:
    """Symmetric round-to-nearest with a straight-through gradient."""
    if per_channel and weight.dim() >= 2:
        absmax = weight.detach().abs().amax(dim=tuple(range(1, weight.dim())), keepdim=True)
    else:
        absmax = weight.detach().abs().max()
    scale = torch.clamp(absmax / qmax, min=torch.finfo(weight.dtype).tiny)
    quantized = torch.clamp(torch.round(weight / scale), -qmax, qmax) * scale
    return weight + (quantized - weight).detach()


def fake_quantize_activation(x: Tensor) -> Tensor:
    """Asymmetric uint8 over the tensor's own range (0 included), as DynamicQuantizeLinear computes it."""
    lo = torch.clamp(x.detach().min(), max=0.0)
    hi = torch.clamp(x.detach().max(), min=0.0)
    scale = torch.clamp((hi - lo) / 255.0, min=torch.finfo(x.dtype).tiny)
    zero_point = torch.clamp(torch.round(-lo / scale), 0, 255)
    quantized = (torch.clamp(torch.round(x / scale) + zero_point, 0, 255) - zero_point) * scale
    return x + (quantized - x).detach()


def quantized_weight_names(model: nn.Module) -> list[str]:
    """The parameters dynamic-int8 stores as int8: every weight matrix except the peephole vectors."""
    return [name for name, p in model.named_parameters() if p.dim() >= 2 and "weight_ph" not in name]


def fake_quant_forward(model: nn.Module, spec: FakeQuantSpec, *args: Any) -> Any:
    """model(*args) with int8-rounded weights (and activations); gradients reach the float weights."""
    names = set(quantized_weight_names(model))
    params = {
        name: fake_quantize_weight(p, spec.weight_qmax, spec.per_channel) if name in names else p
        for name, p in model.named_parameters()
    }
    if not spec.activations:
        return functional_call(model, params, args)
    with _activation_hooks(model):
        return functional_call(model, params, args)


@contextmanager
def _activation_hooks(model: nn.Module) -> Iterator[None]:
    handles = []
    for name in ("rnn", "head"):
        module = getattr(model, name, None)
        if isinstance(module, nn.Module):
            handles.append(module.register_forward_pre_hook(_quantize_first_input))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _quantize_first_input(module: nn.Module, args: tuple) -> tuple:
    first = args[0]
    if isinstance(first, nn.utils.rnn.PackedSequence):
        # Padding never reaches the packed data, so the range is the valid steps' range, as in the exported graph
        # where padded steps are zeros (and 0 is always inside the range).
        first = first._replace(data=fake_quantize_activation(first.data))
    elif isinstance(first, Tensor) and first.is_floating_point():
        first = fake_quantize_activation(first)
    return (first, *args[1:])
