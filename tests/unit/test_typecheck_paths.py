"""pyright and mypy see edgelstm.export / edgelstm.quantize only through the links in .typecheck-paths/ (pyproject's
[tool.pyright] stubPath and [tool.mypy] mypy_path): the editable install maps them with an import hook neither can
run. A missing or stale link leaves pyright with unresolved imports and mypy with silently Any types."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the 3.10 backport
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]


def test_every_package_dir_mapping_has_its_link_for_the_type_checkers() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    mapping = project["tool"]["setuptools"]["package-dir"]
    assert mapping, "no package-dir mapping: .typecheck-paths/ would have nothing to do"
    for package, folder in mapping.items():
        link = REPO / ".typecheck-paths" / Path(*package.split("."))
        assert link.is_symlink(), f"{link} is missing: pyright/mypy cannot resolve {package}"
        assert link.resolve() == (REPO / folder).resolve(), f"{link} points at {link.resolve()}, not {folder}/"


def test_the_type_checkers_are_pointed_at_the_links() -> None:
    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]
    assert tool["pyright"]["stubPath"] == ".typecheck-paths"
    assert tool["mypy"]["mypy_path"] == ".typecheck-paths"
    checked = set(tool["mypy"]["files"])
    assert {".typecheck-paths/edgelstm/export", ".typecheck-paths/edgelstm/quantize"} <= checked
