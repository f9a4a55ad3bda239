"""edgelstm's top-level names: each in `__all__` resolves lazily at run time (`__getattr__` imports its module on use) and is
imported under TYPE_CHECKING from the same module, so type checkers see what the name really is (pyright's
reportUnsupportedDunderAll stays at 0 warnings without turning the rule off)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import edgelstm

INIT = Path(edgelstm.__file__)


def _type_checking_imports() -> dict[str, str]:
    tree = ast.parse(INIT.read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module
                found.update({alias.name: stmt.module for alias in stmt.names})
    return found


def test_every_public_name_is_lazy_and_typed_from_the_same_module() -> None:
    lazy = edgelstm._LAZY
    assert set(edgelstm.__all__) == {*lazy, "__version__"}
    assert _type_checking_imports() == lazy
    for name, module in lazy.items():
        assert getattr(edgelstm, name) is getattr(importlib.import_module(module), name)
