"""A user's own nn.Module, given as `package.module:factory --weights state.safetensors`, through every command.

The module is the one issue 10 tried: Conv1d front end (12 channels, kernel 3) -> 2-layer bidirectional GRU
(hidden 24) -> attention pooling over time -> Linear. Its GRU is registered *before* its Conv1d, so only the
forward order tells the input size (12, not the GRU's 24).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgelstm.errors import LoadError
from edgelstm.loading import load_model
from edgelstm.model_source import ModelSource
from tests.support import user_module as shared

# Fixtures shared with the other half of this file: pytest finds them by name in this module (conftest's in_user_dir
# asks for `user`).
user = shared.user

# -- probing ---------------------------------------------------------------------------------------------------


def test_input_size_comes_from_the_first_layer_in_forward_order(in_user_dir):
    _, name = in_user_dir
    loaded = load_model(ModelSource(f"{name}:build", weights=Path("weights.safetensors")))
    assert (loaded.signature.kind, loaded.signature.size) == ("features", 12)  # the Conv1d's, not the GRU's 24
    assert loaded.forward is not None and loaded.forward.layout == "btc"
    assert loaded.weights_record is not None and len(loaded.weights_record) == 64


def test_channels_first_forward_is_found_and_adapted(in_user_dir):
    _, name = in_user_dir
    loaded = load_model(f"{name}:build_channels_first")
    assert loaded.signature.size == 6 and loaded.forward.layout == "bct"
    x = torch.randn(2, 9, 6)  # edgelstm's [batch, time, features]
    expected = loaded.user_module(x.transpose(1, 2))
    torch.testing.assert_close(loaded.module(x), expected)


def test_lengths_argument_is_detected_and_fed(in_user_dir):
    _, name = in_user_dir
    loaded = load_model(f"{name}:build_with_lengths")
    assert loaded.forward.lengths == "lengths"
    x = torch.randn(3, 7, 5)
    full = loaded.user_module(x, torch.full((3,), 7))
    torch.testing.assert_close(loaded.module(x), full)
    short = torch.tensor([7, 3, 1])
    torch.testing.assert_close(loaded.module(x, short), loaded.user_module(x, short))


def test_stateful_forward_is_detected_and_constants_reach_it(in_user_dir):
    _, name = in_user_dir
    loaded = load_model(ModelSource(f"{name}:build_stateful", constants={"sr": 8000}))
    forward = loaded.forward
    assert forward.states == ("state",)
    assert forward.state_shapes == ((2, 1, 2, 8),) and forward.state_batch_axes == (2,)
    assert forward.constants == {"sr": 8000}
    x = torch.randn(2, 5, 4)
    y, _ = loaded.user_module(x, None, sr=8000)
    torch.testing.assert_close(loaded.module(x), y)  # every command sees the output only


def test_a_constant_the_forward_does_not_take_is_refused(in_user_dir):
    _, name = in_user_dir
    with pytest.raises(LoadError, match="--const rate: forward\\(\\) has no argument 'rate'"):
        load_model(ModelSource(f"{name}:build_stateful", constants={"rate": 1}))
