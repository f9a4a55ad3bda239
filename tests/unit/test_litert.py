"""LiteRT artifacts without the converter: the sidecar that carries a .tflite's interface, how it is refused, the
provider/format pairing, the options, and the one-line messages that name the extra to install.

The runs that need the converter (export, check, the shape gate) are in tests/e2e/test_litert_e2e.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from edgelstm.api import BundleOptions, CheckOptions, ExportOptions, QuantizeOptions, check, quantize
from edgelstm.artifact import litert_file
from edgelstm.artifact.file import open_artifact
from edgelstm.artifact.litert_file import LiteRTShape, read_sidecar, sidecar_path
from edgelstm.artifact.litert_runner import litert_interpreter_class
from edgelstm.artifact.runners import PROVIDERS, NotApplicable, open_runner
from edgelstm.errors import ConfigError, LoadError
from edgelstm.export.litert import LiteRTExportConfig
from edgelstm.export.litert_convert import convert_module
from edgelstm.files import file_sha256
from edgelstm.model_source import ModelSource
from tests.conftest import tiny_config
from tests.support.litert import hide_packages, sidecar_for


@pytest.fixture
def tflite(tmp_path: Path) -> Path:
    path = tmp_path / "streaming_litert_b1_k4.tflite"
    path.write_bytes(b"TFL3 not a real model")  # the sidecar is read without the interpreter
    sidecar_path(path).write_text(sidecar_for(path).to_json())
    return path


def test_the_sidecar_round_trips_the_interface_shape_and_digest(tflite: Path) -> None:
    sidecar, digest = read_sidecar(tflite)
    assert digest == file_sha256(tflite) == sidecar.tflite_sha256
    assert sidecar.shape == LiteRTShape(1, chunk=4) and sidecar.precision == "fp32"
    interface = sidecar.metadata.interface
    assert interface.impl == "litert" and interface.chunk == 4
    assert interface.inputs[0].shape == [1, "chunk", 5]  # the batch pinned, the chunk recorded
    # the slim streaming layout (issue 21): one state pair per layer, [directions, batch, hidden]
    assert [s.input_name for s in interface.states] == ["h0_in", "h1_in"] and interface.states[0].shape == [1, "batch", 8]
    # written under the same keys an ONNX artifact's metadata_props use
    assert "edgelstm.interface" in json.loads(sidecar_path(tflite).read_text())["metadata_props"]


def test_open_artifact_reads_a_tflite_from_its_sidecar(tflite: Path) -> None:
    info = open_artifact(tflite)
    assert (info.format, info.precision, info.sha256) == ("tflite", "fp32", file_sha256(tflite))
    assert info.metadata is not None and info.metadata.model_config == tiny_config(cell="gru", layers=2)


def test_a_sidecar_for_other_bytes_is_refused(tflite: Path) -> None:
    tflite.write_bytes(tflite.read_bytes() + b"edited")
    with pytest.raises(LoadError, match="replaced or edited after export"):
        open_artifact(tflite)


def test_a_tflite_without_its_sidecar_is_refused(tflite: Path) -> None:
    sidecar_path(tflite).unlink()
    with pytest.raises(LoadError, match="--target litert"):
        open_artifact(tflite)


def test_a_sidecar_is_compared_with_the_interface_inside_the_file(tflite: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = read_sidecar(tflite)[0].interface_json()
    monkeypatch.setattr(litert_file, "embedded_interface", lambda content: dict(recorded))
    assert read_sidecar(tflite)[0].interface_json() == recorded  # they agree: read as before
    monkeypatch.setattr(litert_file, "embedded_interface", lambda content: {**recorded, "shape": {"batch": 2, "chunk": 4}})
    with pytest.raises(LoadError, match=r"disagrees with the edgelstm\.interface entry inside .*\(on shape\)"):
        open_artifact(tflite)


def test_without_its_sidecar_a_tflite_is_read_from_its_own_entry(tflite: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = read_sidecar(tflite)[0].interface_json()
    sidecar_path(tflite).unlink()
    monkeypatch.setattr(litert_file, "embedded_interface", lambda content: dict(recorded))
    sidecar, digest = read_sidecar(tflite)
    assert sidecar.interface_json() == recorded and digest == sidecar.tflite_sha256 == file_sha256(tflite)
    monkeypatch.setattr(litert_file, "embedded_interface", lambda content: None)  # no entry: refused, naming both
    with pytest.raises(LoadError, match=r"no streaming_litert_b1_k4\.tflite\.json beside it and no readable"):
        open_artifact(tflite)


@pytest.mark.parametrize("edit", ["format", "precision", "props"])
def test_a_malformed_sidecar_is_one_load_error(tflite: Path, edit: str) -> None:
    data = json.loads(sidecar_path(tflite).read_text())
    if edit == "format":
        data["format"] = "other/9"
    elif edit == "precision":
        data["precision"] = "int3"
    else:
        data["metadata_props"] = {"edgelstm.interface": "{not json"}
    sidecar_path(tflite).write_text(json.dumps(data))
    with pytest.raises(LoadError, match=r"streaming_litert_b1_k4\.tflite\.json"):
        open_artifact(tflite)


def test_each_provider_runs_only_its_own_file_format(tflite: Path, tmp_path: Path) -> None:
    assert "litert" in PROVIDERS
    info = open_artifact(tflite)
    for provider in ("cpu", "mobile", "reference"):
        with pytest.raises(NotApplicable, match="runs ONNX artifacts"):
            open_runner(info, provider, tmp_path)
    onnx_info = type(info)(tmp_path / "m.onnx", "onnx", "fp32", info.interface, None, False)
    with pytest.raises(NotApplicable, match="LiteRT runs .tflite artifacts"):
        open_runner(onnx_info, "litert", tmp_path)


def test_each_requested_shape_is_its_own_artifact() -> None:
    shapes = LiteRTExportConfig(batches=(1, 4), chunks=(1, 16)).shapes()
    assert [s.label for s in shapes] == ["b1_k1", "b1_k16", "b4_k1", "b4_k16"]
    assert [s.label for s in LiteRTExportConfig(form="sequence", batches=(2,), steps=100).shapes()] == ["b2_t100"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"form": "sequence"}, "needs --fixed-steps"),
        ({"form": "streaming", "chunks": (0,)}, "1..4096"),
    ],
)
def test_litert_options_are_refused_before_any_work(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ExportOptions(target="litert", **options).litert_config()


def test_chunks_and_unknown_targets_are_refused_for_onnx() -> None:
    with pytest.raises(ConfigError, match="--chunks is for --target litert"):
        ExportOptions(chunks=(4,))
    with pytest.raises(ConfigError, match="choose onnx or litert"):
        ExportOptions(target="coreml")  # type: ignore[arg-type]  # an untyped caller's string


def test_every_api_target_is_refused_when_constructed_with_a_name_it_does_not_know() -> None:
    # The typed options validate at construction, so a wrong target never reaches a model load or a converter.
    with pytest.raises(ConfigError, match="--target 'tflite': choose onnx or litert"):
        QuantizeOptions(target="tflite")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="choose ort .* or android"):
        BundleOptions(target="ios")  # type: ignore[arg-type]
    assert QuantizeOptions(target="litert").target == "litert" and BundleOptions(target="android").target == "android"


def _hide(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    hide_packages(monkeypatch, *modules)


def test_without_the_interpreter_running_a_tflite_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "ai_edge_litert")
    with pytest.raises(ConfigError, match=r'pip install "edgelstm\[litert\]"'):
        litert_interpreter_class()


def test_without_the_converter_export_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    _hide(monkeypatch, "litert_torch")
    with pytest.raises(ConfigError, match=r'pip install "edgelstm\[litert-convert\]"'):
        convert_module(torch.nn.Identity(), (torch.zeros(1),))


def test_quantize_target_litert_takes_a_tflite_and_a_reference(tflite: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="export it first"):
        quantize(ModelSource("runs/ckpt"), tmp_path / "q", QuantizeOptions(target="litert"))
    with pytest.raises(ConfigError, match="pass --reference"):
        quantize(ModelSource(str(tflite)), tmp_path / "q", QuantizeOptions(target="litert", scheme="dynamic-int8"))
    with pytest.raises(ConfigError, match="cannot run with --no-check"):
        quantize(ModelSource(str(tflite)), tmp_path / "q", QuantizeOptions(target="litert", check=False))
    with pytest.raises(ConfigError, match="choose dynamic-int8, weight-only-int8"):
        quantize(ModelSource(str(tflite)), tmp_path / "q", QuantizeOptions(target="litert", scheme="int4", check=False))


def test_without_the_quantizer_quantize_names_the_extra(tflite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "ai_edge_quantizer")
    with pytest.raises(ConfigError, match=r'pip install "edgelstm\[litert-convert\]"'):
        quantize(ModelSource(str(tflite)), tmp_path / "q", QuantizeOptions(target="litert", scheme="dynamic-int8", check=False))


@pytest.mark.parametrize("kind", ["onnx", "torchscript"])
def test_a_tflite_against_an_onnx_or_torchscript_reference_is_refused_in_one_line(
    tflite: Path, tmp_path: Path, kind: str
) -> None:
    # The file-reference check streams ONNX graphs through ORT; a .tflite's gate is the torch model it came from.
    reference = tmp_path / "ref.onnx"
    if kind == "torchscript":
        reference = tmp_path / "ref.pt"
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(reference))
    else:
        reference.write_bytes(b"not read: refused before anything runs")
    with pytest.raises(
        ConfigError, match=rf"a .tflite is checked against the model it was exported from .* not against {reference.name}"
    ):
        check([tflite], ModelSource(str(reference)), CheckOptions(providers=("litert",)))
    options = QuantizeOptions(target="litert", scheme="dynamic-int8", reference=str(reference))
    with pytest.raises(ConfigError, match=rf"--reference {reference.name}: a .tflite is gated against the model it was exported"):
        quantize(ModelSource(str(tflite)), tmp_path / "q", options)
