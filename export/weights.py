"""Per-layer, per-direction recurrent weights of a SequenceModel, as numpy arrays in torch's gate order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from edgelstm.model import SequenceModel

# Row blocks of torch's stacked gate matrices.
TORCH_LSTM_GATES = ("i", "f", "g", "o")
TORCH_GRU_GATES = ("r", "z", "n")
# ONNX orders: LSTM i, o, f, c(=g); GRU z, r, h(=n).
ONNX_LSTM_ORDER = ("i", "o", "f", "g")
ONNX_GRU_ORDER = ("z", "r", "n")


@dataclass(frozen=True)
class DirectionWeights:
    """One direction of one layer. Shapes: w_ih [G*H, I], w_hh [G*H, Hout], biases [G*H]."""

    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray
    w_proj: np.ndarray | None  # [Hout, H] (LSTM proj_size)
    w_peephole: np.ndarray | None  # [3, H] for gates i, f, o


def direction_weights(model: SequenceModel, layer: int, direction: int) -> DirectionWeights:
    """One layer's weights for one direction, in ONNX's gate order, read from torch's parameter names."""
    suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
    rnn = model.rnn

    def get(name: str) -> np.ndarray | None:
        tensor = getattr(rnn, f"{name}{suffix}", None)
        return None if tensor is None else tensor.detach().to(torch.float32).cpu().numpy()

    w_ih, w_hh, b_ih, b_hh = get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")
    assert w_ih is not None and w_hh is not None and b_ih is not None and b_hh is not None
    return DirectionWeights(w_ih, w_hh, b_ih, b_hh, get("weight_hr"), get("weight_ph"))


def reorder_gates(matrix: np.ndarray, torch_order: tuple[str, ...], target_order: tuple[str, ...]) -> np.ndarray:
    """Permute the gate blocks along axis 0 from torch's order to another."""
    blocks = dict(zip(torch_order, np.split(matrix, len(torch_order), axis=0), strict=False))
    return np.concatenate([blocks[g] for g in target_order], axis=0)
