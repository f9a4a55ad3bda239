"""Helpers and fixtures that both halves of tests/test_windows.py need: tests/unit/test_windows.py and
tests/e2e/test_windows_cli.py."""

from __future__ import annotations

from pathlib import Path


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.write_text("\n".join(",".join(str(v) for v in row) for row in [header, *rows]) + "\n")
    return path
