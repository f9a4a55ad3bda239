"""Helpers and fixtures that both halves of tests/test_model_contract.py need: tests/unit/test_model_contract.py and
tests/e2e/test_model_contract_cli.py."""

from __future__ import annotations

MODEL_FLAGS = {
    "--weights",
    "--input-size",
    "--unsafe-allow-pickle",
    "--unsafe-allow-torchscript",
    "--const",
    "--state",
    "--chunk",
    "--context",
    "--axes",
}
