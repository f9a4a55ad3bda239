"""`load_model`: checkpoint dirs, `pkg.module:factory` + weights, pickles, torch.export programs, bad inputs."""

from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path
from types import ModuleType

import pytest
import torch
from safetensors.torch import save_file
from torch.export import Dim

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.checkpoint import WEIGHTS_FILE, save_checkpoint
from edgelstm.config import ModelConfig, Preprocessing
from edgelstm.errors import ExportError, FixedTimeAxisError, LoadError, UnsafePickleError
from edgelstm.export.api import export_model
from edgelstm.export.verify import VerificationConfig
from edgelstm.jsonio import to_jsonable
from edgelstm.loading import load_model
from edgelstm.model import SequenceModel

USER_CODE = textwrap.dedent(
    """
    import torch
    from torch import nn

    from edgelstm.config import ModelConfig
    from edgelstm.model import SequenceModel


    class Tagger(nn.Module):
        def __init__(self, input_size=4, hidden=8, outputs=3):
            super().__init__()
            self.lstm = nn.LSTM(input_size, hidden, batch_first=True)
            self.fc = nn.Linear(hidden, outputs)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.fc(out)


    class TimeMajor(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, 8)

        def forward(self, x):
            return self.lstm(x)[0]


    class Cumulative(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(5, 2)

        def forward(self, x):
            return torch.cumsum(self.fc(x), dim=1)


    class Holder:
        pass


    def build():
        return Tagger()


    def build_sized(hidden):
        return Tagger(hidden=hidden)


    def build_native():
        return SequenceModel(ModelConfig(input_size=3, hidden_size=8))


    def build_time_major():
        return TimeMajor()


    def build_cumulative():
        return Cumulative()


    class Gain(nn.Module):  # no layer that tells its input size
        def __init__(self):
            super().__init__()
            self.gain = nn.Parameter(torch.ones(5))

        def forward(self, x):
            return torch.cumsum(x * self.gain, dim=1)


    def build_gain():
        return Gain()


    def not_a_module():
        return 42
    """
)

FAST_GRID = VerificationConfig(batches=(1, 3), steps=(1, 5, 13), example_steps=8)


@pytest.fixture
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """An importable user module (unique name per test so sys.modules never serves a stale copy)."""
    import importlib

    name = f"usermodels_{uuid.uuid4().hex[:10]}"
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    (code_dir / f"{name}.py").write_text(USER_CODE)
    monkeypatch.syspath_prepend(str(code_dir))
    module = importlib.import_module(name)
    yield module
    sys.modules.pop(name, None)


def _trained_tagger(user: ModuleType) -> torch.nn.Module:
    torch.manual_seed(7)
    return user.Tagger().eval()


def _x(batch: int = 2, steps: int = 6, size: int = 4) -> torch.Tensor:
    return torch.randn(batch, steps, size, generator=torch.Generator().manual_seed(3))


# -- (a) checkpoint directories ------------------------------------------------------------------------------


def test_checkpoint_dir_loads_as_native(tmp_path: Path) -> None:
    config = ModelConfig(input_size=3, hidden_size=8, cell="gru")
    torch.manual_seed(0)
    model = SequenceModel(config).eval()
    prep = Preprocessing(labels=["a", "b"])
    save_checkpoint(model, tmp_path / "ckpt", preprocessing=prep)
    loaded = load_model(str(tmp_path / "ckpt"))
    assert loaded.source == "checkpoint"
    assert loaded.is_native and loaded.config == config
    assert loaded.preprocessing == prep
    assert (loaded.signature.kind, loaded.signature.size) == ("features", 3)
    x = _x(size=3)
    with torch.no_grad():
        assert torch.equal(loaded.module(x)[0], model(x)[0])


def test_token_checkpoint_signature_uses_vocab_size(tmp_path: Path) -> None:
    config = ModelConfig(input_size=4, hidden_size=8, input_kind="tokens", vocab_size=13)
    save_checkpoint(SequenceModel(config), tmp_path / "ckpt")
    loaded = load_model(str(tmp_path / "ckpt"))
    assert (loaded.signature.kind, loaded.signature.size) == ("tokens", 13)


def test_checkpoint_dir_with_weights_is_refused(tmp_path: Path) -> None:
    save_checkpoint(SequenceModel(ModelConfig(input_size=3, hidden_size=8)), tmp_path / "ckpt")
    with pytest.raises(LoadError, match="--weights"):
        load_model(str(tmp_path / "ckpt"), weights=tmp_path / "ckpt" / WEIGHTS_FILE)


def test_directory_that_is_not_a_checkpoint_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(LoadError, match="not an edgelstm checkpoint"):
        load_model(str(tmp_path / "empty"))


# -- (b) factories -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["safetensors", "pt", "pt-wrapped"])
def test_factory_with_weights_loads_those_weights(tmp_path: Path, user: ModuleType, fmt: str) -> None:
    trained = _trained_tagger(user)
    state = {k: v.contiguous() for k, v in trained.state_dict().items()}
    if fmt == "safetensors":
        weights = tmp_path / "weights.safetensors"
        save_file(state, str(weights))
    else:
        weights = tmp_path / "weights.pt"
        torch.save({"state_dict": state, "epoch": 3} if fmt == "pt-wrapped" else state, weights)
    torch.manual_seed(99)  # the factory's fresh init differs from the trained weights
    loaded = load_model(f"{user.__name__}:build", weights=weights)
    assert loaded.source == "factory"
    assert not loaded.is_native and loaded.config is None
    assert (loaded.signature.kind, loaded.signature.size) == ("features", 4)
    assert not loaded.module.training
    x = _x()
    with torch.no_grad():
        assert torch.equal(loaded.module(x), trained(x))


def test_factory_without_weights_uses_fresh_init(user: ModuleType) -> None:
    loaded = load_model(f"{user.__name__}:build")
    assert loaded.source == "factory"
    assert loaded.weights_record == "none (random init)"
    assert isinstance(loaded.user_module, user.Tagger)


def test_factory_returning_sequence_model_is_native(tmp_path: Path, user: ModuleType) -> None:
    torch.manual_seed(5)
    reference = SequenceModel(ModelConfig(input_size=3, hidden_size=8)).eval()
    save_checkpoint(reference, tmp_path / "ckpt")
    loaded = load_model(f"{user.__name__}:build_native", weights=tmp_path / "ckpt" / WEIGHTS_FILE)
    assert loaded.source == "factory"
    assert loaded.config is not None and loaded.is_native
    assert loaded.config == reference.config
    x = _x(size=3)
    with torch.no_grad():
        assert torch.equal(loaded.module(x)[0], reference(x)[0])


def test_factory_weights_of_wrong_shape_are_refused(tmp_path: Path, user: ModuleType) -> None:
    weights = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in user.Tagger(hidden=6).state_dict().items()}, str(weights))
    with pytest.raises(LoadError, match=r"weight '(fc|lstm)\.\w+' has shape \[\d+, 6\], the model expects \[\d+, 8\]"):
        load_model(f"{user.__name__}:build", weights=weights)


def test_factory_weights_file_missing_is_refused(tmp_path: Path, user: ModuleType) -> None:
    with pytest.raises(LoadError, match="no such file"):
        load_model(f"{user.__name__}:build", weights=tmp_path / "nope.safetensors")


def test_factory_weights_as_pickled_module_are_refused(tmp_path: Path, user: ModuleType) -> None:
    weights = tmp_path / "whole.pt"
    torch.save(_trained_tagger(user), weights)
    with pytest.raises(UnsafePickleError):
        load_model(f"{user.__name__}:build", weights=weights)


def test_factory_needing_arguments_is_refused(user: ModuleType) -> None:
    with pytest.raises(LoadError, match="no arguments.*hidden"):
        load_model(f"{user.__name__}:build_sized")


def test_factory_module_missing_is_refused() -> None:
    with pytest.raises(LoadError, match="cannot import module 'no_such_pkg_zz.models'"):
        load_model("no_such_pkg_zz.models:build")


def test_factory_attribute_missing_is_refused(user: ModuleType) -> None:
    with pytest.raises(LoadError, match="no callable 'nothing_here'"):
        load_model(f"{user.__name__}:nothing_here")


def test_factory_returning_non_module_is_refused(user: ModuleType) -> None:
    with pytest.raises(LoadError, match="returned int"):
        load_model(f"{user.__name__}:not_a_module")


def test_time_major_rnn_is_refused(user: ModuleType) -> None:
    with pytest.raises(LoadError, match="batch_first"):
        load_model(f"{user.__name__}:build_time_major")


def test_input_size_is_required_without_a_sized_layer_and_honoured_when_given(user: ModuleType) -> None:
    with pytest.raises(LoadError, match="pass --input-size"):
        load_model(f"{user.__name__}:build_gain")
    loaded = load_model(f"{user.__name__}:build_gain", input_size=5)
    assert (loaded.signature.kind, loaded.signature.size) == ("features", 5)


def test_a_leading_linear_layer_tells_the_input_size(user: ModuleType) -> None:
    loaded = load_model(f"{user.__name__}:build_cumulative")
    assert (loaded.signature.kind, loaded.signature.size) == ("features", 5)


# -- (c) pickled whole modules -------------------------------------------------------------------------------


def test_pickled_module_is_refused_by_default(tmp_path: Path, user: ModuleType) -> None:
    path = tmp_path / "whole.pt"
    torch.save(_trained_tagger(user), path)
    with pytest.raises(UnsafePickleError) as info:
        load_model(str(path))
    assert "--unsafe-allow-pickle" in str(info.value)


def test_pickled_module_loads_when_allowed(tmp_path: Path, user: ModuleType) -> None:
    trained = _trained_tagger(user)
    path = tmp_path / "whole.pt"
    torch.save(trained, path)
    loaded = load_model(str(path), allow_unsafe_pickle=True)
    assert loaded.source == "pickle"
    assert loaded.config is None
    assert (loaded.signature.kind, loaded.signature.size) == ("features", 4)
    x = _x()
    with torch.no_grad():
        assert torch.equal(loaded.module(x), trained(x))


def test_pickled_non_module_is_refused_even_when_allowed(tmp_path: Path, user: ModuleType) -> None:
    path = tmp_path / "holder.pt"
    torch.save(user.Holder(), path)
    with pytest.raises(LoadError, match="not a torch.nn.Module"):
        load_model(str(path), allow_unsafe_pickle=True)


def test_pickled_native_model_is_recognised(tmp_path: Path) -> None:
    model = SequenceModel(ModelConfig(input_size=3, hidden_size=8, cell="gru"))
    path = tmp_path / "native.pt"
    torch.save(model, path)
    loaded = load_model(str(path), allow_unsafe_pickle=True)
    assert loaded.source == "pickle" and loaded.config == model.config


# -- (d) torch.export programs -------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:The tensor attributes:UserWarning")
def test_exported_lstm_has_fixed_time_axis(tmp_path: Path, user: ModuleType) -> None:
    program = torch.export.export(_trained_tagger(user), (_x(steps=5),))
    path = tmp_path / "tagger.pt2"
    torch.export.save(program, str(path))
    with pytest.raises(FixedTimeAxisError) as info:
        load_model(str(path))
    assert "time axis" in str(info.value)
    assert "T=5" in str(info.value)
    assert isinstance(info.value, LoadError)


def test_exported_program_with_dynamic_time_loads(tmp_path: Path, user: ModuleType) -> None:
    module = user.Cumulative().eval()
    program = torch.export.export(module, (_x(steps=6, size=5),), dynamic_shapes={"x": {0: Dim("batch"), 1: Dim("time")}})
    path = tmp_path / "cumulative.pt2"
    torch.export.save(program, str(path))
    loaded = load_model(str(path))
    assert loaded.source == "torch.export"
    assert loaded.exported_program is not None
    assert loaded.config is None
    assert (loaded.signature.kind, loaded.signature.size) == ("features", 5)
    x = _x(batch=3, steps=11, size=5)  # other batch and length than the export example
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x), module(x))


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 definitely not a zip archive", b"\x80\x04garbage" * 50])
def test_corrupt_pt2_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.pt2"
    path.write_bytes(content)
    with pytest.raises(LoadError, match="not a readable torch.export program"):
        load_model(str(path))


def test_missing_pt2_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="no such file"):
        load_model(str(tmp_path / "missing.pt2"))


# -- (e) other files and paths -------------------------------------------------------------------------------


def test_state_dict_given_as_model_suggests_factory(tmp_path: Path, user: ModuleType) -> None:
    path = tmp_path / "state.pt"
    torch.save(_trained_tagger(user).state_dict(), path)
    with pytest.raises(LoadError) as info:
        load_model(str(path))
    assert not isinstance(info.value, UnsafePickleError)
    assert "package.module:factory --weights" in str(info.value)


def test_safetensors_given_as_model_suggests_factory(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_file({"a": torch.zeros(2)}, str(path))
    with pytest.raises(LoadError, match="factory"):
        load_model(str(path))


def test_corrupt_torch_file_is_a_load_error_not_unsafe_pickle(tmp_path: Path) -> None:
    path = tmp_path / "junk.pt"
    path.write_bytes(b"this is not a torch file at all")
    with pytest.raises(LoadError) as info:
        load_model(str(path))
    assert not isinstance(info.value, UnsafePickleError)


def test_nonexistent_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="no such file or directory"):
        load_model(str(tmp_path / "nowhere" / "model"))


# -- exporting foreign models --------------------------------------------------------------------------------


def test_factory_model_exports_and_verifies(tmp_path: Path, user: ModuleType) -> None:
    weights = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in _trained_tagger(user).state_dict().items()}, str(weights))
    loaded = load_model(f"{user.__name__}:build", weights=weights)
    result = export_model(loaded, tmp_path / "out", verification=FAST_GRID)
    assert result.passed, [to_jsonable(c) for c in result.verification.failures()]
    assert result.written
    assert result.interface.impl == "torch.onnx" and result.source == "factory"
    assert (tmp_path / "out" / "sequence_torch_onnx.onnx").is_file()
    assert (tmp_path / "out" / "sequence_torch_onnx.export.json").is_file()
    steps = {case.steps for case in result.verification.cases}
    batches = {case.batch for case in result.verification.cases}
    assert steps == {1, 5, 13} and batches == {1, 3}  # shapes other than the export example (B=2, T=16)


def test_foreign_model_refuses_the_loop_form(tmp_path: Path, user: ModuleType) -> None:
    loaded = load_model(f"{user.__name__}:build")
    with pytest.raises(ExportError, match="loop"):
        export_model(loaded, tmp_path / "out", ExportConfig(impl="loop"), FAST_GRID)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_foreign_lstm_exports_a_streaming_graph_that_passes_streaming_parity(tmp_path: Path, user: ModuleType) -> None:
    loaded = load_model(f"{user.__name__}:build")  # batch-first LSTM -> per-step Linear
    result = export_model(loaded, tmp_path / "out", ExportConfig(form="streaming"), FAST_GRID)
    assert result.passed and result.written
    assert [s.input_name for s in result.interface.states] == ["h_in", "c_in"]
    assert any(case.label.startswith("chunks of") for case in result.verification.cases)
