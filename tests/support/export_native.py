"""Helpers and fixtures that both halves of tests/test_export_native.py need: tests/unit/test_export_native.py and
tests/e2e/test_export_native_e2e.py."""

from __future__ import annotations

from edgelstm.loading import InputSignature, LoadedModel

CELLS = ["lstm", "gru", "peephole"]
HEADS = ["classify-last", "classify-mean", "forecast", "per_step", "lm"]


def _loaded(model) -> LoadedModel:
    return LoadedModel(model, "checkpoint", "test", InputSignature.from_config(model.config), model.config)
