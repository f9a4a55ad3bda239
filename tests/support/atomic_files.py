"""Helpers and fixtures that both halves of tests/test_atomic_files.py need: tests/unit/test_atomic_files.py and
tests/e2e/test_atomic_files_cli.py."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest


def _full_disk() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device")


def _fsync_fails_on(monkeypatch: pytest.MonkeyPatch, call: int) -> list[int]:
    """os.fsync raises ENOSPC on its `call`-th use (1: the sidecar's temp file, 2: the model's)."""
    calls: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == call:
            raise _full_disk()
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


def _torn_write_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Path.write_bytes writes half its data, then fails like a full disk."""

    def write_bytes(self: Path, data: bytes) -> int:
        with open(self, "wb") as handle:
            handle.write(data[: len(data) // 2])
        raise _full_disk()

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
