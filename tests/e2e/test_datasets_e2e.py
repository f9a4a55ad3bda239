"""The bundled real data set loads offline, split by subject."""

from __future__ import annotations

import numpy as np


def test_supervised_training_fits_a_forecast_head() -> None:
    import torch

    from edgelstm.config import HeadConfig, ModelConfig
    from edgelstm.model import SequenceModel
    from edgelstm.training import TrainConfig, train_supervised

    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 10, 1)).astype(np.float32)
    y = x[:, -3:, 0].sum(axis=1, keepdims=True)  # the sum of the last three values
    torch.manual_seed(0)
    model = SequenceModel(ModelConfig(input_size=1, hidden_size=16, head=HeadConfig(kind="forecast", num_outputs=1)))
    result = train_supervised(model, x[:200], y[:200], x[200:], y[200:], TrainConfig(epochs=15, learning_rate=1e-2, threads=1))
    baseline = float(np.abs(y[200:] - y[:200].mean()).mean())
    assert result.test_accuracy[-1] < 0.5 * baseline  # MAE well under predicting the mean
