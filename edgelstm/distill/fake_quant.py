"""Quantization-aware distillation: train the student through the rounding its int8 artifact will apply.

Emulates `quantize` dynamic-int8 as ONNX Runtime computes it:
- weights: symmetric int8, scale = max|w| / 127 (7-bit: / 64, ORT's reduced range), per tensor or per output
  row (`per_channel`); the fused LSTM's W/R, the Loop form's MatMuls, the head and the embedding table;
- activations: asymmetric uint8 over the tensor's [min, max] (0 included), recomputed every call as ORT's
  DynamicQuantizeLinear does: each layer's input sequence once, h before every recurrent product (every
  step), and the head's input.
The recurrence therefore runs step by step here (slower than torch's fused kernel; students are small).
Gradients pass straight through the rounding (STE).

Measured against ONNX Runtime 1.32 (7-bit weights): the GRU Loop form matches to 1e-7 (the same arithmetic);
DynamicQuantizeLSTM's own kernel rounds slightly differently, and the emulation halves the fp32 model's error
against it rather than matching it exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from edgelstm.config import ModelConfig
from edgelstm.errors import ConfigError
from edgelstm.model import SequenceModel, State
from edgelstm.sequence_ops import reverse_padded, step_mask


@dataclass(frozen=True)
class FakeQuantSpec:
    """How the student's weights are fake-quantized while training, to match the scheme it will be shipped in."""

    scheme: str = "dynamic-int8"
    per_channel: bool = False
    # 7-bit weights (ORT's reduce_range). The default: x86 CPUs without VNNI saturate u8 x s8 pairwise sums with
    # 8-bit weights, which no emulation can follow (measured here: 0.1 logit error from saturation alone), and
    # training through the coarser 7-bit rounding loses nothing when the graph is later stored with 8 bits.
    reduce_range: bool = True
    activations: bool = True

    def __post_init__(self) -> None:
        if self.scheme != "dynamic-int8":
            raise ConfigError(f"quantization-aware distillation emulates dynamic-int8 only, not {self.scheme!r}")

    @property
    def weight_qmax(self) -> int:
        """The largest integer a weight rounds to (64 with ORT's reduce_range, else 127)."""
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


def fake_quant_forward(
    model: SequenceModel, spec: FakeQuantSpec, x: Tensor, lengths: Tensor | None = None
) -> tuple[Tensor, State]:
    """model(x, lengths) computed as the dynamic-int8 graph computes it; gradients reach the float weights.

    The recurrence runs step by step (not torch's fused kernel) so h can be re-quantized at every step, as
    ONNX Runtime does before each recurrent matrix product.
    """
    cfg = model.config
    model.check_inputs(x, lengths)
    names = set(quantized_weight_names(model))
    params = {
        name: fake_quantize_weight(p, spec.weight_qmax, spec.per_channel) if name in names else p
        for name, p in model.named_parameters()
    }
    act = fake_quantize_activation if spec.activations else _identity
    features = F.embedding(x.long(), params["embedding.weight"]) if model.embedding is not None else x
    out, state = _recurrent_stack(cfg, params, features, lengths, act)
    pooled = model._pool(out, state[0], lengths) if cfg.head.is_pooled else out
    logits = F.linear(act(pooled), params["head.weight"], params["head.bias"])
    if cfg.head.kind == "forecast":
        logits = logits.reshape(*logits.shape[:-1], cfg.head.horizon, cfg.head.num_outputs)
    return logits, state


def _identity(x: Tensor) -> Tensor:
    """No fake quantization: the tensor as it is."""
    return x


def _recurrent_stack(
    cfg: ModelConfig, params: dict[str, Tensor], x: Tensor, lengths: Tensor | None, act: Callable[[Tensor], Tensor]
) -> tuple[Tensor, State]:
    """The recurrent layers run step by step with fake-quantized weights (torch's fused kernels cannot take them)."""
    batch, steps = x.shape[0], x.shape[1]
    mask = step_mask(lengths, batch, steps, x.device) if lengths is not None else None
    finals_h, finals_c = [], []
    layer_input = x
    for layer in range(cfg.num_layers):
        outputs = []
        for direction in range(cfg.num_directions):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            weights = {k: params[f"rnn.{k}{suffix}"] for k in _CELL_PARAMS[cfg.cell] if f"rnn.{k}{suffix}" in params}
            seq = reverse_padded(layer_input, lengths) if direction else layer_input
            out, h, c = _run_cell(cfg, weights, seq, mask, act)
            outputs.append(reverse_padded(out, lengths) if direction else out)
            finals_h.append(h)
            finals_c.append(c)
        layer_input = torch.cat(outputs, dim=-1)
    if cfg.has_cell_state:
        return layer_input, (torch.stack(finals_h), torch.stack(finals_c))
    return layer_input, (torch.stack(finals_h),)


_CELL_PARAMS = {
    "lstm": ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"),
    "peephole": ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_ph"),
    "gru": ("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
}


def _run_cell(
    cfg: ModelConfig, w: dict[str, Tensor], x: Tensor, mask: Tensor | None, act: Callable[[Tensor], Tensor]
) -> tuple[Tensor, Tensor, Tensor]:
    """One layer over the sequence with fake-quantized weights, states frozen past each length."""
    batch = x.shape[0]
    width = w["weight_hh"].shape[1]  # the projected size when the LSTM has a projection
    h = x.new_zeros(batch, width)
    c = x.new_zeros(batch, cfg.hidden_size)
    projected = F.linear(act(x), w["weight_ih"], w["bias_ih"])  # one quantization over the whole sequence
    outputs = []
    for t in range(x.shape[1]):
        recurrent = F.linear(act(h), w["weight_hh"], w["bias_hh"])  # h re-quantized at every step
        if cfg.cell == "gru":
            x_r, x_z, x_n = projected[:, t].chunk(3, dim=-1)
            h_r, h_z, h_n = recurrent.chunk(3, dim=-1)
            r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
            h_new, c_new = (1 - z) * torch.tanh(x_n + r * h_n) + z * h, c
        else:
            g_i, g_f, g_g, g_o = (projected[:, t] + recurrent).chunk(4, dim=-1)
            if cfg.cell == "peephole":
                p_i, p_f = w["weight_ph"][0], w["weight_ph"][1]
                g_i, g_f = g_i + p_i * c, g_f + p_f * c
            c_new = torch.sigmoid(g_f) * c + torch.sigmoid(g_i) * torch.tanh(g_g)
            g_o = g_o + w["weight_ph"][2] * c_new if cfg.cell == "peephole" else g_o
            h_new = torch.sigmoid(g_o) * torch.tanh(c_new)
            if "weight_hr" in w:
                h_new = F.linear(act(h_new), w["weight_hr"])
        if mask is not None:
            keep = mask[:, t].unsqueeze(-1)
            h_new, c_new = torch.where(keep, h_new, h), torch.where(keep, c_new, c)
            outputs.append(torch.where(keep, h_new, torch.zeros_like(h_new)))
        else:
            outputs.append(h_new)
        h, c = h_new, c_new
    return torch.stack(outputs, dim=1), h, c
