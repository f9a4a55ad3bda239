"""Bad inputs to `inspect`, `export` and `quantize`: each is one `error:` line, exit 2, nothing written.

Families: checkpoint configs and weights, user factory modules, --weights files, .pt2 archives, output
locations, quantize artifacts and options; then the artifact + sidecar pair on a full disk.
"""

from __future__ import annotations

import itertools

import pytest

from edgelstm.config import ModelConfig
from edgelstm.errors import ModelTooLargeError
from edgelstm.model import SequenceModel, count_parameters
from tests.conftest import tiny_config

# -- a model too large for this machine -----------------------------------------------------------------------


def test_parameter_estimate_matches_the_built_model() -> None:
    """The size check runs before building, so its count must be exact for every architecture option."""
    for cell, layers, bidirectional, head, proj in itertools.product(
        ("lstm", "gru", "peephole"), (1, 2), (False, True), ("classify-last", "forecast", "lm"), (0, 3)
    ):
        if proj and cell != "lstm":
            continue
        config = tiny_config(cell=cell, layers=layers, bidirectional=bidirectional, head=head, proj_size=proj)
        assert config.parameter_count() == count_parameters(SequenceModel(config)), config


def test_model_larger_than_available_memory_is_refused_before_allocation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("edgelstm.model.available_memory", lambda: 1_000_000)
    config = ModelConfig(input_size=5, hidden_size=512)  # 1.06 M parameters, 4.1 MiB of weights
    with pytest.raises(ModelTooLargeError, match=r"1,063,938 parameters \(4.1 MiB .* than the 1.0 MiB of memory"):
        SequenceModel(config)
