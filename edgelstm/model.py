"""`SequenceModel`: input (features or token embedding) -> recurrent stack -> head."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from edgelstm.config import ModelConfig
from edgelstm.errors import ConfigError, InputShapeError, ModelTooLargeError
from edgelstm.peephole import PeepholeLSTM
from edgelstm.sequence_ops import step_mask
from edgelstm.state import streaming_state_specs

State = tuple[Tensor, ...]

# An edge model with 2^31 float32 parameters is 8 GiB: far past anything edgelstm ships, so a config asking for more
# is a mistake (hidden 10^6, layers 10^4), refused with its numbers instead of an allocation attempt.
MAX_PARAMETERS = 2**31


class SequenceModel(nn.Module):
    """The edgelstm model family.

    `forward(x, lengths=None, state=None) -> (output, final_state)` runs whole (padded) sequences;
    `forward_streaming(x_chunk, state) -> (per_step_output, state)` runs a chunk and carries every state the
    next chunk needs, which is exactly what the exported streaming graph computes.
    State tuples follow `edgelstm.state`: (h, c) for LSTM cells, (h,) for GRU, then pooling state in streaming.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        config.validate()
        check_model_size(config)  # before torch allocates: a typo'd hidden size must not try to take 16 TB
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.input_size) if config.input_kind == "tokens" else None
        stack_dropout = config.dropout if config.num_layers > 1 else 0.0
        common: dict[str, Any] = {
            "input_size": config.input_size,
            "hidden_size": config.hidden_size,
            "num_layers": config.num_layers,
            "bidirectional": config.bidirectional,
            "dropout": stack_dropout,
        }
        self.rnn: nn.Module
        if config.cell == "lstm":
            self.rnn = nn.LSTM(**common, batch_first=True, proj_size=config.proj_size)
        elif config.cell == "gru":
            self.rnn = nn.GRU(**common, batch_first=True)
        else:
            self.rnn = PeepholeLSTM(**common)
        self.head_dropout = nn.Dropout(config.dropout)
        head_outputs = config.head.num_outputs * config.head.horizon
        self.head = nn.Linear(config.recurrent_output_size, head_outputs)

    # -- inputs -------------------------------------------------------------------------------------------
    def check_inputs(self, x: Tensor, lengths: Tensor | None = None) -> None:
        """Raise InputShapeError naming the problem; called on every forward so bad input never gets far."""
        cfg = self.config
        if cfg.input_kind == "tokens":
            if x.dim() != 2 or x.dtype not in (torch.int32, torch.int64):
                raise InputShapeError(f"expected token ids [batch, time] int64, got {list(x.shape)} {x.dtype}")
        else:
            if x.dim() != 3 or x.shape[-1] != cfg.input_size:
                raise InputShapeError(f"expected x [batch, time, {cfg.input_size}], got {list(x.shape)}")
            if not x.is_floating_point():
                raise InputShapeError(f"expected floating-point features, got {x.dtype}")
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise InputShapeError(f"batch and time must be non-empty, got {list(x.shape)}")
        if lengths is not None:
            if lengths.shape != (x.shape[0],):
                raise InputShapeError(f"lengths must have shape [{x.shape[0]}], got {list(lengths.shape)}")
            if bool((lengths < 1).any()) or bool((lengths > x.shape[1]).any()):
                raise InputShapeError(f"lengths must lie in [1, {x.shape[1]}], got {lengths.tolist()}")

    def _features(self, x: Tensor) -> Tensor:
        return self.embedding(x.long()) if self.embedding is not None else x

    # -- recurrent stack ---------------------------------------------------------------------------------
    def run_recurrent(self, x: Tensor, lengths: Tensor | None, state: State | None) -> tuple[Tensor, State]:
        """Top-layer outputs [B, T, D*H] (zero past each length) and the final (h, c) / (h,) state."""
        features = self._features(x)
        rnn_state = _torch_state(self.config, state)
        if isinstance(self.rnn, PeepholeLSTM):
            out, (h, c) = self.rnn(features, lengths, rnn_state)
            return out, (h, c)
        if lengths is not None:
            packed = nn.utils.rnn.pack_padded_sequence(features, lengths.cpu(), batch_first=True, enforce_sorted=False)
            packed_out, final = self.rnn(packed, rnn_state)
            out, _ = nn.utils.rnn.pad_packed_sequence(packed_out, batch_first=True, total_length=features.shape[1])
        else:
            out, final = self.rnn(features, rnn_state)
        final_state = tuple(final) if isinstance(final, tuple) else (final,)
        return out, final_state

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: State | None = None) -> tuple[Tensor, State]:
        """Outputs and final recurrent state for a batch of sequences; `lengths` masks padding, `state` continues a stream."""
        self.check_inputs(x, lengths)
        out, final_state = self.run_recurrent(x, lengths, state)
        head = self.config.head
        if head.is_pooled:
            pooled = self._pool(out, final_state[0], lengths)
            return self._apply_head(pooled), final_state
        return self._apply_head(out), final_state

    def _pool(self, out: Tensor, h_n: Tensor, lengths: Tensor | None) -> Tensor:
        cfg = self.config
        if cfg.head.pooling == "last":
            # Final h of the top layer's directions: forward at its last valid step, backward at step 0.
            top = h_n[-cfg.num_directions :]
            return top.permute(1, 0, 2).reshape(out.shape[0], -1)
        if lengths is None:
            return out.mean(dim=1)
        mask = step_mask(lengths, out.shape[0], out.shape[1], out.device).unsqueeze(-1).to(out.dtype)
        return (out * mask).sum(dim=1) / lengths.to(out.dtype).unsqueeze(-1)

    def _apply_head(self, features: Tensor) -> Tensor:
        logits = self.head(self.head_dropout(features))
        if self.config.head.kind == "forecast":
            return logits.reshape(*logits.shape[:-1], self.config.head.horizon, self.config.head.num_outputs)
        return logits

    # -- streaming ---------------------------------------------------------------------------------------
    def initial_streaming_state(self, batch: int) -> State:
        """The zero/initial state a streaming caller feeds on the first chunk, shaped for `batch` sequences."""
        return tuple(
            torch.full([batch if d == "batch" else int(d) for d in spec.shape], spec.initial_value)
            for spec in streaming_state_specs(self.config, "stacked")  # torch holds every layer in one tensor
        )

    def forward_streaming(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Run one chunk [B, k, ...] carrying state; output per step [B, k, ...].

        For pooled heads the output at step t is the head applied to the representation pooled over every step
        seen so far, so the last step of the last chunk equals `forward(whole_sequence)`.
        """
        cfg = self.config
        if cfg.bidirectional:
            raise ConfigError("a bidirectional model cannot stream: its backward direction needs the whole sequence")
        self.check_inputs(x)
        if state is None:
            state = self.initial_streaming_state(x.shape[0])
        n_rnn = 2 if cfg.has_cell_state else 1
        out, rnn_state = self.run_recurrent(x, None, tuple(state[:n_rnn]))
        if not cfg.head.is_pooled or cfg.head.pooling == "last":
            return self._apply_head(out), rnn_state
        pool_sum, pool_count = state[n_rnn], state[n_rnn + 1]
        steps = torch.arange(1, out.shape[1] + 1, dtype=out.dtype, device=out.device).view(1, -1, 1)
        running_sum = pool_sum.unsqueeze(1) + out.cumsum(dim=1)
        running_count = pool_count.unsqueeze(1) + steps
        y = self._apply_head(running_sum / running_count)
        return y, (*rnn_state, running_sum[:, -1], running_count[:, -1])


def _torch_state(config: ModelConfig, state: State | None) -> Tensor | tuple[Tensor, Tensor] | None:
    if state is None:
        return None
    if config.has_cell_state:
        if len(state) < 2:
            raise InputShapeError("an LSTM state needs both h and c")
        return (state[0].contiguous(), state[1].contiguous())
    return state[0].contiguous()


def count_parameters(module: nn.Module) -> int:
    """The number of parameter values in `module`, as shown in model summaries."""
    return sum(p.numel() for p in module.parameters())


def check_model_size(config: ModelConfig) -> None:
    """Refuse, with the numbers, a config whose float32 weights exceed MAX_PARAMETERS or this machine's memory."""
    params = config.parameter_count()
    needed = 4 * params
    what = (
        f"the model config asks for {params:,} parameters ({_size_text(needed)} of float32 weights; "
        f"hidden_size={config.hidden_size}, num_layers={config.num_layers}, input_size={config.input_size}"
        + (f", vocab_size={config.vocab_size}" if config.vocab_size else "")
        + f", head outputs={config.head.num_outputs * config.head.horizon})"
    )
    if params > MAX_PARAMETERS:
        raise ModelTooLargeError(f"{what}, more than the {MAX_PARAMETERS:,} edgelstm builds; check the sizes in the config")
    available = available_memory()
    if available is not None and needed > available:
        raise ModelTooLargeError(f"{what}, more than the {_size_text(available)} of memory available here")


def available_memory() -> int | None:
    """Bytes of memory the kernel says can be allocated now (MemAvailable), or None where it does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _size_text(size: int) -> str:
    return f"{size / 2**30:,.1f} GiB" if size >= 2**30 else f"{size / 2**20:,.1f} MiB"
