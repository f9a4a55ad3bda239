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
