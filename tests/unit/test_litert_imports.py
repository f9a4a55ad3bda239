"""Importing LiteRT's converter: its known import-time notices are dropped, anything else it prints is kept, and a
package that is installed but broken is named as such (not as a missing extra)."""

from __future__ import annotations

import logging
import os

import pytest

from edgelstm.artifact.litert_imports import QUIET_LOGGERS, import_failure, is_notice, quiet_import

# The lines importing litert-torch 0.10 printed on this machine (issue 20 follow-up), verbatim but for paths/times.
NOTICE_LINES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796560106.709143    1527 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders.",
    "Failed to load /v/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so: Could not load this library: x",
    "W1206 12:28:32.934000 1527 torch/utils/_pytree.py:630] <enum 'KernelPreference'> is an Enum subclass and is now "
    "natively supported by torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is "
    "deprecated and will be an error in a future release.",
]


def test_the_known_notices_are_dropped_and_anything_else_is_kept(capfd: pytest.CaptureFixture[str]) -> None:
    with quiet_import():
        for line in NOTICE_LINES:
            os.write(2, (line + "\n").encode())  # as the C++ library writes: straight to the descriptor
        os.write(2, b"E0000 port.cc:1] libLiteRTCompilerMLIR.so: undefined symbol: _ZN4absl\n")
        os.write(1, b"a line on stdout\n")
    err = capfd.readouterr().err
    assert "undefined symbol" in err and "a line on stdout" in err
    assert not any(marker in err for marker in ("InitializeLog", "oneDNN", "Failed to load", "register_constant"))


def test_the_import_time_loggers_are_turned_down_for_the_import_only(capfd: pytest.CaptureFixture[str]) -> None:
    logging.getLogger("torchao").setLevel(logging.INFO)
    with quiet_import():
        assert all(logging.getLogger(name).level == logging.ERROR for name in QUIET_LOGGERS)
    assert logging.getLogger("torchao").level == logging.INFO
    logging.getLogger("torchao").setLevel(logging.NOTSET)


@pytest.mark.parametrize("line", NOTICE_LINES)
def test_each_notice_is_recognised_and_an_error_is_not(line: str) -> None:
    assert is_notice(line)
    changed = line.replace("torchao", "mylib").replace("oneDNN", "XNNPACK").replace("STDERR", "a file")
    assert not is_notice(changed.replace("register_constant", "register_pytree_node"))


def test_a_missing_package_names_the_extra_and_a_broken_one_names_its_error() -> None:
    missing = import_failure("litert_torch", ModuleNotFoundError("no", name="litert_torch"), "needs the converter", "pip x")
    assert str(missing) == "needs the converter: pip x"
    dependency = import_failure("litert_torch", ModuleNotFoundError("No module named 'jax'", name="jax"), "needs it", "pip x")
    assert "litert_torch is installed and does not import (No module named 'jax')" in str(dependency)
    native = import_failure("ai_edge_litert", ImportError("libfoo.so: cannot open shared object file"), "needs it", "pip x")
    assert "does not import (libfoo.so: cannot open shared object file); reinstall: pip x" in str(native)
