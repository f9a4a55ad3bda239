"""The torch model family: variable lengths, state continuation, streaming semantics, the peephole cell."""

from __future__ import annotations

import itertools

import pytest
import torch

from edgelstm.config import ModelConfig
from edgelstm.errors import ConfigError, InputShapeError
from edgelstm.model import SequenceModel
from tests.conftest import tiny_model

CELLS = ["lstm", "gru", "peephole"]


def _inputs(model: SequenceModel, batch: int, steps: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if model.config.input_kind == "tokens":
        return torch.randint(0, model.config.vocab_size, (batch, steps), generator=g)
    return torch.randn(batch, steps, model.config.input_size, generator=g)


@pytest.mark.parametrize(
    "cell,bidirectional,layers,head",
    list(itertools.product(CELLS, [False, True], [1, 2], ["classify-last", "classify-mean", "per_step", "lm"])),
)
def test_padded_batch_equals_each_sequence_alone(cell: str, bidirectional: bool, layers: int, head: str) -> None:
    model = tiny_model(cell=cell, bidirectional=bidirectional, layers=layers, head=head)
    x = _inputs(model, 4, 9)
    lengths = torch.tensor([9, 3, 1, 6])
    with torch.no_grad():
        y, state = model(x, lengths)
        for b, length in enumerate(lengths.tolist()):
            y_b, state_b = model(x[b : b + 1, :length])
            expected = y_b[0]
            actual = y[b, :length] if y.dim() >= 3 and not model.config.head.is_pooled else y[b]
            torch.testing.assert_close(actual, expected, atol=1e-6, rtol=1e-5)
            if not model.config.head.is_pooled:  # padded steps must not leak garbage
                assert torch.allclose(y[b, length:], model.head.bias.expand_as(y[b, length:]))
            for s_all, s_one in zip(state, state_b, strict=False):
                torch.testing.assert_close(s_all[:, b], s_one[:, 0], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_state_carried_across_calls_equals_one_call(cell: str) -> None:
    model = tiny_model(cell=cell, layers=2, head="per_step")
    x = _inputs(model, 2, 12)
    with torch.no_grad():
        full, full_state = model(x)
        first, state = model(x[:, :5])
        second, final_state = model(x[:, 5:], state=state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), full)
    for a, b in zip(final_state, full_state, strict=False):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("cell,head", list(itertools.product(CELLS, ["classify-last", "classify-mean", "forecast", "per_step"])))
def test_streaming_chunks_reproduce_the_whole_sequence(cell: str, head: str) -> None:
    model = tiny_model(cell=cell, layers=2, head=head)
    x = _inputs(model, 3, 10)
    with torch.no_grad():
        sequence_out, _ = model(x)
        pieces, state = [], None
        for start in range(0, 10, 3):
            y, state = model.forward_streaming(x[:, start : start + 3], state)
            pieces.append(y)
        streamed = torch.cat(pieces, dim=1)
    if model.config.head.is_pooled:
        # the last step's output, pooled over everything seen, is the sequence output
        torch.testing.assert_close(streamed[:, -1], sequence_out, atol=1e-6, rtol=1e-5)
    else:
        torch.testing.assert_close(streamed, sequence_out, atol=1e-6, rtol=1e-5)


def test_bidirectional_model_refuses_to_stream() -> None:
    model = tiny_model(bidirectional=True)
    with pytest.raises(ConfigError, match="bidirectional"):
        model.forward_streaming(torch.randn(1, 4, 5))


def test_peephole_cell_follows_the_onnx_equations() -> None:
    """i and f see c_{t-1}, o sees c_t; checked by hand for one step."""
    model = tiny_model(cell="peephole", head="per_step")
    p = model.rnn.layer_parameters(0, 0)
    x = torch.randn(1, 1, 5)
    h0, c0 = torch.randn(1, 1, 8), torch.randn(1, 1, 8)
    with torch.no_grad():
        gates = x[0, 0] @ p["weight_ih"].T + p["bias_ih"] + h0[0, 0] @ p["weight_hh"].T + p["bias_hh"]
        gi, gf, gg, go = gates.chunk(4)
        pi, pf, po = p["weight_ph"]
        i = torch.sigmoid(gi + pi * c0[0, 0])
        f = torch.sigmoid(gf + pf * c0[0, 0])
        c1 = f * c0[0, 0] + i * torch.tanh(gg)
        h1 = torch.sigmoid(go + po * c1) * torch.tanh(c1)
        _, (h, c) = model(x, state=(h0, c0))
    torch.testing.assert_close(c[0, 0], c1)
    torch.testing.assert_close(h[0, 0], h1)


def test_lstm_projection_shapes_the_state() -> None:
    model = tiny_model(cell="lstm", layers=2, bidirectional=True, proj_size=4)
    _, (h, c) = model(torch.randn(2, 5, 5))
    assert h.shape == (4, 2, 4) and c.shape == (4, 2, 8)


@pytest.mark.parametrize(
    "x,lengths,message",
    [
        (torch.randn(2, 4, 3), None, "expected x"),
        (torch.randn(2, 4), None, "expected x"),
        (torch.randn(2, 4, 5), torch.tensor([4, 0]), "lengths"),
        (torch.randn(2, 4, 5), torch.tensor([5, 2]), "lengths"),
        (torch.randn(2, 4, 5), torch.tensor([4]), "lengths"),
        (torch.randn(2, 0, 5), None, "non-empty"),
        (torch.ones(2, 4, 5, dtype=torch.int64), None, "floating"),
    ],
)
def test_bad_inputs_are_named(x: torch.Tensor, lengths: torch.Tensor | None, message: str) -> None:
    with pytest.raises(InputShapeError, match=message):
        tiny_model()(x, lengths)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"cell": "rnn_tanh"}, "cell"),
        ({"cell": "gru", "proj_size": 4}, "proj_size"),
        ({"proj_size": 8}, "proj_size"),
        ({"num_layers": 0}, "num_layers"),
        ({"dropout": 1.5}, "dropout"),
        ({"input_kind": "tokens"}, "vocab_size"),
    ],
)
def test_invalid_configs_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ModelConfig(input_size=5, hidden_size=8, **kwargs)
