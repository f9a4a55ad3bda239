"""Issue 10's user module (Conv1d -> 2-layer bidirectional GRU -> attention pooling -> Linear) as the source of a
user's own file, and the folder a user would have for it. One copy: the user-module tests and scripts/bench_mixed.py
(and through it scripts/bench_weight_only.py) all write this text."""

from __future__ import annotations

import textwrap
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

CONV_BIGRU_ATTENTION = textwrap.dedent(
    """
    import torch
    from torch import nn


    class ConvBiGRUAttention(nn.Module):
        def __init__(self, features=12, hidden=24, classes=4):
            super().__init__()
            self.gru = nn.GRU(24, hidden, num_layers=2, batch_first=True, bidirectional=True)
            self.conv = nn.Conv1d(features, 24, kernel_size=3, padding=1)
            self.score = nn.Linear(2 * hidden, 1)
            self.head = nn.Linear(2 * hidden, classes)

        def forward(self, x):  # x: [batch, time, 12]
            z = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
            h, _ = self.gru(z)
            weights = torch.softmax(self.score(h), dim=1)
            return self.head((weights * h).sum(dim=1))


    def build():
        torch.manual_seed(0)
        return ConvBiGRUAttention()
    """
)


@contextmanager
def user_folder(
    tmp_path_factory: pytest.TempPathFactory, folder: str, prefix: str, code: str, quiet: bool = False
) -> Iterator[tuple[Path, str]]:
    """A temporary folder holding `code` as `<prefix>_<random>.py` and weights for its `build()` (standard normal,
    torch seed 1, x 0.3) as weights.safetensors; yields (folder, module name) with the working directory and
    sys.path on the folder. `quiet` silences the warnings of loading the module with no weights."""
    import pytest
    import torch
    from safetensors.torch import save_file

    from edgelstm.loading import load_model

    root = tmp_path_factory.mktemp(folder)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    (root / f"{name}.py").write_text(code)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.syspath_prepend(str(root))
        with warnings.catch_warnings():
            if quiet:
                warnings.simplefilter("ignore")
            loaded = load_model(f"{name}:build")
        torch.manual_seed(1)
        state = {k: torch.randn_like(v) * 0.3 for k, v in loaded.user_module.state_dict().items()}
        save_file(state, str(root / "weights.safetensors"))
        yield root, name
