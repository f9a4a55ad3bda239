"""What every `edgelstm` command shares: the Typer app, common options, and user-error handling."""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import typer
from typer.core import TyperGroup

from edgelstm.errors import ConfigError, EdgelstmError, EdgelstmWarning, describe_os_error, first_line
from edgelstm.model_source import ModelOptions

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class OneLineUsageErrors(TyperGroup):
    """Usage errors (a missing option, a bad value for a typed option) as one `error:` line and exit 2.

    Typer would draw a multi-line box; a CI log or a script reading stderr wants the same one line every other
    refusal gives.
    """

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """Run the group; in standalone mode a usage error ends as one `error:` line and its exit code."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[misc]  # forwarded, not repeated
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[misc]
        except typer.TyperException as exc:  # click's UsageError/BadParameter, vendored by typer
            message = exc.format_message().strip().rstrip(".")  # type: ignore[attr-defined]
            context = getattr(exc, "ctx", None)
            hint = f" (see '{context.command_path} --help')" if context is not None else ""
            if message:  # empty when the help itself was the answer (a bare `edgelstm`): rich printed it already
                typer.echo(f"error: {first_line(Exception(message))}{hint}", err=True)
            sys.exit(getattr(exc, "exit_code", EXIT_USAGE))
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(EXIT_FAILED)
        sys.exit(code if isinstance(code, int) else EXIT_OK)


app = typer.Typer(
    cls=OneLineUsageErrors,
    name="edgelstm",
    help="Ship trained recurrent models (LSTM, GRU, peephole) to edge devices: export with state, verified.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])
DEBUG_ENV = "EDGELSTM_DEBUG"


@app.callback()
def _global_options(
    debug: bool = typer.Option(False, "--debug", help="on an unexpected error, print the full traceback"),
) -> None:
    if debug:
        os.environ[DEBUG_ENV] = "1"


ModelArg = typer.Argument(
    ..., help="edgelstm checkpoint dir, a torch.export .pt2 file, package.module:factory, a TorchScript archive or an .onnx"
)
JsonOpt = typer.Option(False, "--json", help="print machine-readable JSON instead of tables")

# The model options, declared once: every command that takes a model or a reference gets exactly these (same names,
# same help) through `@model_options`, and receives them parsed as one `ModelOptions` argument.
MODEL_OPTIONS: dict[str, tuple[Any, Any]] = {
    "weights": (
        Path | None,
        typer.Option(None, "--weights", help="state dict for a factory model (.safetensors, or torch file loaded weights_only)"),
    ),
    "input_size": (
        int | None,
        typer.Option(None, "--input-size", help="feature count, when a probe of the model's first layer cannot find it"),
    ),
    "unsafe_allow_pickle": (
        bool,
        typer.Option(False, "--unsafe-allow-pickle", help="allow unpickling a whole pickled nn.Module (runs code from the file)"),
    ),
    "unsafe_allow_torchscript": (
        bool,
        typer.Option(
            False, "--unsafe-allow-torchscript", help="load a TorchScript archive (.jit): it carries code that runs when loaded"
        ),
    ),
    "const": (
        list[str],
        typer.Option([], "--const", help="a constant argument or scalar input of the model, NAME=VALUE (repeatable)"),
    ),
    "state": (
        str | None,
        typer.Option(None, "--state", help="recurrent state pairs INPUT:OUTPUT (comma-separated), when names do not tell"),
    ),
    "chunk": (int | None, typer.Option(None, "--chunk", help="streaming chunk length (samples or steps) the model runs at")),
    "context": (
        int | None,
        typer.Option(None, "--context", help="samples of the previous chunk each call also sees (silero-vad: 64 at 16 kHz)"),
    ),
    "axes": (
        str | None,
        typer.Option(
            None,
            "--axes",
            help="roles of an ONNX graph's data axes, INPUT=ROLE,... of batch, time (frames), features; when the graph "
            "cannot tell (e.g. input=time,features: axis 0 is frames, batch 1)",
        ),
    ),
}


def option_group(param: str, options: dict[str, tuple[Any, Any]], build: Callable[..., Any]) -> Callable[[F], F]:
    """Declare a group of typer options once and hand the command one typed object built from them.

    The command declares a placeholder parameter `param`; in its signature (what typer reads) the placeholder is
    replaced, in place, by the options of `options` (name -> (annotation, typer.Option)), so `--help` lists them
    where the placeholder stood. When the command runs, `build(**values)` becomes `param`. Typer has no option
    groups of its own (a dataclass parameter is not an option type), hence this small signature rewrite.
    """

    def decorate(func: F) -> F:
        signature = inspect.signature(func)
        parameters: list[inspect.Parameter] = []
        for parameter in signature.parameters.values():
            if parameter.name != param:
                parameters.append(parameter)
                continue
            parameters += [
                inspect.Parameter(name, parameter.kind, default=option, annotation=annotation)
                for name, (annotation, option) in options.items()
            ]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {name: kwargs.pop(name, option.default) for name, (_, option) in options.items()}
            kwargs[param] = build(**values)
            return func(*args, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _parsed_model_options(**raw: Any) -> Any:
    return ModelOptions.parse(
        weights=raw["weights"],
        input_size=raw["input_size"],
        allow_pickle=raw["unsafe_allow_pickle"],
        allow_torchscript=raw["unsafe_allow_torchscript"],
        constants=raw["const"] or (),
        states=raw["state"],
        chunk=raw["chunk"],
        context=raw["context"],
        axes=raw["axes"],
    )


# Give a command the shared model options; it receives them parsed as `model_options: ModelOptions`. Parsed before
# the command body runs, so a bad `--const` or `--state` is refused the same way by every command. Apply below
# `@user_errors`, so those refusals go through the one error boundary.
model_options = option_group("model_options", MODEL_OPTIONS, _parsed_model_options)


def user_errors(func: F) -> F:
    """The one error boundary of every command.

    Expected failures (named edgelstm errors, and the OS refusing a file: missing, read-only, disk full, a
    directory where a file belongs) end in one `error:` line and exit 2. Anything else is a bug or an input edgelstm
    did not foresee: one `internal error:` line and exit 3, the traceback only with `--debug`.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with _warning_lines():
                return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except EdgelstmError as exc:
            _fail(f"error: {first_line(exc, limit=2000)}", EXIT_USAGE)
        except OSError as exc:
            _fail(f"error: {describe_os_error(exc)}", EXIT_USAGE)
        except MemoryError:
            _fail("error: out of memory (the model, data or --steps/--batches ask for more than this machine has)", EXIT_USAGE)
        except KeyboardInterrupt:
            _fail("error: interrupted", 130)
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            _fail(
                f"internal error: {type(exc).__name__}: {first_line(exc)} (rerun with --debug for the traceback)",
                EXIT_INTERNAL,
            )

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def _warning_lines() -> Iterator[None]:
    """edgelstm's own warnings (e.g. random weights) as one `warning: ...` line each on stderr; others untouched."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", EdgelstmWarning)
        previous = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], *rest: Any, **kw: Any) -> None:
            if issubclass(category, EdgelstmWarning):
                typer.echo(f"warning: {first_line(Exception(str(message)))}", err=True)
            else:
                previous(message, category, *rest, **kw)

        warnings.showwarning = show
        yield


def _fail(line: str, code: int) -> None:
    typer.echo(line, err=True)
    raise typer.Exit(code) from None


def parse_ints(text: str | None, option: str) -> tuple[int, ...] | None:
    """A comma-separated option as positive integers (None when not given); anything else is a ConfigError naming the option."""
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
    """A comma-separated option as names with their case kept, for names where case matters (tensor names, columns)."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def parse_names(text: str) -> tuple[str, ...]:
    """A comma-separated option as lower-case names, for names matched case-insensitively (providers, op types)."""
    return tuple(name.strip().lower() for name in text.split(",") if name.strip())
