"""What every refused input must look like from the outside, checked the same way by every bad-input test.

A refusal is: the expected exit code, exactly one line on stderr that starts with `error:`, no traceback anywhere,
no file created, changed or removed in the watched locations, and no payload marker file created.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner, Result

from edgelstm.cli import app


def run_cli(args: list[str]) -> Result:
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    return runner.invoke(app, [str(a) for a in args])


def snapshot(*locations: Path) -> dict[str, str]:
    """Every file under the locations (or the location itself) -> sha256; what a refusal must leave untouched."""
    state: dict[str, str] = {}
    for location in locations:
        paths = [location] if location.is_file() else sorted(location.rglob("*")) if location.exists() else []
        for path in paths:
            if path.is_symlink():
                state[str(path)] = "symlink -> " + str(path.readlink())
            elif path.is_file():
                state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            elif path.is_dir():
                state[str(path)] = "dir"
    return state


@dataclass
class Refusal:
    result: Result
    stderr_lines: list[str]


def assert_refused(
    args: list[str],
    *fragments: str,
    watch: tuple[Path, ...] = (),
    markers: tuple[Path, ...] = (),
    exit_code: int = 2,
) -> Refusal:
    """Run the CLI and assert it refused as promised; `fragments` must appear in the error line."""
    before = snapshot(*watch)
    result = run_cli(args)
    stderr_lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == exit_code, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert len(stderr_lines) == 1, f"expected one stderr line, got: {stderr_lines}"
    assert stderr_lines[0].startswith("error:"), stderr_lines[0]
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    for fragment in fragments:
        assert fragment.lower() in stderr_lines[0].lower(), f"{fragment!r} not in {stderr_lines[0]!r}"
    assert snapshot(*watch) == before, "a refused command created, changed or removed files"
    for marker in markers:
        assert not marker.exists(), f"payload ran: {marker} was created"
    return Refusal(result, stderr_lines)
