"""Fused LSTM/GRU -> Loop rewrite: valid ONNX, same outputs as ONNX Runtime's fused kernels, honest refusals."""

from __future__ import annotations

import torch


class _GainedLstm(torch.nn.Module):
    """A graph made elsewhere with a scalar input beside the data, as silero's `sr`."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = torch.nn.LSTM(4, 6, batch_first=True)

    def forward(self, x: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0] * gain


def test_unrolled_export_of_a_graph_with_a_scalar_input_takes_its_const(tmp_path) -> None:
    import warnings

    from tests.refusals import assert_refused, run_cli

    graph = tmp_path / "gained.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _GainedLstm().eval(),
            (torch.randn(2, 5, 4), torch.tensor(2.0)),
            str(graph),
            dynamo=False,
            input_names=["x", "gain"],
            dynamic_axes={"x": {0: "batch", 1: "time"}},
        )
    out = tmp_path / "out"
    args = ["export", graph, "--impl", "unrolled", "--fixed-steps", "5", "--out", out]
    # Without the constant the probe cannot run; the error names the graph the user gave, not a temp file.
    assert_refused(args, str(graph), "--const gain=VALUE", watch=(tmp_path,))
    result = run_cli([*args, "--const", "gain=2.0"])
    assert result.exit_code == 0, result.output
    assert (out / "gained.unrolled_5.onnx").is_file()
