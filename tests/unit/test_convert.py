"""`edgelstm convert`: a validated recipe runs the whole chain once, and a re-run resumes."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgelstm.errors import ConfigError
from edgelstm.pipeline import load_recipe
from tests.support import convert as shared
from tests.support.convert import RECIPE

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
project = shared.project


@pytest.mark.parametrize(
    "change,message",
    [
        (('[data]\nheldout = "held.npz"\n', ""), "heldout is required"),
        (('schemes = ["dynamic-int8"]', 'schemes = ["int3"]'), "unknown int3"),
        (('providers = ["cpu"]', 'providers = "cpu"'), "list of strings"),
        (("[output]", "[distill]\nhidden = 8\n[output]"), r"\[distill\] data .* is required"),
        (("[output]", '[distill]\ndata = "held.npz"\nhiden = 8\n[output]'), "unknown key"),
        (("[output]", '[distill]\ndata = "held.npz"\nhidden = "8"\n[output]'), "hidden must be int"),
        (("[output]", '[distill]\ndata = "held.npz"\ncell = "rnn"\n[output]'), "cell must be"),
        (("[output]", '[distill]\ndata = "held.npz"\ntarget_params = "lots"\n[output]'), "parameter count"),
        (("[output]", "[extras]\n[output]"), "unknown table"),
        (("batches = [1]", "batches = [0]"), "positive integers"),
        (("steps = [8]", 'steps = [8]\nspinning = ["sometimes"]'), "unknown sometimes; choose from off, on"),
        (("steps = [8]", 'steps = [8]\nspinning = ["on", "on"]'), "each once"),
    ],
)
def test_recipe_is_validated_before_any_work(project: Path, change: tuple[str, str], message: str) -> None:
    (project / "recipe.toml").write_text(RECIPE.replace(*change))
    with pytest.raises(ConfigError, match=message):
        load_recipe(project / "recipe.toml")


def test_the_bundle_form_is_validated(project: Path) -> None:
    (project / "recipe.toml").write_text(RECIPE.replace('forms = ["sequence", "streaming"]', 'forms = ["sequence"]') + "")
    assert load_recipe(project / "recipe.toml").bundle_form == "sequence"
    (project / "recipe.toml").write_text(
        RECIPE.replace("zip = false", 'zip = false\nform = "streaming"').replace(
            'forms = ["sequence", "streaming"]', 'forms = ["sequence"]'
        )
    )
    with pytest.raises(ConfigError, match="not a form this recipe exports"):
        load_recipe(project / "recipe.toml")


LITERT = RECIPE.replace('forms = ["sequence", "streaming"]', 'target = "litert"\nchunks = [1, 4]').replace(
    'providers = ["cpu"]', 'providers = ["litert"]'
)


def test_a_litert_recipe_reads_its_target_chunks_and_defaults(project: Path) -> None:
    (project / "recipe.toml").write_text(LITERT.replace('schemes = ["dynamic-int8"]', 'schemes = ["auto", "weight-only-int8"]'))
    recipe = load_recipe(project / "recipe.toml")
    assert (recipe.target, recipe.chunks, recipe.forms, recipe.providers) == ("litert", (1, 4), ("streaming",), ("litert",))
    assert recipe.schemes == ("auto", "weight-only-int8") and recipe.bundle_form == "streaming"


@pytest.mark.parametrize(
    "change,message",
    [
        (('target = "litert"', 'target = "coreml"'), "target 'coreml': choose onnx or litert"),
        (('target = "litert"', 'target = "litert"\nforms = ["sequence"]'), "streaming form only"),
        (('providers = ["litert"]', 'providers = ["cpu"]'), r'providers = \["litert"\] goes with'),
        (('providers = ["litert"]', 'providers = ["litert", "cpu"]'), r'providers = \["litert"\] goes with'),
        (('schemes = ["dynamic-int8"]', 'schemes = ["static-int8"]'), "unknown static-int8; choose from auto, dynamic-int8"),
        (("chunks = [1, 4]", "chunks = [0]"), "positive integers"),
        (("zip = false", 'zip = false\nartifact = "sequence_fused.onnx"'), "streaming_litert_b1_k<chunk>"),
    ],
)
def test_a_litert_recipe_is_validated_before_any_work(project: Path, change: tuple[str, str], message: str) -> None:
    (project / "recipe.toml").write_text(LITERT.replace(*change))
    with pytest.raises(ConfigError, match=message):
        load_recipe(project / "recipe.toml")


def test_chunks_and_the_litert_provider_are_refused_in_an_onnx_recipe(project: Path) -> None:
    (project / "recipe.toml").write_text(RECIPE.replace("[quantize]", "chunks = [4]\n[quantize]"))
    with pytest.raises(ConfigError, match=r'chunks is for target = "litert"'):
        load_recipe(project / "recipe.toml")
    (project / "recipe.toml").write_text(RECIPE.replace('providers = ["cpu"]', 'providers = ["cpu", "litert"]'))
    with pytest.raises(ConfigError, match=r'providers = \["litert"\] goes with'):
        load_recipe(project / "recipe.toml")
