"""Peephole LSTM layer stack (torch has none).

Gates follow the ONNX LSTM definition (and Gers & Schmidhuber): the input and forget gates see c_{t-1},
the output gate sees c_t. Parameter names mirror `nn.LSTM` (gate order i, f, g, o) plus
`weight_ph_l{k}[_reverse]` of shape [3, hidden] holding the peephole weights for gates i, f, o.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from edgelstm.sequence_ops import reverse_padded, step_mask


class PeepholeLSTM(nn.Module):
    """An LSTM whose gates also see the cell state (peephole connections), which torch's nn.LSTM cannot express."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for direction in range(directions):
                suffix = _suffix(layer, direction)
                self.register_parameter(f"weight_ih{suffix}", nn.Parameter(torch.empty(4 * hidden_size, layer_input)))
                self.register_parameter(f"weight_hh{suffix}", nn.Parameter(torch.empty(4 * hidden_size, hidden_size)))
                self.register_parameter(f"bias_ih{suffix}", nn.Parameter(torch.empty(4 * hidden_size)))
                self.register_parameter(f"bias_hh{suffix}", nn.Parameter(torch.empty(4 * hidden_size)))
                self.register_parameter(f"weight_ph{suffix}", nn.Parameter(torch.empty(3, hidden_size)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform initialisation in +-1/sqrt(hidden), the same as nn.LSTM, so the cell types train comparably."""
        # Same initialisation as nn.LSTM so the cell types train comparably.
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def layer_parameters(self, layer: int, direction: int) -> dict[str, Tensor]:
        """The weights of one layer and direction by role (input, recurrent, biases, peephole), as one direction is run with."""
        suffix = _suffix(layer, direction)
        return {name: getattr(self, f"{name}{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_ph")}

    def forward(
        self,
        x: Tensor,
        lengths: Tensor | None = None,
        state: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """x: [B, T, F] (batch first). Returns outputs [B, T, D*H] (zero past each length) and (h_n, c_n)."""
        batch, steps, _ = x.shape
        directions = 2 if self.bidirectional else 1
        if state is None:
            zeros = x.new_zeros(self.num_layers * directions, batch, self.hidden_size)
            state = (zeros, zeros)
        h0, c0 = state
        mask = step_mask(lengths, batch, steps, x.device) if lengths is not None else None
        final_h: list[Tensor] = []
        final_c: list[Tensor] = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                row = layer * directions + direction
                seq = reverse_padded(layer_input, lengths) if direction == 1 else layer_input
                out, h, c = _run_direction(seq, mask, h0[row], c0[row], **self.layer_parameters(layer, direction))
                outputs.append(reverse_padded(out, lengths) if direction == 1 else out)
                final_h.append(h)
                final_c.append(c)
            layer_input = torch.cat(outputs, dim=-1)
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                layer_input = nn.functional.dropout(layer_input, self.dropout, training=True)
        return layer_input, (torch.stack(final_h), torch.stack(final_c))


def _run_direction(
    x: Tensor,
    mask: Tensor | None,
    h: Tensor,
    c: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor,
    bias_hh: Tensor,
    weight_ph: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    # The input projection has no recurrence: do it for all steps at once.
    projected = torch.nn.functional.linear(x, weight_ih, bias_ih + bias_hh)
    p_i, p_f, p_o = weight_ph
    outputs = []
    for t in range(x.shape[1]):
        gates = projected[:, t] + torch.nn.functional.linear(h, weight_hh)
        g_i, g_f, g_g, g_o = gates.chunk(4, dim=-1)
        i = torch.sigmoid(g_i + p_i * c)
        f = torch.sigmoid(g_f + p_f * c)
        c_new = f * c + i * torch.tanh(g_g)
        o = torch.sigmoid(g_o + p_o * c_new)
        h_new = o * torch.tanh(c_new)
        if mask is not None:
            # Past a sequence's end its state stays frozen and its output is zero (as ONNX and packing do).
            keep = mask[:, t].unsqueeze(-1)
            h_new = torch.where(keep, h_new, h)
            c_new = torch.where(keep, c_new, c)
            outputs.append(torch.where(keep, h_new, torch.zeros_like(h_new)))
        else:
            outputs.append(h_new)
        h, c = h_new, c_new
    return torch.stack(outputs, dim=1), h, c


def _suffix(layer: int, direction: int) -> str:
    return f"_l{layer}" + ("_reverse" if direction == 1 else "")
