"""Checkpoint directories (config.json + model.safetensors) and the JSON round trip of the config types."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from edgelstm.checkpoint import CONFIG_FILE, PREPROCESSING_FILE, WEIGHTS_FILE, load_checkpoint, save_checkpoint
from edgelstm.config import HeadConfig, ModelConfig, Preprocessing
from edgelstm.errors import ConfigError, LoadError, OutputExistsError
from edgelstm.jsonio import to_jsonable
from edgelstm.model import SequenceModel

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN:UserWarning")

CONFIGS = {
    "lstm": ModelConfig(input_size=3, hidden_size=8),
    "gru": ModelConfig(input_size=4, hidden_size=8, cell="gru", head=HeadConfig("per_step", 3)),
    "peephole": ModelConfig(input_size=3, hidden_size=8, cell="peephole", head=HeadConfig("classify", 2, "mean")),
    "bidirectional-2-layer": ModelConfig(input_size=5, hidden_size=8, num_layers=2, bidirectional=True),
    "proj": ModelConfig(input_size=3, hidden_size=8, proj_size=4, head=HeadConfig("per_step", 2)),
    "tokens-lm": ModelConfig(input_size=4, hidden_size=8, input_kind="tokens", vocab_size=11, head=HeadConfig("lm", 11)),
    "forecast": ModelConfig(input_size=3, hidden_size=8, cell="gru", head=HeadConfig("forecast", 2, "mean", horizon=4)),
    "bidirectional-peephole": ModelConfig(input_size=3, hidden_size=8, cell="peephole", bidirectional=True),
}


def _model(config: ModelConfig, seed: int = 0) -> SequenceModel:
    torch.manual_seed(seed)
    return SequenceModel(config).eval()


def _example(config: ModelConfig, batch: int = 3, steps: int = 6) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    if config.input_kind == "tokens":
        return torch.randint(0, config.vocab_size, (batch, steps), generator=generator)
    return torch.randn(batch, steps, config.input_size, generator=generator)


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    return save_checkpoint(_model(CONFIGS["lstm"]), tmp_path / "ckpt")


# -- round trips -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CONFIGS))
def test_save_load_round_trip_gives_same_config_and_identical_outputs(tmp_path: Path, name: str) -> None:
    config = CONFIGS[name]
    model = _model(config)
    save_checkpoint(model, tmp_path / "ckpt")
    loaded, prep = load_checkpoint(tmp_path / "ckpt")
    assert prep is None
    assert loaded.config == config
    assert not loaded.training, "load_checkpoint must return the model in eval mode"
    x = _example(config)
    lengths = torch.tensor([6, 2, 4])
    with torch.no_grad():
        for args in ((x,), (x, lengths)):
            y_ref, state_ref = model(*args)
            y, state = loaded(*args)
            assert torch.equal(y, y_ref)
            assert len(state) == len(state_ref)
            for a, b in zip(state, state_ref, strict=False):
                assert torch.equal(a, b)


def test_round_trip_keeps_preprocessing(tmp_path: Path) -> None:
    prep = Preprocessing(feature_mean=[0.5, -1.0, 2.0], feature_std=[1.0, 2.0, 0.25], labels=["no", "yes"], sample_rate_hz=50.0)
    save_checkpoint(_model(CONFIGS["lstm"]), tmp_path / "ckpt", preprocessing=prep)
    assert (tmp_path / "ckpt" / PREPROCESSING_FILE).exists()
    _, loaded_prep = load_checkpoint(tmp_path / "ckpt")
    assert loaded_prep == prep


def test_checkpoint_files_are_plain_json_and_safetensors(checkpoint: Path) -> None:
    data = json.loads((checkpoint / CONFIG_FILE).read_text())
    assert data["cell"] == "lstm" and data["hidden_size"] == 8
    tensors = load_file(str(checkpoint / WEIGHTS_FILE))
    assert set(tensors) == set(_model(CONFIGS["lstm"]).state_dict())
    # no temporary directories left next to the checkpoint
    assert [p.name for p in checkpoint.parent.iterdir()] == ["ckpt"]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_model_config_json_round_trip(name: str) -> None:
    config = CONFIGS[name]
    text = config.to_json()
    assert ModelConfig.from_json(text) == config
    assert ModelConfig.from_dict(json.loads(text)) == config
    assert isinstance(ModelConfig.from_json(text).head, HeadConfig)


@pytest.mark.parametrize(
    "head",
    [HeadConfig(), HeadConfig("per_step", 5), HeadConfig("forecast", 3, "mean", horizon=7), HeadConfig("lm", 9)],
)
def test_head_config_round_trips_inside_model_config(head: HeadConfig) -> None:
    vocab = 9 if head.kind == "lm" else 0
    config = ModelConfig(input_size=3, hidden_size=8, head=head, input_kind="tokens" if vocab else "features", vocab_size=vocab)
    assert ModelConfig.from_json(config.to_json()).head == head


@pytest.mark.parametrize(
    "prep",
    [
        Preprocessing(),
        Preprocessing(feature_mean=[0.0, 1.5], feature_std=[1.0, 3.0]),
        Preprocessing(labels=["a", "b", "c"], sample_rate_hz=16000.0),
    ],
)
def test_preprocessing_json_round_trip(prep: Preprocessing) -> None:
    assert Preprocessing.from_dict(json.loads(json.dumps(to_jsonable(prep)))) == prep


def test_preprocessing_unknown_field_is_rejected() -> None:
    with pytest.raises(ConfigError, match="feature_scale"):
        Preprocessing.from_dict({"feature_scale": [1.0]})


def test_model_config_from_dict_rejects_unknown_and_missing_fields() -> None:
    data = to_jsonable(CONFIGS["lstm"])
    with pytest.raises(ConfigError, match="hiden_size"):
        ModelConfig.from_dict({**data, "hiden_size": 8})
    with pytest.raises(ConfigError, match="head config.*bogus"):
        ModelConfig.from_dict({**data, "head": {**data["head"], "bogus": 1}})
    del data["hidden_size"]
    with pytest.raises(ConfigError, match="incomplete"):
        ModelConfig.from_dict(data)
    with pytest.raises(ConfigError, match="not valid JSON"):
        ModelConfig.from_json("{not json")


def test_peephole_with_projection_is_rejected_up_front() -> None:
    # PeepholeLSTM (like ONNX's LSTM op) has no projection; the config must not promise one.
    with pytest.raises(ConfigError, match="proj_size"):
        ModelConfig(input_size=3, hidden_size=8, cell="peephole", proj_size=4)


# -- overwrite protection ----------------------------------------------------------------------------------


def test_save_refuses_to_overwrite_existing_directory(checkpoint: Path) -> None:
    before = (checkpoint / WEIGHTS_FILE).read_bytes()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        save_checkpoint(_model(CONFIGS["lstm"], seed=1), checkpoint)
    assert (checkpoint / WEIGHTS_FILE).read_bytes() == before


def test_save_with_overwrite_replaces_the_checkpoint(checkpoint: Path) -> None:
    (checkpoint / PREPROCESSING_FILE).write_text("{}")  # a stale file from the old checkpoint
    replacement = _model(CONFIGS["gru"], seed=1)
    save_checkpoint(replacement, checkpoint, overwrite=True)
    loaded, prep = load_checkpoint(checkpoint)
    assert loaded.config == CONFIGS["gru"]
    assert prep is None and not (checkpoint / PREPROCESSING_FILE).exists()
    for name, tensor in replacement.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor)
    assert [p.name for p in checkpoint.parent.iterdir()] == ["ckpt"]


# -- broken checkpoints ------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_safetensors_raises_load_error(checkpoint: Path, damage: str) -> None:
    weights = checkpoint / WEIGHTS_FILE
    data = weights.read_bytes()
    weights.write_bytes(
        {"garbage": b"\x00not a safetensors file" * 10, "truncated": data[: len(data) // 2], "empty": b""}[damage]
    )
    with pytest.raises(LoadError, match="corrupt or unreadable safetensors"):
        load_checkpoint(checkpoint)


def test_unknown_cell_type_names_the_field(checkpoint: Path) -> None:
    data = json.loads((checkpoint / CONFIG_FILE).read_text())
    data["cell"] = "rnn_tanh"
    (checkpoint / CONFIG_FILE).write_text(json.dumps(data))
    with pytest.raises(LoadError) as info:
        load_checkpoint(checkpoint)
    message = str(info.value)
    assert "cell" in message and "rnn_tanh" in message
    assert "lstm" in message  # lists the supported choices
    assert "\n" not in message


def test_invalid_config_json_raises_load_error(checkpoint: Path) -> None:
    (checkpoint / CONFIG_FILE).write_text('{"input_size": 3,')
    with pytest.raises(LoadError, match="not valid JSON"):
        load_checkpoint(checkpoint)


def test_missing_weights_file_raises_load_error(checkpoint: Path) -> None:
    (checkpoint / WEIGHTS_FILE).unlink()
    with pytest.raises(LoadError, match=WEIGHTS_FILE):
        load_checkpoint(checkpoint)


def test_missing_config_raises_load_error(checkpoint: Path) -> None:
    (checkpoint / CONFIG_FILE).unlink()
    with pytest.raises(LoadError, match=CONFIG_FILE):
        load_checkpoint(checkpoint)


def _rewrite_weights(checkpoint: Path, edit) -> None:
    tensors = load_file(str(checkpoint / WEIGHTS_FILE))
    edit(tensors)
    save_file(tensors, str(checkpoint / WEIGHTS_FILE))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_raise_load_error(checkpoint: Path, bad: float) -> None:
    def poison(t: dict) -> None:
        t["rnn.weight_hh_l0"][3, 2] = bad

    _rewrite_weights(checkpoint, poison)
    with pytest.raises(LoadError, match="rnn.weight_hh_l0.*NaN or Inf"):
        load_checkpoint(checkpoint)


def test_wrong_shape_weights_raise_load_error_naming_the_tensor(checkpoint: Path) -> None:
    def reshape(t: dict) -> None:
        t["head.weight"] = torch.zeros(2, 16)

    _rewrite_weights(checkpoint, reshape)
    with pytest.raises(LoadError) as info:
        load_checkpoint(checkpoint)
    assert "head.weight" in str(info.value)
    assert "[2, 16]" in str(info.value) and "[2, 8]" in str(info.value)


def test_missing_and_unexpected_tensors_raise_load_error(checkpoint: Path) -> None:
    def rename(t: dict) -> None:
        t["head.weights"] = t.pop("head.weight")

    _rewrite_weights(checkpoint, rename)
    with pytest.raises(LoadError) as info:
        load_checkpoint(checkpoint)
    assert "missing 1" in str(info.value) and "head.weight" in str(info.value)
    assert "unexpected 1" in str(info.value) and "head.weights" in str(info.value)


def test_invalid_preprocessing_file_raises_load_error(checkpoint: Path) -> None:
    (checkpoint / PREPROCESSING_FILE).write_text(json.dumps({"mean": [1.0]}))
    with pytest.raises(LoadError, match="preprocessing"):
        load_checkpoint(checkpoint)
