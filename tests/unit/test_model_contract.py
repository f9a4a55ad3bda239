"""One model contract: every command that takes a model or a reference accepts exactly the same model options."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgelstm.cli_common import MODEL_OPTIONS
from edgelstm.errors import ConfigError
from edgelstm.jsonio import to_jsonable
from edgelstm.model_source import ModelOptions, ModelSource
from tests.support.model_contract import MODEL_FLAGS


def test_the_declared_options_are_the_contract():
    assert {option.param_decls[0] for _, option in MODEL_OPTIONS.values()} == MODEL_FLAGS


def test_model_source_parses_and_reports():
    options = ModelOptions.parse(weights="w.safetensors", constants=["sr=16000", "gain=0.5"], states="state:stateN", chunk=512)
    source = options.source("pkg.mod:build")
    assert source.spec == "pkg.mod:build"
    assert source.constants == {"sr": 16000, "gain": 0.5}
    assert source.states == (("state", "stateN"),)
    assert source.is_factory
    assert to_jsonable(source) == {
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
    assert to_jsonable(parsed)["model_options"] == {"constants": {"sr": 16000}, "chunk": 512}
