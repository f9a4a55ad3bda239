"""Distillation beyond the basic loop: torchrun/DDP, quantization-aware training, hidden-state matching,
parameter budgets, resume after early stop, and the distillation report."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from edgelstm.distill import FakeQuantSpec, StudentSpec, parse_count, spec_for_budget, student_config
from edgelstm.distill.fake_quant import fake_quant_forward, fake_quantize_activation, fake_quantize_weight
from edgelstm.distill.metrics import MetricAccumulator
from edgelstm.errors import ConfigError
from edgelstm.loading import InputSignature, LoadedModel
from edgelstm.model import SequenceModel, count_parameters
from edgelstm.parity.data import SequenceData
from tests.conftest import tiny_model
from tests.support.distill_training import _labelled, _teacher

# -- quantization-aware training -------------------------------------------------------------------------


def test_fake_quantized_weights_take_at_most_255_levels_and_pass_gradients_straight_through() -> None:
    weight = torch.randn(16, 9, requires_grad=True)
    q = fake_quantize_weight(weight, 127, per_channel=False)
    assert len(torch.unique(q.detach())) <= 255
    assert torch.allclose(q, weight, atol=float(weight.detach().abs().max()) / 127 / 2 + 1e-7)
    q.sum().backward()
    assert weight.grad is not None and torch.equal(weight.grad, torch.ones_like(weight))
    rows = fake_quantize_weight(weight.detach(), 64, per_channel=True)
    for row, original in zip(rows, weight.detach(), strict=True):
        assert len(torch.unique(row)) <= 129 and float((row - original).abs().max()) <= float(original.abs().max()) / 128 + 1e-7
    x = torch.linspace(-1.0, 3.0, 1000)
    assert len(torch.unique(fake_quantize_activation(x))) <= 256
    assert float(fake_quantize_activation(torch.zeros(4)).abs().max()) == 0.0  # zero is exact


@pytest.mark.parametrize("cell", ["gru", "lstm", "peephole"])
def test_emulation_follows_onnx_runtime_dynamic_int8(cell: str, tmp_path: Path) -> None:
    """The emulated forward is closer to the int8 graph ORT runs than the float model is; for the GRU (Loop
    form, MatMulInteger) it is the same arithmetic, so it matches to float rounding."""
    import onnxruntime as ort

    from edgelstm.quantize import DynamicInt8Config, quantize

    model = tiny_model(cell=cell, layers=2, head="classify-last")
    loaded = LoadedModel(model, "checkpoint", "t", InputSignature.from_config(model.config), model.config)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 15, model.config.input_size)).astype(np.float32)
    lengths = rng.integers(4, 16, size=32)
    result = quantize(loaded, DynamicInt8Config(reduce_range=True), tmp_path)
    assert result.path is not None
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    feeds = {"x": x, "lengths": lengths.astype(np.int64)}
    for spec in session.get_inputs():
        feeds.setdefault(spec.name, np.zeros([32 if isinstance(d, str) else d for d in spec.shape], np.float32))
    int8 = session.run(None, feeds)[0]
    with torch.no_grad():
        xt, lt = torch.from_numpy(x), torch.from_numpy(lengths)
        float_out = model(xt, lt)[0].numpy()
        emulated = fake_quant_forward(model, FakeQuantSpec(), xt, lt)[0].numpy()
    float_error, emulated_error = np.abs(float_out - int8).max(), np.abs(emulated - int8).max()
    assert emulated_error < 0.75 * float_error, (float_error, emulated_error)
    if cell == "gru":
        assert emulated_error < 1e-5


def test_hidden_state_matching_needs_an_edgelstm_teacher(tmp_path: Path) -> None:
    class Plain(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn, self.out = torch.nn.GRU(5, 4, batch_first=True), torch.nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.rnn(x)[0][:, -1])

    user = LoadedModel(Plain(), "factory", "plain", InputSignature("features", 5, 12), None)
    from edgelstm.config import HeadConfig
    from edgelstm.distill.trainer import TeacherTargets

    data = SequenceData(np.zeros((4, 12, 5), np.float32), None, None, "zeros")
    inferred = student_config(user, StudentSpec()).head  # read from the module's [B, 3] output
    assert (inferred.kind, inferred.num_outputs) == ("classify", 3)
    assert student_config(user, StudentSpec(), HeadConfig(kind="classify", num_outputs=3)).input_size == 5
    with pytest.raises(ConfigError, match="hidden-state matching needs an edgelstm teacher"):
        TeacherTargets(user, data, True, torch.device("cpu"), 16)


# -- parameter budgets -----------------------------------------------------------------------------------


def test_parse_count_reads_suffixes_and_refuses_nonsense() -> None:
    assert parse_count("50k") == 50_000 and parse_count("1.5M") == 1_500_000 and parse_count("1200") == 1200
    for bad in ("lots", "-5k", "0", "5g"):
        with pytest.raises(ConfigError):
            parse_count(bad)


@pytest.mark.parametrize(("cell", "layers", "budget"), [("gru", 1, 2_000), ("lstm", 2, 20_000), ("peephole", 1, 777)])
def test_budget_picks_the_widest_student_that_fits(cell: str, layers: int, budget: int) -> None:
    teacher = _teacher()
    base = StudentSpec(cell=cell, num_layers=layers)
    spec, count = spec_for_budget(student_config(teacher, base), base, budget)
    assert count <= budget and count == count_parameters(SequenceModel(student_config(teacher, spec)))
    wider = StudentSpec(cell=cell, hidden_size=spec.hidden_size + 1, num_layers=layers)
    assert count_parameters(SequenceModel(student_config(teacher, wider))) > budget


def test_budget_too_small_for_any_student_is_refused_with_the_reason() -> None:
    teacher = _teacher(head="lm")
    with pytest.raises(ConfigError, match="input and head alone are too large"):
        spec_for_budget(student_config(teacher, StudentSpec()), StudentSpec(), 50)


# -- metrics and the report ------------------------------------------------------------------------------


def test_metric_accumulators_compute_known_values() -> None:
    acc = MetricAccumulator("classify")
    acc.add(torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 0]))
    assert acc.result().value == 0.5 and acc.result().higher_is_better
    mae = MetricAccumulator("regress")
    mae.add(torch.tensor([[1.0], [2.0]]), torch.tensor([0.0, 4.0]))
    assert mae.result().value == 1.5
    bpc = MetricAccumulator("lm")
    uniform = torch.zeros(1, 3, 4)  # 4 equally likely symbols: 2 bits each
    bpc.add(uniform, torch.tensor([[0, 1, 2]]), torch.tensor([[True, True, False]]))
    assert abs(bpc.result().value - 2.0) < 1e-6 and bpc.count == 2


def test_report_needs_labels(tmp_path: Path) -> None:
    from edgelstm.distill.report import build_distill_report

    teacher = _teacher()
    unlabelled = SequenceData(np.zeros((4, 6, 5), np.float32), None, None, "unlabelled.npz")
    with pytest.raises(ConfigError, match="has none"):
        build_distill_report(teacher, [("student", teacher)], unlabelled)


def test_temporary_directories_are_cleaned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The report works in a temporary directory and leaves nothing behind."""
    from edgelstm.distill.report import build_distill_report

    # A private temp root: the shared one also sees the report folders of distill runs in other pytest-xdist workers.
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    made: list[Path] = []
    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp(*args: object, **kwargs: object) -> str:
        made.append(Path(real_mkdtemp(*args, **kwargs)))  # type: ignore[call-overload]
        return str(made[-1])

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    teacher = _teacher()
    build_distill_report(teacher, [("same", teacher)], _labelled(teacher, 8, 0), quantized=False, rounds=1)
    assert [m.parent for m in made if m.name.startswith("edgelstm-distill-report-")] == [private]  # it made one, there
    assert list(private.glob("edgelstm-distill-report-*")) == []
