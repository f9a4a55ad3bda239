"""What every `edgelstm` command shares: the Typer app, common options, and user-error handling."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

app = typer.Typer(
    name="edgelstm",
    help="Ship trained recurrent models (LSTM, GRU, peephole) to edge devices: export with state, verified.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
F = TypeVar("F", bound=Callable[..., Any])

ModelArg = typer.Argument(..., help="edgelstm checkpoint dir, a torch.export .pt2 file, or package.module:factory")
WeightsOpt = typer.Option(
    None, "--weights", help="state dict for a factory model (.safetensors, or torch file loaded weights_only)"
)
UnsafeOpt = typer.Option(
    False, "--unsafe-allow-pickle", help="allow unpickling a whole pickled nn.Module (runs code from the file)"
)
InputSizeOpt = typer.Option(None, "--input-size", help="feature count, when it cannot be read from the model's first layer")
JsonOpt = typer.Option(False, "--json", help="print machine-readable JSON instead of tables")


def user_errors(func: F) -> F:
    """Turn named user errors into one line on stderr and exit code 2 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from edgelstm.errors import EdgelstmError

        try:
            return func(*args, **kwargs)
        except EdgelstmError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_USAGE) from None

    return wrapper  # type: ignore[return-value]


def parse_ints(text: str | None, option: str) -> tuple[int, ...] | None:
    from edgelstm.errors import ConfigError

    if text is None:
        return None
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{option} expects comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise ConfigError(f"{option} expects positive integers, got {text!r}")
    return values


def parse_names_keep_case(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def parse_names(text: str) -> tuple[str, ...]:
    return tuple(name.strip().lower() for name in text.split(",") if name.strip())
