"""`edgelstm --help` must stay instant: importing the CLI loads none of the heavy libraries. Commands keep their
library imports inside functions for this (each commented `# heavy (...)`); one hoisted to module level fails here."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "numpy", "onnx", "onnxruntime", "onnx_ir")


def test_importing_the_cli_loads_no_heavy_library() -> None:
    # A fresh interpreter: this process has torch and numpy loaded by other tests already.
    code = f"import sys, edgelstm.cli; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == [], f"`import edgelstm.cli` loads {loaded}: a command imports a heavy module at module level"
