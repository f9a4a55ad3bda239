"""The training standardisation inside the exported graph: raw features in, the model's (x - mean) / std first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.interface import RAW_INPUT_NOTE, GraphInterface, InputNormalization
from edgelstm.artifact.layout import run_batch_first
from edgelstm.artifact.metadata import read_metadata
from edgelstm.artifact.session import SessionSettings, session_from_onnx
from edgelstm.config import Preprocessing
from edgelstm.errors import ConfigError
from edgelstm.export.api import export_model
from edgelstm.export.native import build_native_onnx
from edgelstm.jsonio import to_jsonable
from edgelstm.loading import InputSignature, LoadedModel
from tests.conftest import tiny_model

# Far from (0, 1): a graph that skipped the standardisation, or applied it twice, cannot match by accident.
MEAN = [0.5, -3.0, 9.81, 120.0, -0.25]
STD = [2.0, 0.1, 4.0, 30.0, 0.5]
PREP = Preprocessing(feature_mean=MEAN, feature_std=STD, labels=["a", "b", "c"])


def _loaded(model, preprocessing: Preprocessing | None = PREP) -> LoadedModel:
    return LoadedModel(model, "checkpoint", "test", InputSignature.from_config(model.config), model.config, preprocessing)


def _raw(batch: int, steps: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, steps, 5)) * np.asarray(STD) + np.asarray(MEAN)).astype(np.float32)


def _run(graph: onnx.ModelProto, interface: GraphInterface, x: np.ndarray) -> list[np.ndarray]:
    from edgelstm.artifact.feeds import sequence_feeds

    run = run_batch_first(interface, session_from_onnx(graph.SerializeToString(), SessionSettings()).run)  # any layout
    return run([o.name for o in interface.outputs], sequence_feeds(interface, x, None, "test"))


def _torch(model, interface: GraphInterface, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        if interface.form == "streaming":
            return model.forward_streaming(torch.from_numpy(x))[0].numpy()
        return model(torch.from_numpy(x))[0].numpy()


FORMS = [
    ("sequence", "fused", {}),
    ("sequence", "loop", {}),
    ("sequence", "unrolled", {"fixed_steps": 6}),
    ("streaming", "fused", {}),
    ("streaming", "loop", {}),
]


@pytest.mark.parametrize(("form", "impl", "extra"), FORMS, ids=[f"{f}-{i}" for f, i, _ in FORMS])
def test_raw_data_into_the_graph_equals_torch_on_standardised_data(form: str, impl: str, extra: dict) -> None:
    model = tiny_model(layers=2)
    graph, interface = build_native_onnx(model, ExportConfig(form=form, impl=impl, **extra), PREP)  # type: ignore[arg-type]
    assert interface.normalization == InputNormalization(MEAN, STD)
    ops = [n.op_type for n in graph.graph.node]
    assert ops[:2] == ["Sub", "Div"], ops[:4]  # before the recurrent stack
    raw = _raw(3, 6)
    standardised = ((raw - np.float32(MEAN)) / np.float32(STD)).astype(np.float32)
    actual = _run(graph, interface, raw)[0]
    np.testing.assert_allclose(actual, _torch(model, interface, standardised), atol=1e-5, rtol=1e-5)
    # Raw data through torch directly is a different answer: the graph is not just ignoring the statistics.
    assert np.abs(_torch(model, interface, raw) - actual).max() > 1e-2


@pytest.mark.parametrize("form", ["sequence", "streaming"])
def test_switched_off_the_graph_is_the_old_one(form: str) -> None:
    model = tiny_model()
    off, off_interface = build_native_onnx(model, ExportConfig(form=form, normalize_input=False), PREP)  # type: ignore[arg-type]
    old, old_interface = build_native_onnx(model, ExportConfig(form=form))  # type: ignore[arg-type]  # no preprocessing
    assert off_interface.normalization is None and off_interface == old_interface
    assert off.SerializeToString(deterministic=True) == old.SerializeToString(deterministic=True)
    x = _raw(2, 5)
    np.testing.assert_array_equal(_run(off, off_interface, x)[0], _run(old, old_interface, x)[0])


def test_export_verifies_and_records_it_in_the_metadata(tmp_path: Path) -> None:
    data = tmp_path / "heldout.npz"
    rng = np.random.default_rng(1)
    np.savez(data, x=rng.standard_normal((4, 9, 5)).astype(np.float32), y=rng.integers(0, 3, 4))  # model space
    result = export_model(_loaded(tiny_model()), tmp_path / "out", ExportConfig(form="streaming"), data=data)
    assert result.passed and result.verification.max_abs_error < 1e-5
    meta = read_metadata(result.path)
    assert meta.interface.normalization == InputNormalization(MEAN, STD)
    props = {p.key: p.value for p in onnx.load(str(result.path)).metadata_props}
    assert RAW_INPUT_NOTE in props["edgelstm.interface"]
    assert "raw input features" in meta.interface.data_input.description
    off = export_model(_loaded(tiny_model()), tmp_path / "off", ExportConfig(form="streaming", normalize_input=False), data=data)
    off_meta = read_metadata(off.path)
    assert off.passed and off_meta.interface.normalization is None and off_meta.export_config.normalize_input is False


def test_real_data_reaches_the_graph_raw(tmp_path: Path) -> None:
    """--data holds model-space data: the graph must get x * std + mean, which it standardises back."""
    from edgelstm.export.verify import load_data_feeds

    x = np.random.default_rng(2).standard_normal((3, 4, 5)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x)
    _, interface = build_native_onnx(tiny_model(), ExportConfig(), PREP)
    feeds = load_data_feeds(tmp_path / "d.npz", interface)
    np.testing.assert_allclose(feeds["x"], x * np.float32(STD) + np.float32(MEAN), rtol=1e-6)
    np.testing.assert_allclose(interface.normalization.standardize(feeds["x"]), x, atol=1e-5)  # type: ignore[union-attr]


def test_models_without_statistics_or_with_token_input_get_no_normalisation() -> None:
    _, interface = build_native_onnx(tiny_model(), ExportConfig(), Preprocessing(labels=["a", "b", "c"]))
    assert interface.normalization is None
    _, tokens = build_native_onnx(tiny_model(head="lm"), ExportConfig(), PREP)
    assert tokens.normalization is None


def test_statistics_that_do_not_fit_are_refused() -> None:
    with pytest.raises(ConfigError, match="5 features"):
        build_native_onnx(tiny_model(), ExportConfig(), Preprocessing(feature_mean=[0.0], feature_std=[1.0]))
    with pytest.raises(ConfigError, match="positive"):
        InputNormalization([0.0], [0.0])


def test_interface_round_trips_through_json() -> None:
    _, interface = build_native_onnx(tiny_model(), ExportConfig(form="streaming"), PREP)
    assert GraphInterface.from_dict(to_jsonable(interface)) == interface
    assert to_jsonable(interface)["input_normalization"]["note"] == RAW_INPUT_NOTE


def test_check_feeds_a_raw_input_graph_raw_features(tmp_path: Path) -> None:
    """Held-out data holds what the model was trained on. A raw-input graph checked on it must score what the model
    scores: fed the data unconverted it would standardise it a second time (and its wrapped torch truth with it)."""
    from edgelstm.parity import CheckConfig, run_check
    from edgelstm.parity.data import SequenceData

    model = tiny_model()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 7, 5)).astype(np.float32)
    with torch.no_grad():
        y = model(torch.from_numpy(x))[0].argmax(-1).numpy()  # labels the model gets right by construction
    data = SequenceData(x, None, y, "model-space data")
    raw_graph = export_model(_loaded(model), tmp_path / "raw", ExportConfig(impl="fused")).path
    report = run_check([raw_graph], _loaded(model), data, CheckConfig(providers=("cpu",), stress=False))
    accuracy = next(t for c in report.candidates for t in c.tasks if t.metric == "accuracy_delta")
    assert report.passed and accuracy.candidate_value == 1.0 and accuracy.reference_value == 1.0


def test_bench_and_verification_draw_raw_features_at_the_training_statistics(tmp_path: Path) -> None:
    from edgelstm.artifact.file import open_artifact
    from edgelstm.bench.runner import _feeds
    from edgelstm.export.native import random_inputs_like

    result = export_model(_loaded(tiny_model()), tmp_path, ExportConfig(form="streaming"))
    info = open_artifact(result.path)
    for feeds in (_feeds(info, 64, 50, np.random.default_rng(0)), random_inputs_like(info.interface, 64, 50, seed=1)):
        seen = info.interface.normalization.standardize(feeds["x"]).reshape(-1, 5)  # type: ignore[union-attr]
        assert np.abs(seen.mean(axis=0)).max() < 0.1 and np.abs(seen.std(axis=0) - 1).max() < 0.1
