"""Helpers and fixtures that both halves of tests/test_state_exposure.py need: tests/unit/test_state_exposure.py and
tests/e2e/test_state_exposure_cli.py."""

from __future__ import annotations

FEATURES, HIDDEN, CLASSES = 4, 8, 3
