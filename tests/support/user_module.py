"""Helpers and fixtures that both halves of tests/test_user_module.py need: tests/unit/test_user_module.py and
tests/e2e/test_user_module_cli.py."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from tests.user_modules import CONV_BIGRU_ATTENTION, user_folder

USER_CODE = CONV_BIGRU_ATTENTION + textwrap.dedent(
    """
    class ChannelsFirst(nn.Module):  # takes [batch, channels, time] like audio code often does
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(6, 8, kernel_size=3, padding=1)
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            return self.head(torch.relu(self.conv(x)).mean(dim=2))


    class WithLengths(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(5, 8, batch_first=True)
            self.head = nn.Linear(8, 3)

        def forward(self, x, lengths):
            h, _ = self.gru(x)
            last = h[torch.arange(x.shape[0]), lengths - 1]
            return self.head(last)


    class Stateful(nn.Module):  # forward(x, state) -> (y, new_state), like a streaming VAD
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, 8, batch_first=True)
            self.head = nn.Linear(8, 1)

        def forward(self, x, state=None, sr=16000):
            if sr not in (8000, 16000):
                raise ValueError(f"unsupported sampling rate {sr}")
            h, (hn, cn) = self.lstm(x, None if state is None else (state[0], state[1]))
            return torch.sigmoid(self.head(h)) * (sr / 16000), torch.stack([hn, cn])


    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(12, 4, 3)

        def forward(self, x):
            return self.conv(x.transpose(1, 2)).view(-1, 999)


    class Gru(nn.Module):  # unidirectional, per-step head: the streaming candidate
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(5, 16, batch_first=True)
            self.head = nn.Linear(16, 3)

        def forward(self, x):
            h, _ = self.gru(x)
            return self.head(h)


    def build_channels_first():
        torch.manual_seed(0)
        return ChannelsFirst()


    def build_with_lengths():
        torch.manual_seed(0)
        return WithLengths()


    def build_stateful():
        torch.manual_seed(0)
        return Stateful()


    def build_broken():
        return Broken()


    def build_gru():
        torch.manual_seed(0)
        return Gru()
    """
)


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory):
    """The user's folder: the module file, trained-looking weights (safetensors), held-out data."""
    with user_folder(tmp_path_factory, "user_module", "user_model", USER_CODE) as (root, name):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((24, 20, 12)).astype(np.float32)
        np.savez(root / "heldout.npz", x=x, y=rng.integers(0, 4, 24))
        yield root, name
