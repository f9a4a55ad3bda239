"""`edgelstm --help` must stay instant: importing the CLI and every command module (what `--help` lists) loads none
of the heavy libraries. Commands keep their library imports inside functions for this (each commented
`# heavy (...)`); one hoisted to module level fails here. Command modules load lazily: `import edgelstm.cli` loads
none, `edgelstm CMD` loads CMD's alone."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "numpy", "onnx", "onnxruntime", "onnx_ir")


def test_importing_the_cli_loads_no_heavy_library() -> None:
    # A fresh interpreter: this process has torch and numpy loaded by other tests already.
    code = (
        "import importlib, sys, edgelstm.cli\n"
        "for module in set(edgelstm.cli.COMMAND_MODULES.values()): importlib.import_module('edgelstm.commands.' + module)\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == [], f"`import edgelstm.cli` loads {loaded}: a command imports a heavy module at module level"


def _commands_loaded(code: str) -> list[str]:
    probe = code + "\nprint(' '.join(sorted(m for m in sys.modules if m.startswith('edgelstm.commands.'))))"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()


def test_the_cli_loads_a_command_module_only_when_its_command_is_looked_up() -> None:
    assert _commands_loaded("import sys, edgelstm.cli") == []
    look_up = "import sys, edgelstm.cli, typer.main\ntyper.main.get_command(edgelstm.cli.app).get_command(None, 'check')"
    assert _commands_loaded(look_up) == ["edgelstm.commands.check"]


def test_the_command_table_names_every_registered_command_in_help_order() -> None:
    import importlib

    import typer.main

    from edgelstm.cli import COMMAND_MODULES, app

    for module in dict.fromkeys(COMMAND_MODULES.values()):
        importlib.import_module(f"edgelstm.commands.{module}")
    registered = {info.name or info.callback.__name__: info.callback.__module__ for info in app.registered_commands}
    assert registered == {name: f"edgelstm.commands.{module}" for name, module in COMMAND_MODULES.items()}
    # --help lists the table's order whatever order earlier imports registered the commands in (that order depends on
    # which tests ran first in this process, so it is not what the user sees)
    listed = typer.main.get_command(app).list_commands(None)  # type: ignore[attr-defined]
    assert listed == list(COMMAND_MODULES)
    from typer.testing import CliRunner

    shown = CliRunner().invoke(app, ["--help"], terminal_width=200).output
    positions = [shown.find(f"│ {name} ") for name in COMMAND_MODULES]
    assert -1 not in positions and positions == sorted(positions), shown
