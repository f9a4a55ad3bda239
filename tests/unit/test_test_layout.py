"""The fast loop stays fast: nothing under tests/unit/ (or a tests.support module it imports) starts a process or
drives the CLI. CLI and end-to-end runs belong in tests/e2e/ (issue 18 item 6)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[2]

# Modules whose import means a test starts a process or runs a command through the CLI.
FORBIDDEN_MODULES = ("subprocess", "multiprocessing", "typer.testing", "click.testing", "edgelstm.cli", "tests.refusals")
FORBIDDEN_NAMES = {"CliRunner", "run_cli", "assert_refused", "Popen"}
FORBIDDEN_CALLS = {"invoke", "system", "Popen", "check_output", "check_call"}  # runner.invoke(app, ...), os.system(...)


def _forbidden(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN_MODULES)


def cli_uses(source: str) -> list[str]:
    """What in `source` starts a process or drives the CLI, as 'line N: what'."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names if _forbidden(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if _forbidden(node.module):
                found.append(f"line {node.lineno}: from {node.module} import ...")
            found += [f"line {node.lineno}: imports {a.name}" for a in node.names if a.name in FORBIDDEN_NAMES]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in FORBIDDEN_CALLS or name in FORBIDDEN_NAMES:
                found.append(f"line {node.lineno}: calls {name}()")
    return found


def support_modules(source: str) -> list[Path]:
    """The tests.support modules `source` imports: the unit file's helpers count as the unit file."""
    paths = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("tests.support."):
                paths.append(TESTS / "support" / f"{node.module.rsplit('.', 1)[1]}.py")
            elif node.module == "tests.support":
                paths += [TESTS / "support" / f"{alias.name}.py" for alias in node.names]
    return paths


def test_no_unit_test_starts_a_process_or_drives_the_cli() -> None:
    offences = []
    for path in sorted((TESTS / "unit").glob("*.py")):
        source = path.read_text()
        for checked in [path, *support_modules(source)]:
            offences += [f"{path.name} ({checked.relative_to(TESTS)}) {use}" for use in cli_uses(checked.read_text())]
    assert not offences, "move these tests to tests/e2e/:\n" + "\n".join(offences)


@pytest.mark.parametrize(
    "line",
    [
        "import subprocess",
        "from subprocess import run",
        "from typer.testing import CliRunner",
        "from edgelstm.cli import app",
        "from tests.refusals import run_cli",
        "import multiprocessing.pool",
        "result = runner.invoke(app, ['export'])",
        "os.system('edgelstm export x')",
    ],
)
def test_the_scan_sees_each_way_of_reaching_the_cli(line: str) -> None:
    assert cli_uses(line), line


def test_the_scan_passes_library_code_and_follows_support_imports() -> None:
    assert cli_uses("from edgelstm.cli_common import user_errors\nimport typer\nx = load_model('m')") == []
    source = "from tests.support.check import workspace\nfrom tests.support import bundle as shared\n"
    assert support_modules(source) == [TESTS / "support" / "check.py", TESTS / "support" / "bundle.py"]
