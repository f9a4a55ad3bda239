"""The suite runs under pytest-xdist (issue 18: its time): the order tests/conftest.py hands modules out in, and the
command line that order depends on."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

import tomllib

from tests.conftest import DOCS, LONG_SCOPES, long_scopes_first, xdist_scope

REPO = Path(__file__).resolve().parents[2]


@dataclass
class FakeItem:
    """What long_scopes_first reads of a pytest.Item."""

    nodeid: str


def test_every_long_scope_exists() -> None:
    # a renamed module or class would silently lose its place at the front: the run would end on it again
    modules = {scope.split("::", 1)[0] for scope in LONG_SCOPES}
    assert [m for m in modules if not (REPO / m).is_file()] == []
    for scope in LONG_SCOPES:
        if "::" in scope:
            module, cls = scope.split("::")
            assert f"class {cls}" in (REPO / module).read_text(encoding="utf-8"), scope


def test_readme_runs_first_and_the_pages_that_start_from_it_after_the_other_long_modules() -> None:
    assert LONG_SCOPES[0] == DOCS
    pages = [i for i, scope in enumerate(LONG_SCOPES) if scope.startswith(f"{DOCS}::")]
    assert pages and min(pages) > max(i for i, scope in enumerate(LONG_SCOPES) if "::" not in scope)


def test_the_scope_of_a_test_is_its_class_or_its_module() -> None:
    assert xdist_scope(f"{DOCS}::TestOtherPages::test_page_commands[docs/index.md]") == f"{DOCS}::TestOtherPages"
    assert xdist_scope(f"{DOCS}::test_readme_commands") == DOCS
    assert xdist_scope("tests/unit/test_a.py::test_b[x]") == "tests/unit/test_a.py"


def test_long_scopes_go_first_in_their_order_and_every_module_stays_together() -> None:
    first, second = LONG_SCOPES[0], LONG_SCOPES[1]
    items = [
        FakeItem("tests/unit/test_a.py::test_1"),
        FakeItem(f"{second}::test_x"),
        FakeItem("tests/unit/test_a.py::test_2"),
        FakeItem(f"{first}::test_y[p]"),
        FakeItem(f"{second}::test_z"),
        FakeItem("tests/e2e/test_b.py::test_3"),
    ]
    ordered = [i.nodeid for i in long_scopes_first(items)]  # type: ignore[arg-type]  # only .nodeid is read
    assert ordered == [
        f"{first}::test_y[p]",
        f"{second}::test_x",
        f"{second}::test_z",
        "tests/unit/test_a.py::test_1",
        "tests/unit/test_a.py::test_2",
        "tests/e2e/test_b.py::test_3",
    ]


def test_a_listed_class_goes_at_its_own_place_not_its_modules() -> None:
    items = [
        FakeItem(f"{DOCS}::TestCommandPages::test_page_commands[docs/commands/check.md]"),
        FakeItem("tests/unit/test_a.py::test_1"),
        FakeItem("tests/e2e/test_quantize_cli.py::test_q"),
        FakeItem(f"{DOCS}::test_readme_commands"),
    ]
    ordered = [i.nodeid for i in long_scopes_first(items)]  # type: ignore[arg-type]  # only .nodeid is read
    assert ordered == [
        f"{DOCS}::test_readme_commands",
        "tests/e2e/test_quantize_cli.py::test_q",
        f"{DOCS}::TestCommandPages::test_page_commands[docs/commands/check.md]",
        "tests/unit/test_a.py::test_1",
    ]


def test_ci_runs_pytest_whole_modules_per_worker_in_collection_order() -> None:
    """The schedule conftest sets up needs loadscope (a module's fixtures built once) and collection order."""
    lines = [line for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines() if "-m pytest" in line]
    assert len(lines) == 1, lines
    args = shlex.split(lines[0])
    assert "-n" in args and args[args.index("--dist") + 1] == "loadscope" and "--no-loadscope-reorder" in args
    dev = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]["dev"]
    assert any(req.startswith("pytest-xdist") for req in dev)


def test_the_readme_and_getting_started_test_command_is_what_ci_runs() -> None:
    # ".ci/run runs exactly that test command": the install lines and the pytest line, in order (CI's pip is quiet)
    ci = [line for line in (REPO / ".ci/run").read_text().splitlines() if line and not line.startswith("#")]
    steps = [
        line.replace("pip install -q ", "pip install ") for line in ci if line.startswith(("pip install", "python -m pytest"))
    ]
    expected = " && ".join(steps)
    for page in ("README.md", "docs/getting-started.md"):
        commands = [line for line in (REPO / page).read_text().splitlines() if "python -m pytest" in line and "&&" in line]
        assert commands == [expected], f"{page}: {commands} is not .ci/run's {expected!r}"
