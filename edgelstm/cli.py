"""The `edgelstm` command: a thin layer over the Python API. Heavy imports happen inside commands.

The app and shared options live in `edgelstm.cli_common`; each command in its own module under
`edgelstm.commands`, imported when the command is looked up (run, or listed by `--help`): `import edgelstm.cli`
loads no command module, and `edgelstm CMD` loads CMD's alone.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer.main

from edgelstm.cli_common import OneLineUsageErrors, app

__all__ = ["COMMAND_MODULES", "LazyCommands", "app", "main"]

# command -> its module under edgelstm.commands, in the order `edgelstm --help` lists them: the pipeline's order
COMMAND_MODULES: dict[str, str] = {
    "inspect": "model",
    "export": "model",
    "check": "check",
    "quantize": "quantize",
    "bench": "bench",
    "bundle": "bundle",
    "report": "report",
    "convert": "convert",
    "distill": "distill",
}


class LazyCommands(OneLineUsageErrors):
    """The app's command group, filled as commands are looked up: a command's module registers it on the app when
    imported, and the group takes the click command Typer builds from that registration."""

    def list_commands(self, ctx: Any) -> list[str]:
        """Every command, in `--help`'s order, without importing them."""
        return list(COMMAND_MODULES)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command `cmd_name`, its module imported on first use; None for a name that is not a command."""
        module = COMMAND_MODULES.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            qualified = f"edgelstm.commands.{module}"
            importlib.import_module(qualified)
            for info in app.registered_commands:  # the module's commands, built as Typer builds a group's
                if info.callback is not None and info.callback.__module__ == qualified:
                    command = typer.main.get_command_from_info(
                        info, pretty_exceptions_short=app.pretty_exceptions_short, rich_markup_mode=app.rich_markup_mode
                    )
                    self.commands[command.name or cmd_name] = command
        return self.commands.get(cmd_name)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """As Typer resolves it; an unknown name first loads every command, so its "did you mean" draws on all."""
        if args and args[0] not in COMMAND_MODULES:
            for name in COMMAND_MODULES:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)


app.info.cls = LazyCommands  # the app's group class: set here, where the command table is


def main() -> None:  # entry for `python -m edgelstm.cli`
    """Run the CLI: the console script and `python -m edgelstm.cli` start here."""
    app()


if __name__ == "__main__":
    main()
