"""One model contract: every command that takes a model or a reference accepts exactly the same model options."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from edgelstm.cli import app
from edgelstm.cli_common import MODEL_OPTIONS
from edgelstm.errors import ConfigError
from edgelstm.model_source import ModelOptions, ModelSource
from tests.refusals import assert_refused

# The commands that load a model (MODEL, TEACHER or --reference); convert takes it from its recipe's [model] table.
MODEL_COMMANDS = ("inspect", "export", "check", "quantize", "bench", "distill")
MODEL_FLAGS = {
    "--weights",
    "--input-size",
    "--unsafe-allow-pickle",
    "--unsafe-allow-torchscript",
    "--const",
    "--state",
    "--chunk",
    "--context",
    "--axes",
}


def _commands() -> dict[str, typer.core.TyperCommand]:
    group = typer.main.get_command(app)
    return dict(group.commands)  # type: ignore[attr-defined]


def _model_params(command) -> dict[str, tuple[tuple[str, ...], str | None]]:
    return {
        opt: (tuple(param.opts), getattr(param, "help", None))
        for param in command.params
        for opt in param.opts
        if opt in MODEL_FLAGS
    }


def test_the_declared_options_are_the_contract():
    assert {option.param_decls[0] for _, option in MODEL_OPTIONS.values()} == MODEL_FLAGS


def test_every_model_command_takes_the_same_model_options():
    commands = _commands()
    reference = _model_params(commands["inspect"])
    assert set(reference) == MODEL_FLAGS
    for name in MODEL_COMMANDS:
        assert _model_params(commands[name]) == reference, name  # same names, same help


def test_no_other_command_takes_a_partial_set():
    # A command with some model options but not all is the drift this contract exists to stop.
    for name, command in _commands().items():
        found = set(_model_params(command))
        assert found in (set(), MODEL_FLAGS), (name, found)
        assert bool(found) == (name in MODEL_COMMANDS), name


# The least each command needs before its body runs; the bad --const must be what it refuses.
MINIMAL_ARGS = {
    "inspect": ["m.onnx"],
    "export": ["pkg.mod:build", "--out", "out"],
    "check": ["a.onnx", "--reference", "pkg.mod:build"],
    "quantize": ["a.onnx", "--out", "out"],
    "bench": ["a.onnx"],
    "distill": ["pkg.mod:build", "--data", "d.npz", "--validation", "v.npz", "--out", "out"],
}


@pytest.mark.parametrize("command", MODEL_COMMANDS)
@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        (["--const", "sr"], "--const expects NAME=VALUE, got 'sr'"),
        (["--const", "sr=fast"], "--const sr: 'fast' is not a number"),
        (["--state", "state"], "--state expects INPUT:OUTPUT pairs"),
        (["--chunk", "0"], "--chunk must be between 1 and"),
        (["--input-size", "0"], "--input-size must be a feature count"),
    ],
)
def test_every_command_refuses_a_bad_model_option_the_same_way(command, bad, fragment, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_refused([command, *MINIMAL_ARGS[command], *bad], fragment, watch=(tmp_path,))


def test_model_source_parses_and_reports():
    options = ModelOptions.parse(weights="w.safetensors", constants=["sr=16000", "gain=0.5"], states="state:stateN", chunk=512)
    source = options.source("pkg.mod:build")
    assert source.spec == "pkg.mod:build"
    assert source.constants == {"sr": 16000, "gain": 0.5}
    assert source.states == (("state", "stateN"),)
    assert source.is_factory
    assert source.to_dict() == {
        "spec": "pkg.mod:build",
        "weights": "w.safetensors",
        "input_size": None,
        "allow_pickle": False,
        "allow_torchscript": False,
        "constants": {"sr": 16000, "gain": 0.5},
        "states": [["state", "stateN"]],
        "chunk": 512,
    }
    # a recipe's [model] const table goes through the same parser
    assert ModelOptions.parse(constants={"sr": 8000}).constants == {"sr": 8000}


def test_model_source_needs_a_spec():
    with pytest.raises(ConfigError, match="no model given"):
        ModelSource("")


def test_convert_recipe_takes_the_same_model_keys():
    from edgelstm.pipeline.recipe import SCHEMA

    assert set(SCHEMA["model"]) - {"source"} == {flag.removeprefix("--").replace("-", "_") for flag in MODEL_FLAGS}


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ('const = {sr = "fast"}', "--const sr: 'fast' is not a number"),
        ('state = "state"', "--state expects INPUT:OUTPUT pairs"),
        ("chunk = 0", "--chunk must be between 1 and"),
    ],
)
def test_convert_refuses_a_bad_model_key_like_the_commands(line, fragment, tmp_path: Path):
    (tmp_path / "heldout.npz").write_bytes(b"")
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(f'[model]\nsource = "pkg.mod:build"\n{line}\n[data]\nheldout = "heldout.npz"\n[output]\ndir = "out"\n')
    assert_refused(["convert", recipe], "[model] " + fragment, watch=(tmp_path,))


def test_convert_passes_the_model_options_on(tmp_path: Path):
    from edgelstm.pipeline.recipe import load_recipe

    (tmp_path / "heldout.npz").write_bytes(b"")
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(
        '[model]\nsource = "pkg.mod:build"\nconst = {sr = 16000}\nchunk = 512\n'
        '[data]\nheldout = "heldout.npz"\n[output]\ndir = "out"\n'
    )
    parsed = load_recipe(recipe)
    assert parsed.model_source == ModelSource("pkg.mod:build", constants={"sr": 16000}, chunk=512)
    assert parsed.to_dict()["model_options"] == {"constants": {"sr": 16000}, "chunk": 512}
