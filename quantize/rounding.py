"""How a float weight becomes integers: the scale granularity (one scale per output channel, or per block of input
channels) and the rounding (to nearest, or GPTQ's error-compensating rounding on the layer's input statistics).

A weight is seen as a matrix W [rows, cols]: cols are the axes its op sums over (the inputs of a MatMul, C*k of a
Conv, the inputs of a fused LSTM/GRU), rows everything else. The layer's output error on inputs x is (W - Wq) x, so
with H = E[x x^T] (the second moment of the layer's input, gathered on calibration data by
edgelstm.quantize.calibration) the expected squared output error is trace((W - Wq) H (W - Wq)^T). Round-to-nearest
minimises each weight's error alone; GPTQ (Frantar et al., 2022) quantizes one column at a time and moves the
rounding error onto the columns not yet quantized, weighted by H^-1, so correlated inputs cancel each other's error.
With H = I the two are the same.

Blocks (one scale per output channel and block of `block` input channels, DequantizeLinear-21's blocked layout) cost
scales and pay off where a few input channels carry outliers (silero-vad's encoder convs): `choose_granularity`
measures both forms on H and keeps blocks only where they cut the output error by `min_gain` or more, the largest
gains first, within a budget of extra scales.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from edgelstm.jsonio import json_meta

# Symmetric integer ranges; int8 stays symmetric (-127..127) like quantize_int8_per_channel.
QRANGE = {"int8": (-127, 127), "int4": (-8, 7)}
QMAX = {"int8": 127, "int4": 7}
# GPTQ's dampening: a share of H's mean diagonal added to the diagonal, so a rank-deficient H (few calibration
# frames, dead inputs) still has a stable inverse. 1 % is the paper's default.
DEFAULT_DAMP = 0.01


@dataclass(frozen=True)
class WeightLayout:
    """Where the stored tensor's axes go in the matrix view: the output-channel axis (one per-channel scale each),
    the axes the op sums over (the columns, in stored order) and the axis blocks would run along."""

    shape: tuple[int, ...]
    channel_axis: int
    reduce_axes: tuple[int, ...]
    block_axis: int | None

    @property
    def rows_axes(self) -> tuple[int, ...]:
        """The weight's axes that are kept apart (output channels), in order."""
        return tuple(a for a in range(len(self.shape)) if a not in self.reduce_axes)

    @property
    def cols(self) -> int:
        """How many elements one row of the matrix view holds (the product of the reduced axes)."""
        return int(np.prod([self.shape[a] for a in self.reduce_axes], dtype=np.int64))

    def to_matrix(self, array: np.ndarray) -> np.ndarray:
        """The weight as a rows x cols matrix (rounding works on rows of what one output reads)."""
        perm = (*self.rows_axes, *self.reduce_axes)
        return np.transpose(array, perm).reshape(-1, self.cols)

    def from_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """Undo `to_matrix`: the matrix back in the weight's own shape."""
        perm = (*self.rows_axes, *self.reduce_axes)
        permuted_shape = tuple(self.shape[a] for a in perm)
        return np.transpose(matrix.reshape(permuted_shape), np.argsort(perm))

    def row_channels(self) -> np.ndarray:
        """The output channel of every matrix row."""
        index = np.indices(self.shape)[self.channel_axis]
        return self.to_matrix(index)[:, 0]

    def column_groups(self, block: int) -> np.ndarray:
        """The block of every matrix column: its index along every reduced axis, the block axis divided by `block`
        (DequantizeLinear-21 keeps one scale per block and per index of every other axis)."""
        assert self.block_axis is not None
        reduce_shape = [self.shape[a] for a in self.reduce_axes]
        coords = np.indices(reduce_shape).reshape(len(reduce_shape), -1)
        position = self.reduce_axes.index(self.block_axis)
        coords[position] //= block
        dims = [int(c.max()) + 1 for c in coords]
        return np.asarray(np.ravel_multi_index(tuple(coords), dims), dtype=np.int64)


@dataclass(frozen=True)
class RoundedWeight:
    """What the graph stores for one weight: integers (int8 array; int4 values in int8 when storage is int4), scales
    and DequantizeLinear's axis / block_size (0: per channel), plus how they were found and what they cost. Its
    JSON (the quantize record's rounding plan) says how, not the arrays."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("granularity",)
    JSON_ORDER: ClassVar[tuple[str, ...]] = ("storage", "granularity", "block_size", "rounding", "output_error")

    q: np.ndarray = field(metadata=json_meta(skip=True))
    scale: np.ndarray = field(metadata=json_meta(skip=True))
    axis: int = field(metadata=json_meta(skip=True))
    block_size: int
    storage: str
    rounding: str  # nearest | gptq
    output_error: float  # trace((W - Wq) H (W - Wq)^T) / trace(W H W^T); H = I without calibration

    @property
    def granularity(self) -> str:
        """ "block" or "channel": how the scales of this weight are laid out."""
        return "block" if self.block_size else "channel"

    def dequantized(self) -> np.ndarray:
        """The float weight these integers and scales stand for (to measure the rounding error)."""
        if not self.block_size:
            shape = [-1 if a == self.axis else 1 for a in range(self.q.ndim)]
            return self.q.astype(np.float64) * self.scale.astype(np.float64).reshape(shape)
        expanded = np.repeat(self.scale.astype(np.float64), self.block_size, axis=self.axis)
        return self.q.astype(np.float64) * expanded[tuple(slice(0, n) for n in self.q.shape)]


def round_weight(
    array: np.ndarray,
    layout: WeightLayout,
    storage: str,
    block: int = 0,
    hessian: np.ndarray | None = None,
    rounding: str = "nearest",
    damp: float = DEFAULT_DAMP,
) -> RoundedWeight:
    """`array` quantized per output channel (block 0) or in blocks of `block` along `layout.block_axis`, rounded to
    nearest or by GPTQ on `hessian` (the layer input's second moment, [cols, cols]; required for gptq)."""
    if rounding == "gptq" and hessian is None:
        raise ValueError("gptq rounding needs the layer input's second moment")
    low, high = QRANGE[storage]
    qmax = QMAX[storage]
    w = layout.to_matrix(array.astype(np.float64))
    if block:
        groups = layout.column_groups(block)
        row_scale = None
    else:
        groups = None
        peak = np.abs(array.astype(np.float64)).max(axis=tuple(a for a in range(array.ndim) if a != layout.channel_axis))
        channel_scale = np.where(peak > 0, peak / qmax, 1.0)
        row_scale = channel_scale[layout.row_channels()]
    h = hessian if rounding == "gptq" else None
    q, scales = _gptq(w, h, low, high, qmax, groups, row_scale, damp)
    quantized = layout.from_matrix(q).astype(np.int8)
    dtype = array.dtype
    if block:
        assert groups is not None and layout.block_axis is not None
        expanded = layout.from_matrix(scales[:, groups])  # [shape]: each element's block scale
        scale = np.take(expanded, np.arange(0, array.shape[layout.block_axis], block), axis=layout.block_axis)
        axis = layout.block_axis
    else:
        scale, axis = channel_scale, layout.channel_axis
    result = RoundedWeight(quantized, scale.astype(dtype), axis, block, storage, rounding, 0.0)
    error = output_error(array, result.dequantized(), layout, hessian)
    return RoundedWeight(quantized, scale.astype(dtype), axis, block, storage, rounding, error)


def output_error(array: np.ndarray, dequantized: np.ndarray, layout: WeightLayout, hessian: np.ndarray | None) -> float:
    """trace(D H D^T) / trace(W H W^T) with D = W - Wq: the layer's relative output error energy on the calibration
    inputs (H = I: the weight's relative squared error)."""
    w = layout.to_matrix(array.astype(np.float64))
    d = w - layout.to_matrix(dequantized.astype(np.float64))
    if hessian is None:
        return float((d * d).sum() / max((w * w).sum(), 1e-30))
    return float(np.einsum("rc,cd,rd->", d, hessian, d) / max(np.einsum("rc,cd,rd->", w, hessian, w), 1e-30))


def _gptq(
    w: np.ndarray,
    hessian: np.ndarray | None,
    low: int,
    high: int,
    qmax: int,
    groups: np.ndarray | None,
    row_scale: np.ndarray | None,
    damp: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Column-by-column quantization of w [rows, cols]. With a hessian, each column's rounding error is spread over
    the columns after it through the upper Cholesky factor of H^-1 (GPTQ); without, plain rounding. A block's scale
    is set when its first column comes up, from the block's weights as the error feedback has left them.
    Returns (integers [rows, cols], scales [rows, groups] or row_scale [rows])."""
    w = w.copy()
    rows, cols = w.shape
    u = None
    if hessian is not None:
        h = hessian.astype(np.float64).copy()
        dead = np.diag(h) <= 0
        h[dead, dead] = 1.0  # an input never seen: its weight is rounded alone (no error to spread from it)
        h[np.diag_indices(cols)] += damp * float(np.mean(np.diag(h)))
        try:
            u = np.linalg.cholesky(np.linalg.inv(h)).T  # upper: H^-1 = U^T U
        except np.linalg.LinAlgError:
            u = None  # numerically not positive definite even damped: round to nearest
    q = np.zeros((rows, cols), np.int64)
    group_scales = np.zeros((rows, int(groups.max()) + 1 if groups is not None else 0))
    seen: set[int] = set()
    for c in range(cols):
        if groups is not None:
            g = int(groups[c])
            if g not in seen:
                seen.add(g)
                peak = np.abs(w[:, groups == g]).max(axis=1)
                group_scales[:, g] = np.where(peak > 0, peak / qmax, 1.0)
            scale = group_scales[:, g]
        else:
            assert row_scale is not None
            scale = row_scale
        column = w[:, c]
        q[:, c] = np.clip(np.round(column / scale), low, high)
        if u is not None and c + 1 < cols:
            error = (column - q[:, c] * scale) / u[c, c]
            w[:, c + 1 :] -= np.outer(error, u[c, c + 1 :])
    return q, (group_scales if groups is not None else np.asarray(row_scale))


@dataclass(frozen=True)
class GranularityChoice:
    """One weight's candidate forms, measured: its output error per channel and in blocks, and what blocks cost."""

    name: str
    channel_error: float
    block_error: float
    extra_scales: int  # scales blocks add over one per channel

    @property
    def gain(self) -> float:
        """How many times smaller the error is with blocks than per channel (inf when blocks are exact)."""
        return self.channel_error / self.block_error if self.block_error > 0 else (np.inf if self.channel_error > 0 else 1.0)


def choose_blocks(choices: list[GranularityChoice], elements: int, max_extra_scales: float, min_gain: float) -> set[str]:
    """The weights that get blocks: those whose output error blocks cut by `min_gain` or more, the largest gains
    first, while the extra scales stay within `max_extra_scales` of the quantized elements."""
    allowed = max_extra_scales * elements
    chosen: set[str] = set()
    spent = 0
    for choice in sorted(choices, key=lambda c: -c.gain):
        if choice.gain < min_gain:
            break
        if spent + choice.extra_scales <= allowed:
            chosen.add(choice.name)
            spent += choice.extra_scales
    return chosen
