"""The `edgelstm` command: a thin layer over the Python API. Heavy imports happen inside commands.

The app and shared options live in `edgelstm.cli_common`; each command in its own module under
`edgelstm.commands`.
"""

from __future__ import annotations

import edgelstm.commands  # noqa: F401  # registers every command on the app
from edgelstm.cli_common import app

__all__ = ["app", "main"]


def main() -> None:  # entry for `python -m edgelstm.cli`
    """Run the CLI: the console script and `python -m edgelstm.cli` start here."""
    app()


if __name__ == "__main__":
    main()
