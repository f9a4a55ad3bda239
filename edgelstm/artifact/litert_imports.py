"""Importing LiteRT's converter and quantizer without their import-time notices, and without hiding a real error.

Importing litert-torch prints, in every process: absl's "All log messages before absl::InitializeLog()" line and a
oneDNN notice, both from the converter's C++ library straight to file descriptor 2 (no environment variable turns
them off: TF_CPP_MIN_LOG_LEVEL, TF_ENABLE_ONEDNN_OPTS and GLOG_minloglevel were tried); torchao's "Failed to load
...so" for CUDA kernels a CPU install cannot load (its `torchao` logger); and torch's _pytree register_constant
deprecation (the `torch.utils._pytree` logger). The two loggers are turned down for the import only; descriptors
1 and 2 are captured for the import and every line that is not one of these known notices is written back to
stderr, so a real error printed while importing still shows.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

from edgelstm.errors import ConfigError, first_line

__all__ = ["NOTICES", "import_failure", "is_notice", "optional_module", "quiet_import"]

NOTICES = (
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"),
    re.compile(r"^I\d{4} .*\] oneDNN custom operations are on\. "),
    re.compile(r"^Failed to load \S*torchao\S*\.so: "),
    re.compile(r"^W\d{4} .*_pytree\.py:\d+\] .*register_constant\(\) on Enum subclasses is deprecated"),
)
QUIET_LOGGERS = ("torchao", "torch.utils._pytree")  # their import-time warnings are the notices above


def is_notice(line: str) -> bool:
    """Whether `line` is one of the known import-time notices (not an error)."""
    return any(pattern.search(line) for pattern in NOTICES)


@contextlib.contextmanager
def quiet_import() -> Iterator[None]:
    """Around an import of the converter or quantizer: its known notices dropped, anything else written to stderr."""
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    with tempfile.TemporaryFile() as sink:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            for logger in loggers:
                logger.setLevel(logging.ERROR)
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            lines = sink.read().decode("utf-8", errors="replace").splitlines()
            kept = [line for line in lines if line.strip() and not is_notice(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")


def import_failure(package: str, exc: ImportError, needed: str, extra: str) -> ConfigError:
    """The one line for an import that failed: `needed` and the extra to install when `package` is absent; the real
    error when it is installed but does not import (a missing dependency, a broken native library)."""
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] == package:
        return ConfigError(f"{needed}: {extra}")
    return ConfigError(f"{needed}, but {package} is installed and does not import ({first_line(exc)}); reinstall: {extra}")


def optional_module(module: str, needed: str, extra: str) -> Any:
    """`module` (from one of the LiteRT extras) imported without its import-time notices, or the one ConfigError line
    of `import_failure`: the one way edgelstm reaches the interpreter, the converter, the quantizer and the schema."""
    with quiet_import():
        try:
            return importlib.import_module(module)
        except ImportError as exc:
            raise import_failure(module.split(".")[0], exc, needed, extra) from None
