"""One model contract: every command that takes a model or a reference accepts exactly the same model options."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from edgelstm.cli import app
from tests.refusals import assert_refused
from tests.support.model_contract import MODEL_FLAGS

# The commands that load a model (MODEL, TEACHER or --reference); convert takes it from its recipe's [model] table.
MODEL_COMMANDS = ("inspect", "export", "check", "quantize", "bench", "distill")


def _commands() -> dict[str, typer.core.TyperCommand]:
    # Through the group's own lookup: commands load lazily, so `group.commands` holds only those some earlier test
    # in this process happened to import (under pytest-xdist that depends on which worker ran what).
    group = typer.main.get_command(app)
    return {name: group.get_command(None, name) for name in group.list_commands(None)}  # type: ignore[attr-defined, arg-type]


def _model_params(command) -> dict[str, tuple[tuple[str, ...], str | None]]:
    return {
        opt: (tuple(param.opts), getattr(param, "help", None))
        for param in command.params
        for opt in param.opts
        if opt in MODEL_FLAGS
    }


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
