"""Property-based: random architectures and shapes must export and match torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.layout import run_batch_first
from edgelstm.artifact.session import session_from_onnx
from edgelstm.config import HeadConfig, ModelConfig
from edgelstm.export.api import check_onnx
from edgelstm.export.native import build_native_onnx, random_inputs_like
from edgelstm.export.verify import native_reference
from edgelstm.model import SequenceModel


@st.composite
def architectures(draw: st.DrawFn) -> tuple[ModelConfig, ExportConfig]:
    cell = draw(st.sampled_from(["lstm", "gru", "peephole"]))
    hidden = draw(st.integers(1, 12))
    bidirectional = draw(st.booleans())
    proj = draw(st.integers(0, hidden - 1)) if cell == "lstm" and hidden > 1 and draw(st.booleans()) else 0
    kind = draw(st.sampled_from(["classify", "forecast", "per_step", "lm"]))
    tokens = kind == "lm" or draw(st.booleans())
    head = HeadConfig(
        kind=kind,
        num_outputs=draw(st.integers(1, 6)),
        pooling=draw(st.sampled_from(["last", "mean"])),
        horizon=draw(st.integers(1, 3)) if kind == "forecast" else 1,
    )
    config = ModelConfig(
        input_size=draw(st.integers(1, 6)),
        hidden_size=hidden,
        cell=cell,
        num_layers=draw(st.integers(1, 3)),
        bidirectional=bidirectional,
        proj_size=proj,
        input_kind="tokens" if tokens else "features",
        vocab_size=draw(st.integers(2, 20)) if tokens else 0,
        head=head,
    )
    form = "sequence" if bidirectional else draw(st.sampled_from(["sequence", "streaming"]))
    impl = "loop" if proj else draw(st.sampled_from(["fused", "loop"]))
    export = ExportConfig(form=form, impl=impl, with_lengths=draw(st.booleans()), with_state_inputs=draw(st.booleans()))
    return config, export


@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arch=architectures(), batch=st.integers(1, 5), steps=st.integers(1, 24), seed=st.integers(0, 2**16))
def test_random_architectures_export_and_match_torch(arch, batch: int, steps: int, seed: int) -> None:
    config, export_config = arch
    torch.manual_seed(seed)
    model = SequenceModel(config).eval()
    graph, interface = build_native_onnx(model, export_config)
    check_onnx(graph)
    run = run_batch_first(interface, session_from_onnx(graph.SerializeToString()).run)  # streaming: time-major
    feeds = random_inputs_like(interface, batch, steps, config.vocab_size, seed)
    actual = run([o.name for o in interface.outputs], feeds)
    expected = native_reference(model, interface)(feeds)
    for spec, a, e in zip(interface.outputs, actual, expected, strict=False):
        assert a.shape == e.shape, spec.name
        scale = max(float(np.abs(e).max()), 1.0)
        np.testing.assert_allclose(a, e, atol=1e-5 * scale, rtol=0, err_msg=spec.name)
